"""What an applicant may read about their own cases: the cases, a plain timeline, appeals and their
outcomes, the appeal deadline."""

from datetime import timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select

from engine.models import HumanTask

from ..models import Appeal, Application, CaseEvent
from ..operations import CaseNotFound, case_or_404
from ..statuses import CaseStatus

# Timeline lines an applicant sees (the checks themselves are officers' detail).
APPLICANT_EVENT_KINDS = ("submitted", "milestone", "appeal_filed", "recheck", "reinstated")


class NotYourCase(CaseNotFound):
    """The case exists but belongs to someone else (shown as not found)."""


def cases_of(session, nik):
    """Return every case of this NIK, newest first."""
    return (
        session.execute(
            select(Application)
            .where(Application.nik == nik)
            .order_by(Application.created_at.desc(), Application.id.desc())
        )
        .scalars()
        .all()
    )


def case_of_applicant(session, case_number, nik):
    """Return the case if it is this NIK's; raise CaseNotFound (or NotYourCase) otherwise."""
    app = case_or_404(session, case_number)
    if app.nik != nik:
        raise NotYourCase(f"case {case_number} is not the applicant's")
    return app


def applicant_timeline(session, app):
    """Return the case's timeline lines an applicant sees, oldest first."""
    return (
        session.execute(
            select(CaseEvent)
            .where(CaseEvent.application_id == app.id, CaseEvent.kind.in_(APPLICANT_EVENT_KINDS))
            .order_by(CaseEvent.at, CaseEvent.id)
        )
        .scalars()
        .all()
    )


def appeal_deadline(session, app, window):
    """Return when the appeal window of a rejection (or of an exit, for a REMOVED case) closes (aware UTC),
    or None if never rejected (removed).

    The window (ISO 8601 duration, BANSOS_APPEAL_WINDOW) starts when the case became REJECTED, the
    moment the process's timer starts too.
    """
    # An exit after a re-check (REMOVED) opens its own window when the exit takes effect.
    started_by = CaseStatus.REMOVED.value if app.status == CaseStatus.REMOVED else CaseStatus.REJECTED.value
    rejected = next((at for at, status in status_changes(session, app) if status == started_by), None)
    if rejected is None:
        return None
    return rejected + _duration(window, rejected)


def status_changes(session, app):
    """[(when, status)] of the case's status milestones, newest first, read from the event's structured
    detail (the status the diagram set), never from its display text."""
    rows = session.execute(
        select(CaseEvent.at, CaseEvent.detail, CaseEvent.summary)
        .where(CaseEvent.application_id == app.id, CaseEvent.kind == "milestone")
        .order_by(CaseEvent.at.desc(), CaseEvent.id.desc())
    ).all()
    # Rows written before milestones kept their detail (none in a database set up since) fall back to the code
    # in their summary, which was always "Status <CODE>".
    return [(at, (detail or {}).get("status") or summary.removeprefix("Status ")) for at, detail, summary in rows]


def _duration(window, start):
    parsed = TimerEventDefinition.parse_iso_duration(window)
    return TimerEventDefinition.get_timedelta_from_start(parsed, start) if parsed else timedelta(days=30)


def appeals_of(session, app):
    """Return the case's appeals with what the reviewing officer wrote *for the applicant*:
    [(Appeal, {"reason_codes": [...], "message": str} or None)]. The officer's internal notes are
    never part of it."""
    appeals = session.execute(select(Appeal).where(Appeal.application_id == app.id).order_by(Appeal.id)).scalars().all()
    reviews = (
        session.execute(
            select(HumanTask.data)
            .where(
                HumanTask.business_key == app.case_number,
                HumanTask.bpmn_id == "appeal_review",
                HumanTask.status == "completed",
            )
            .order_by(HumanTask.completed_at, HumanTask.id)
        )
        .scalars()
        .all()
    )
    replies = [
        {
            "reason_codes": list((data or {}).get("appeal_reason_codes") or []),
            "message": (data or {}).get("appeal_message") or "",
        }
        for data in reviews
    ]
    decided = [a for a in appeals if a.outcome]
    by_appeal = {a.id: replies[i] if i < len(replies) else None for i, a in enumerate(decided)}
    return [(a, by_appeal.get(a.id)) for a in appeals]


def cases_registered_by(session, facilitator, limit=200):
    """Return the cases a facilitator registered, newest first."""
    return (
        session.execute(
            select(Application)
            .where(Application.facilitator == facilitator, Application.channel == "facilitator")
            .order_by(Application.created_at.desc(), Application.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )
