"""Work on background workers: the database says what is due, queue messages are only hints.

With BANSOS_EXECUTION = "celery" a request or command does not run engine steps itself: it saves
the instance with `wake_at` = now (the work it needs is in the database) and, once its transaction
has committed, sends a hint "look at instance N" to the queue. A worker takes the hint, locks the
instance row WITHOUT waiting (another worker holding it is already advancing it), runs it and
commits once. A hint that is lost is sent again by the dispatcher (whatever is due and not yet
done is re-sent); a hint delivered twice finds nothing due and does nothing.

Nothing here commits; the hints leave after the caller's commit and are forgotten on rollback.
"""

import logging

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from .db import utcnow
from .models import ProcessInstance
from .wakes import WAKEABLE

log = logging.getLogger(__name__)

_HINTS = "tepat_hints"


def hint_after_commit(session, sender, instance_id):
    """Send a hint for `instance_id` through `sender(ids)` once the session's transaction commits."""
    if sender is None:  # no queue configured (a test engine, a worker): the dispatcher finds it
        return
    session.info.setdefault(_HINTS, {}).setdefault(sender, set()).add(instance_id)


@event.listens_for(Session, "after_commit")
def _send_hints(session):
    pending = session.info.pop(_HINTS, None)
    for sender, ids in (pending or {}).items():
        try:
            sender(sorted(ids))
        except Exception:  # the broker is down: the work is in the database, the dispatcher re-sends
            log.warning("could not send %d work hints; the dispatcher will", len(ids), exc_info=True)


@event.listens_for(Session, "after_rollback")
def _drop_hints(session):
    session.info.pop(_HINTS, None)


def claim_due(session, instance_id, now):
    """Lock the instance row if it is due and nobody holds it; return True if we hold it now.

    PostgreSQL: `FOR UPDATE SKIP LOCKED`: a worker that finds the row locked moves on at once (the
    holder is advancing it, or will send its own hint after its commit). SQLite has no row locks
    and runs the embedded mode in one process: the plain query decides.
    """
    query = select(ProcessInstance.id).where(
        ProcessInstance.id == instance_id, ProcessInstance.wake_at <= now, ProcessInstance.status.in_(WAKEABLE)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.execute(query).first() is not None


def steps_pending(engine, business_key, now=None):
    """Tell whether the work's next engine steps are left to the workers and not done yet.

    True only with workers (`engine.defer_steps`): the newest unfinished instance of
    `business_key` is due now (a submit, a completed task or a message saved it with `wake_at`
    = now and a worker has not taken it yet). Pages and commands follow it until it turns False.
    """
    if not engine.defer_steps:
        return False
    instance = engine.instance_for_key(business_key)
    moment = now or utcnow()
    return (
        instance is not None
        and instance.status in WAKEABLE
        and instance.wake_at is not None
        and instance.wake_at <= moment
    )


def count_due(session, now):
    """How many instances are due at `now` (all of them, not one batch)."""
    return session.scalar(
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.wake_at <= now, ProcessInstance.status.in_(WAKEABLE))
    )


def hints_missing(total_due, queued):
    """How many of the due instances may lack a hint, given how many hints wait in the queue.

    Workers take hints in the order they were sent, and a request sends its hint when it makes its
    instance due, so the hints waiting belong to the most recently due instances: only the
    `total_due - queued` earliest-due can lack one (a hint lost, a timer or retry come due that
    nobody hinted). Without this, every instance that waits in a backlog longer than the resend
    interval would be hinted again and again (measured with bench/scale.py: 436 hints that found
    nothing to do for 300 applications and one worker), growing the queue with the backlog. A
    timer come due behind a backlog is hinted once the backlog has drained below it: no later than
    a hint sent at once would have been taken. `queued` None (the broker does not say): all of them.
    """
    if queued is None:
        return total_due
    return max(0, total_due - queued)
