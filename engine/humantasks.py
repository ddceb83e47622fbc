"""Claim, unclaim, reassign and complete human tasks; the queries behind the inbox."""

from marshmallow import ValidationError
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, union_all

from . import signals
from .db import utcnow
from .errors import (
    FormInvalid,
    FourEyesViolation,
    NotAllowed,
    TaskAlreadyClaimed,
    TaskNotClaimed,
    TaskNotFound,
    TaskNotReady,
)
from .models import HumanTask
from .queuecounts import open_counts
from .scope import require_in_scope, scoped

SUPERVISOR_ROLES = {"supervisor", "administrator"}


def task_or_404(session, task_id):
    """Return the human task row or raise TaskNotFound."""
    row = session.get(HumanTask, task_id)
    if row is None:
        raise TaskNotFound(f"task {task_id} does not exist")
    return row


def check_may_work(session, row, actor):
    """Raise unless `actor` may work this task: role, region, four eyes."""
    if row.queue not in actor.roles:
        raise NotAllowed(f"task {row.id} is for role {row.queue!r}", task=row.id)
    require_in_scope(actor, row.region, "task", row.id)
    if row.excluded_after:
        earlier = session.execute(
            select(HumanTask.bpmn_id)
            .where(
                HumanTask.instance_id == row.instance_id,
                HumanTask.bpmn_id.in_(row.excluded_after),
                HumanTask.status == "completed",
                HumanTask.completed_by == actor.id,
            )
            .limit(1)
        ).scalar_one_or_none()
        if earlier is not None:
            raise FourEyesViolation(
                f"you completed {earlier!r} on this case, so another officer must take this task",
                task=row.id,
                earlier=earlier,
            )


def _locked(engine, task_id):
    """Lock the task's instance (serializing with every other action on it) and re-read the row."""
    row = task_or_404(engine.session, task_id)
    runtime = engine.open(row.instance_id)
    engine.session.refresh(row)
    return row, runtime


def claim_task(engine, task_id, actor):
    """Assign an open task to `actor`."""
    row, runtime = _locked(engine, task_id)
    if row.status == "claimed":
        if row.assignee == actor.id:
            return row
        raise TaskAlreadyClaimed(f"task {row.id} is already claimed by {row.assignee}", assignee=row.assignee)
    if row.status != "open":
        raise TaskNotReady(f"task {row.id} is {row.status}", status=row.status)
    check_may_work(engine.session, row, actor)
    row.status, row.assignee, row.claimed_at = "claimed", actor.id, utcnow()
    engine.session.flush()
    signals.task_assigned.send(engine, row=row, actor=actor, action="claim", target=actor.id, runtime=runtime)
    return row


def unclaim_task(engine, task_id, actor):
    """Put a claimed task back in its queue (its holder or a supervisor)."""
    row, runtime = _locked(engine, task_id)
    if row.status != "claimed":
        raise TaskNotClaimed(f"task {row.id} is not claimed")
    if row.assignee != actor.id:  # releasing another's claim: a supervisor of the task's district
        if not (actor.roles & SUPERVISOR_ROLES):
            raise NotAllowed(f"task {row.id} is held by {row.assignee}")
        require_in_scope(actor, row.region, "task", row.id)
    row.status, row.assignee, row.claimed_at = "open", None, None
    engine.session.flush()
    signals.task_assigned.send(engine, row=row, actor=actor, action="unclaim", target=None, runtime=runtime)
    return row


def reassign_task(engine, task_id, actor, target):
    """Give a task to another officer (supervisors only); `target` is an Actor."""
    if not (actor.roles & SUPERVISOR_ROLES):
        raise NotAllowed("only a supervisor may reassign tasks")
    row, runtime = _locked(engine, task_id)
    require_in_scope(actor, row.region, "task", row.id)
    if row.status not in ("open", "claimed"):
        raise TaskNotReady(f"task {row.id} is {row.status}", status=row.status)
    check_may_work(engine.session, row, target)
    row.status, row.assignee, row.claimed_at = "claimed", target.id, utcnow()
    engine.session.flush()
    signals.task_assigned.send(engine, row=row, actor=actor, action="reassign", target=target.id, runtime=runtime)
    return row


def validate_form(forms, form_name, data):
    """Load form data through its marshmallow schema; raise FormInvalid with field errors."""
    schema_cls = forms.get(form_name)
    if schema_cls is None:
        raise FormInvalid(f"form {form_name!r} does not exist", {"_schema": ["unknown form"]})
    try:
        return schema_cls().load(data or {})
    except ValidationError as exc:
        raise FormInvalid("the form has errors", exc.messages) from exc


