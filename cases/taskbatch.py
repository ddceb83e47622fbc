"""Many tasks at once: reassign or approve a supervisor's selection, each task on its own.

Each task of a batch is its own transaction: the engine checks it as if it were acted on alone
(role, district scope, four eyes), its success is audited by the engine's signals, and a refused
task is rolled back and reported (and audited by the caller) without stopping the others.

The officers a task may go to (`officers_for`) are the active officers holding the role of its
queue (the lane's role) whose districts include the task's; four eyes is checked when acting.
"""

from dataclasses import dataclass

from sqlalchemy import select

from engine.db import unit_of_work
from engine.errors import EngineError
from engine.humantasks import claim_task, complete_task, reassign_task, task_or_404
from engine.scope import in_scope

from .models import Officer
from .operations import actor_for

MAX_BATCH = 100
APPROVAL_FORM = "approval"


@dataclass(frozen=True)
class BatchResult:
    """What happened to one task of a batch: ok, or the refusal's code and error."""

    task_id: int
    business_key: str | None
    ok: bool
    code: str | None = None
    error: EngineError | None = None


def active_officers(session):
    """Every active officer, by username (a few hundred rows: filtered in Python)."""
    return list(session.execute(select(Officer).where(Officer.active.is_(True)).order_by(Officer.username)).scalars())


def may_take(officer, queue, region):
    """True if `officer` holds `queue`'s role and works `region` (None: every officer of the role)."""
    return queue in (officer.roles or []) and in_scope(actor_for(officer), region)


def officers_for(session, rows, officers=None):
    """Return {task id: [(username, name)]}: who may take each task (role of its queue, active, district)."""
    officers = active_officers(session) if officers is None else officers
    return {row.id: [(o.username, o.name) for o in officers if may_take(o, row.queue, row.region)] for row in rows}


def union_of(candidates):
    """The officers of `officers_for` who may take at least one task: [(username, name)] by username."""
    seen = {}
    for names in candidates.values():
        for username, name in names:
            seen.setdefault(username, name)
    return sorted(seen.items())


def _each(session, task_ids, act):
    results = []
    for task_id in list(dict.fromkeys(task_ids))[:MAX_BATCH]:
        try:
            key = task_or_404(session, task_id).business_key
        except EngineError as exc:
            session.rollback()
            results.append(BatchResult(task_id, None, False, exc.code, exc))
            continue
        try:
            with unit_of_work(session):  # one unit per task: a refused task does not undo the others
                act(task_id)
            results.append(BatchResult(task_id, key, True))
        except EngineError as exc:
            results.append(BatchResult(task_id, key, False, exc.code, exc))
    return results


def reassign_many(engine, task_ids, actor, target_officer):
    """Give each task to `target_officer` (an Officer), one transaction each; return [BatchResult]."""
    target = actor_for(target_officer)
    return _each(engine.session, task_ids, lambda task_id: reassign_task(engine, task_id, actor, target))


class NotAnApproval(EngineError):
    code = "NOT_AN_APPROVAL"


def approve_many(engine, task_ids, actor):
    """Claim (if open) and approve each approval task as `actor`, one transaction each; return [BatchResult]."""

    def approve(task_id):
        row = task_or_404(engine.session, task_id)
        if row.form_name != APPROVAL_FORM:
            raise NotAnApproval(f"task {task_id} is not an approval", task=task_id)
        claim_task(engine, task_id, actor)
        complete_task(engine, task_id, actor, {"approval_decision": "approve"})

    return _each(engine.session, task_ids, approve)
