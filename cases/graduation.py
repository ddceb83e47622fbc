"""Graduation (graduasi): a family leaves the programme self-sufficient.

Voluntary (graduasi mandiri): the family declares it, with a confirmation, in the portal or through its
facilitator; the enrolment ends at once. By criteria: the last N re-checks of the family (Recheck rows,
newest first) all found a DTSEN decile and a household wage at or over the configured thresholds
(BANSOS_GRADUATION); a caseworker confirms. Both run processes/graduation.bpmn, which sends the notice and a
thank-you letter and ends the enrolment (status GRADUATED; cases/listeners.py) so that the next payment
cycle leaves the family out. Every start is written to the audit log and the case timeline.
"""

from sqlalchemy import func, select

from engine.scope import require_in_scope, scoped

from .audit import record
from .models import Application, Recheck
from .operations import CaseError, add_event, case_or_404
from .statuses import CaseStatus

KINDS = ("voluntary", "criteria")


class GraduationNotAllowed(CaseError):
    code = "GRADUATION_NOT_ALLOWED"


def _facts(explanation):
    """{fact: value} over a re-check's explanation entries."""
    facts = {}
    for entry in explanation or []:
        facts.update(entry.get("facts") or {})
    return facts


def meets_criteria(rechecks, thresholds):
    """True if the newest `consecutive_checks` re-checks (newest first) were all over both thresholds."""
    needed = int(thresholds["consecutive_checks"])
    recent = list(rechecks)[:needed]
    if needed < 1 or len(recent) < needed:
        return False
    for recheck in recent:
        facts = _facts(recheck.explanation)
        decile, wage = facts.get("decile"), facts.get("max_wage")
        if decile is None or wage is None:
            return False
        if int(decile) < int(thresholds["min_decile"]) or int(wage) < int(thresholds["min_monthly_income"]):
            return False
    return True


def criteria_candidates(session, actor, thresholds):
    """Case numbers of enrolled families (in `actor`'s districts) meeting the graduation criteria.

    One query: each enrolled family's newest `consecutive_checks` re-checks (a window function, on SQLite
    and PostgreSQL alike), grouped here.
    """
    needed = int(thresholds["consecutive_checks"])
    if needed < 1:
        return []
    rank = (
        func.row_number()
        .over(partition_by=Recheck.application_id, order_by=(Recheck.checked_at.desc(), Recheck.id.desc()))
        .label("rank")
    )
    inner = scoped(
        select(Application.case_number, Recheck.application_id, Recheck.explanation, rank)
        .join(Application, Application.id == Recheck.application_id)
        .where(Application.status == CaseStatus.ENROLLED),
        Application.district_code,
        actor,
    ).subquery()
    rows = session.execute(
        select(inner.c.case_number, inner.c.explanation)
        .where(inner.c.rank <= needed)
        .order_by(inner.c.case_number, inner.c.rank)
    ).all()
    found, by_case = [], {}
    for number, explanation in rows:
        by_case.setdefault(number, []).append(_Check(explanation))
    for number, checks in by_case.items():
        if meets_criteria(checks, thresholds):
            found.append(number)
    return found


class _Check:
    """A re-check as meets_criteria reads it (its explanation only)."""

    __slots__ = ("explanation",)

    def __init__(self, explanation):
        self.explanation = explanation


def start_graduation(engine, case_number, kind, actor, declared_by, ip=None, user_agent=None):
    """Start the graduation process of an enrolled family; return the instance.

    `actor`: the engine Actor of the officer or facilitator, or the string "applicant:<NIK>" for the family
    itself in the portal (district scope checked for actors). `declared_by`: "family", "facilitator",
    "officer" or "criteria". A criteria graduation is refused unless the family meets the criteria now.
    """
    session = engine.session
    if kind not in KINDS:
        raise GraduationNotAllowed(f"unknown graduation kind {kind!r}", kind=kind)
    app = case_or_404(session, case_number)
    if not isinstance(actor, str):
        require_in_scope(actor, app.district_code, "case", case_number)
    if app.status != CaseStatus.ENROLLED:
        raise GraduationNotAllowed(f"case {case_number} is {app.status}, not enrolled", status=app.status)
    if engine.instance_for_key(case_number) is not None:
        raise GraduationNotAllowed(f"case {case_number} already has a process running")
    if kind == "criteria":
        thresholds = engine.settings["BANSOS_GRADUATION"]
        rows = (
            session.execute(
                select(Recheck)
                .where(Recheck.application_id == app.id)
                .order_by(Recheck.checked_at.desc(), Recheck.id.desc())
                .limit(int(thresholds["consecutive_checks"]))
            )
            .scalars()
            .all()
        )
        if not meets_criteria(rows, thresholds):
            raise GraduationNotAllowed(
                f"case {case_number} does not meet the graduation criteria", thresholds=dict(thresholds)
            )
    who = actor if isinstance(actor, str) else actor.id
    data = {
        "nik": app.nik,
        "case_number": case_number,
        "graduation_kind": kind,
        "declared_by": declared_by,
        "applicant_name": app.applicant_name or "",
    }
    add_event(
        session,
        app,
        "graduation_started",
        f"Graduation started ({kind}, declared by {declared_by})",
        actor=who,
        detail={"kind": kind, "declared_by": declared_by},
    )
    instance = engine.start("graduation", case_number, data, region=app.district_code)
    record(
        session,
        actor,
        "graduation.start",
        "case",
        case_number,
        ip=ip,
        user_agent=user_agent,
        detail={"kind": kind, "declared_by": declared_by},
    )
    return instance
