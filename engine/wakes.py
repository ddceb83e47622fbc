"""What is due, and what happens when waking an instance fails.

One place for whoever runs the wakes (the in-process scheduler job, `tepat timers fire`, or a
worker queue later): `due_instances` is the only query of what is due; `record_wake_failure` is
the only policy for a wake that raised. A wake that raises (a state that no longer loads, a bug
outside a task, a database error) is not a task incident: SpiffWorkflow never got to a task. Left
alone, the instance stays due and is taken again on every run, first in line, forever. Instead
its wake is pushed back with exponential backoff, and after a bound it becomes an incident and
is not woken again until an administrator retries it. Like the rest of the engine, nothing here
commits.
"""

from datetime import timedelta

from sqlalchemy import and_, or_, select, update

from .db import utcnow
from .models import Incident, ProcessInstance

WAKE_BPMN_ID = "(wake)"  # incidents of a failed wake name no task: task_guid is ""
WAKE_OPERATOR = "engine.wake"
WAKEABLE = ("waiting", "running")


def due_instances(session, now, limit, after=None):
    """Return [(id, wake_at)] of the instances due at `now`, earliest due first.

    `after` is the (wake_at, id) of the last instance a run has handled: the next batch starts
    behind it, so one run walks the due instances once however they fail. A failed wake is pushed
    past `now`, so it leaves the due set and cannot hold a place in front of the others.
    """
    query = select(ProcessInstance.id, ProcessInstance.wake_at).where(
        ProcessInstance.wake_at <= now, ProcessInstance.status.in_(WAKEABLE)
    )
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(ProcessInstance.wake_at > at, and_(ProcessInstance.wake_at == at, ProcessInstance.id > last_id))
        )
    query = query.order_by(ProcessInstance.wake_at, ProcessInstance.id).limit(limit)
    return [(row.id, row.wake_at) for row in session.execute(query)]


def wake_backoff_seconds(settings, failures):
    """Seconds until the next try after `failures` failed wakes in a row (doubling, capped)."""
    base = float(settings.get("BANSOS_WAKE_BACKOFF_SECONDS", 60))
    cap = float(settings.get("BANSOS_WAKE_BACKOFF_MAX_SECONDS", 6 * 3600))
    return min(base * 2 ** max(failures - 1, 0), cap)


def _lock(session, instance_id, **values):
    """Lock an instance row (as Engine.open does) while setting `values`; return it or None."""
    result = session.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == instance_id)
        .values(lock_version=ProcessInstance.lock_version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    return session.execute(
        select(ProcessInstance).where(ProcessInstance.id == instance_id).execution_options(populate_existing=True)
    ).scalar_one()


def record_wake_failure(session, settings, instance_id, error, now=None):
    """Count a failed wake of an instance (the caller rolled the wake back) and act on it.

    Returns "backoff" (the wake is pushed back), "incident" (the bound is reached: an incident is
    open and the instance is not woken again until it is retried) or None (the instance is gone
    or finished meanwhile).
    """
    now = now or utcnow()
    instance = _lock(session, instance_id, wake_failures=ProcessInstance.wake_failures + 1)
    if instance is None or instance.status not in WAKEABLE:
        return None
    failures = instance.wake_failures
    text = f"{type(error).__name__}: {error}"
    if failures < int(settings.get("BANSOS_WAKE_MAX_FAILURES", 5)):
        instance.wake_at = now + timedelta(seconds=wake_backoff_seconds(settings, failures))
        session.flush()
        return "backoff"
    instance.wake_at = None  # parked: due_instances no longer sees it
    already = session.execute(
        select(Incident.id).where(
            Incident.instance_id == instance_id, Incident.task_guid == "", Incident.status == "open"
        )
    ).first()
    if already is None:
        session.add(
            Incident(
                instance_id=instance_id,
                business_key=instance.business_key,
                task_guid="",
                bpmn_id=WAKE_BPMN_ID,
                operator=WAKE_OPERATOR,
                attempts=failures,
                error=f"Waking the instance failed {failures} time{'s' if failures != 1 else ''} "
                f"in a row. Last error: {text}"[:4000],
            )
        )
    session.flush()
    return "incident"


def is_wake_incident(incident):
    """Tell whether an incident is a failed wake (no task to retry or skip)."""
    return incident.task_guid == ""


def reschedule_wake(session, instance_id, now=None):
    """Make a parked instance due now with a fresh failure count (retrying a wake incident)."""
    now = now or utcnow()
    return _lock(session, instance_id, wake_failures=0, wake_at=now)
