"""The human decisions taken on a case (reviews, approvals, appeal and removal reviews), for officers:
who, when, what, with which reasons, the internal notes and the message to the applicant.

Only officers read these (case page, `tepat case show`, the API); the applicant's view is built from
reason codes and messages alone (cases/portal/casefile.py).
"""

from dataclasses import dataclass, field

from sqlalchemy import select

from engine.models import HumanTask
from forms.tasks import DECISION_FIELDS

from .models import Appeal, Officer


@dataclass
class Decision:
    task_name: str
    form_name: str
    officer: str
    officer_name: str
    officer_roles: list
    at: object
    decision: str | None
    reason_codes: list = field(default_factory=list)
    notes: str = ""
    message: str = ""


def reason_codes_of(data, codes_field):
    """The reason codes a completed form gave (a list; older tasks carried one `*_reason_code`)."""
    if codes_field is None:
        return []
    codes = data.get(codes_field)
    if codes is None:
        single = data.get(codes_field[:-1])  # review_reason_codes -> review_reason_code
        codes = [single] if single else []
    return [c for c in codes if c]


def human_decisions(session, case_number):
    """Every completed decision task of the case, oldest first."""
    rows = (
        session.execute(
            select(HumanTask)
            .where(
                HumanTask.business_key == case_number,
                HumanTask.status == "completed",
                HumanTask.form_name.in_(tuple(DECISION_FIELDS)),
            )
            .order_by(HumanTask.completed_at, HumanTask.id)
        )
        .scalars()
        .all()
    )
    usernames = sorted({r.completed_by for r in rows if r.completed_by})
    names = {o.username: o for o in session.execute(select(Officer).where(Officer.username.in_(usernames))).scalars()}
    decisions = []
    for row in rows:
        decision_field, codes_field, message_field, notes_field = DECISION_FIELDS[row.form_name]
        data = row.data or {}
        officer = names.get(row.completed_by)
        decisions.append(
            Decision(
                task_name=row.name or row.bpmn_id,
                form_name=row.form_name,
                officer=row.completed_by or "",
                officer_name=officer.name if officer else "",
                officer_roles=list(officer.roles) if officer else [],
                at=row.completed_at,
                decision=data.get(decision_field),
                reason_codes=reason_codes_of(data, codes_field),
                notes=data.get(notes_field) or "",
                message=data.get(message_field) or "",
            )
        )
    return decisions


def latest_appeal(session, app):
    """The case's most recent appeal, or None."""
    return session.execute(
        select(Appeal).where(Appeal.application_id == app.id).order_by(Appeal.id.desc()).limit(1)
    ).scalar_one_or_none()