def claim_stamp(row):
    """The claim a form was rendered under; a form sent under another claim is stale."""
    return row.claimed_at.isoformat() if row.claimed_at is not None else ""


def complete_task(engine, task_id, actor, data, expected_claim=None):
    """Complete a claimed task with validated form data and run the instance on.

    `expected_claim` (from `claim_stamp` when the form was shown) refuses a form that outlived its
    claim: the task was released, reassigned or claimed again since.
    """
    row, runtime = _locked(engine, task_id)
    if (
        expected_claim is not None
        and row.status == "claimed"
        and row.assignee == actor.id
        and expected_claim != claim_stamp(row)
    ):
        raise TaskNotReady("this form is out of date: the task was released or reassigned since", status=row.status)
    if row.status in ("completed", "cancelled"):
        raise TaskNotReady(f"task {row.id} is already {row.status}", status=row.status)
    if row.status != "claimed":
        raise TaskNotClaimed(f"claim task {row.id} before completing it")
    if row.assignee != actor.id:
        raise TaskAlreadyClaimed(f"task {row.id} is held by {row.assignee}", assignee=row.assignee)
    check_may_work(engine.session, row, actor)
    values = validate_form(engine.forms, row.form_name, data)
    task = runtime.get_task(row.task_guid)
    if task is None or not task.has_state(TaskState.READY):
        raise TaskNotReady(f"task {row.id} is no longer ready")
    task.set_data(**values, **{f"{row.bpmn_id}_by": actor.id})
    task.run()
    now = utcnow()
    row.status, row.completed_at, row.completed_by, row.data = "completed", now, actor.id, values
    runtime.completed_by_us.add(row.task_guid)
    runtime.journal.add("task_completed", bpmn_id=row.bpmn_id, name=row.name, actor=actor.id, data=values)
    runtime.run()
    runtime.save()
    signals.task_completed.send(engine, row=row, actor=actor, data=values)
    return row


def queue_counts(session, actor):
    """Return {(queue, region): open count} for the queues `actor` may work (from open_task_counts)."""
    return open_counts(session, actor.roles, actor.regions)


# Most urgent first: tasks with a due date before those without, earliest due, highest priority.
def _urgency(due_at, priority, id_):
    return (due_at.is_(None), due_at, priority.desc(), id_)


def list_tasks(session, actor, status=("open", "claimed"), mine=False, limit=50, offset=0):
    """Return the tasks `actor` may see, most urgent first.

    An IN list on status or queue keeps the database from reading an index in urgency order, so it
    would sort every matching row for each page. Instead, each (status, queue, has a due date) part
    reads its first `offset + limit` candidates (id and sort keys only) from ix_human_tasks_inbox in
    due order, with the district checked in the index (only ties on due_at need sorting); the page
    is cut from those few candidates and only its rows are loaded. "Mine" lists are small (the
    assignee index), so they are sorted directly.
    """
    roles = sorted(actor.roles)
    if mine:
        query = select(HumanTask).where(
            HumanTask.status.in_(status), HumanTask.queue.in_(roles), HumanTask.assignee == actor.id
        )
        query = scoped(query, HumanTask.region, actor)
        query = query.order_by(*_urgency(HumanTask.due_at, HumanTask.priority, HumanTask.id))
        return list(session.execute(query.limit(limit).offset(offset)).scalars())
    offset = offset or 0
    arms = []
    for state in dict.fromkeys(status):
        for queue in roles:
            for due in (HumanTask.due_at.is_not(None), HumanTask.due_at.is_(None)):
                arm = select(HumanTask.id, HumanTask.due_at, HumanTask.priority).where(
                    HumanTask.status == state, HumanTask.queue == queue, due
                )
                arm = scoped(arm, HumanTask.region, actor)
                arms.append(arm.order_by(HumanTask.due_at, HumanTask.priority.desc(), HumanTask.id))
    if not arms:
        return []
    bound = None if limit is None else offset + limit
    candidates = union_all(*(select(arm.limit(bound).subquery()) for arm in arms)).subquery()
    page = (
        select(candidates)
        .order_by(*_urgency(candidates.c.due_at, candidates.c.priority, candidates.c.id))
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    query = (
        select(HumanTask)
        .join(page, HumanTask.id == page.c.id)
        .order_by(*_urgency(page.c.due_at, page.c.priority, page.c.id))
    )
    return list(session.execute(query).scalars())
