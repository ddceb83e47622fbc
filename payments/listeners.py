"""Keep a payment cycle's record in step with its process instance, and audit each automatic step."""

from sqlalchemy import select

from engine import signals
from engine.db import utcnow

from .cycles import PROCESS_ID, start_reviews
from .models import CycleStatus, PaymentCycle

# The diagram's caseStatus values and the cycle status each one means.
STATUS_BY_MILESTONE = {
    "FROZEN": CycleStatus.FROZEN,
    "ENTITLED": CycleStatus.ENTITLED,
    "IN_PREPARATION": CycleStatus.ENTITLED,
    "AWAITING_APPROVAL": CycleStatus.ENTITLED,
    "APPROVED": CycleStatus.APPROVED,
    "AWAITING_DISPATCH": CycleStatus.APPROVED,
    "DISPATCHED": CycleStatus.DISPATCHED,
    "RECONCILED": CycleStatus.RECONCILED,
    "AWAITING_RETURN": CycleStatus.RECONCILED,
    "CLOSED": CycleStatus.CLOSED,
    "CANCELLED": CycleStatus.CANCELLED,
}


def _cycle(session, runtime):
    if runtime.instance.version.process_id != PROCESS_ID:
        return None
    return session.execute(
        select(PaymentCycle).where(PaymentCycle.instance_id == runtime.instance.id)
    ).scalar_one_or_none() or _by_data(session, runtime)


def _by_data(session, runtime):
    cycle_id = runtime.workflow.data.get("cycle_id") or runtime.current_data.get("cycle_id")
    return session.get(PaymentCycle, cycle_id) if cycle_id else None


def record_cycle_saved(engine, runtime):
    """Cycle status from the diagram's milestones; each automatic step and incident in the audit trail."""
    from cases.audit import record

    session = engine.session
    cycle = _cycle(session, runtime)
    if cycle is None:
        return
    for entry in runtime.journal:
        kind = entry["kind"]
        if kind == "milestone" and entry["status"] in STATUS_BY_MILESTONE:
            cycle.status = STATUS_BY_MILESTONE[entry["status"]]
        elif kind == "service":
            record(
                session,
                "system",
                f"cycle.{entry['operator'].split('.', 1)[-1]}",
                "payment_cycle",
                cycle.code,
                detail={"result": entry.get("result")},
            )
            if entry["operator"] == "cycle.follow_up":
                started = start_reviews(engine, cycle.id)
                record(
                    session, "system", "cycle.reviews_started", "payment_cycle", cycle.code, detail={"reviews": started}
                )
        elif kind == "incident":
            record(
                session,
                "system",
                "cycle.incident",
                "payment_cycle",
                cycle.code,
                detail={"step": entry.get("bpmn_id"), "error": str(entry.get("error"))[:300]},
            )
    if cycle.status in (CycleStatus.CLOSED, CycleStatus.CANCELLED) and cycle.closed_at is None:
        cycle.closed_at = utcnow()


def record_cycle_task(engine, row, actor, data):
    """Who prepared and who approved (the four eyes), kept with the cycle."""
    if row.bpmn_id not in ("prepare_cycle", "approve_cycle"):
        return
    cycle = engine.session.execute(
        select(PaymentCycle).where(PaymentCycle.instance_id == row.instance_id)
    ).scalar_one_or_none()
    if cycle is None:
        return
    if row.bpmn_id == "prepare_cycle":
        cycle.prepared_by = actor.id
    elif data.get("cycle_approval_decision") == "approve":
        cycle.approved_by, cycle.approved_at = actor.id, utcnow()


def connect():
    """Subscribe the cycle recorders to the engine's signals (idempotent)."""
    signals.instance_saved.connect(record_cycle_saved)
    signals.task_completed.connect(record_cycle_task)
