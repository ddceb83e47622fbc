"""The applicant's own cases: home, the case page (status, timeline, decision and reasons, benefits,
what to do next) and the portal messages."""

from flask import abort, current_app, render_template, request
from flask_babel import get_locale

from cases.audit import record
from cases.operations import CaseNotFound
from cases.portal.casefile import (
    NotYourCase,
    appeal_deadline,
    appeals_of,
    applicant_timeline,
    case_of_applicant,
    cases_of,
)
from cases.portal.drafts import draft_of
from cases.portal.files import files_of_case
from cases.portal.notices import portal_notices
from cases.statuses import BEING_REVIEWED, CaseStatus
from engine.db import db, unit_of_work, utcnow
from forms.reason_codes import applicant_reason_texts
from integrations.base import TransientIntegrationError
from payments.queries import expected_first_payments, payments_of_application

from .. import services
from . import bp
from .session import applicant_required, current_applicant
from .texts import (
    APPEAL_OUTCOMES,
    BENEFIT_PARTS,
    EVENT_TEXTS,
    NOTICE_PARAMS,
    NOTICE_TEXTS,
    OUTCOME_TEXTS,
    PAYMENT_STATUS_TEXTS,
    STATUS_TEXTS,
)


def _audit(action, case_number=None, **detail):
    applicant = current_applicant()
    record(
        db.session,
        applicant.audit_actor,
        action,
        target_type="case" if case_number else "applicant",
        target_id=case_number or applicant.nik,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


def own_case_or_404(case_number):
    """Return the signed-in applicant's case, else 404 (another's case is audited, never confirmed)."""
    try:
        return case_of_applicant(db.session, case_number, current_applicant().nik)
    except NotYourCase:
        with unit_of_work(db.session):
            _audit("case.view_refused", case_number)
        abort(404)
    except CaseNotFound:
        abort(404)


def notices_for(nik, limit=None):
    """The applicant's portal messages as (time, text), newest first."""
    try:
        found = portal_notices(services().integrations.notifier, nik)
    except TransientIntegrationError:
        return None
    texts = []
    for message in found[:limit]:
        params = message["params"] or {}
        # A notice that names a stage has its own wording where there is one (decision_enrolled+cycle).
        template = (params.get("cycle") and NOTICE_TEXTS.get(f"{message['template']}+cycle")) or NOTICE_TEXTS.get(
            message["template"]
        )
        if template is not None:
            texts.append((message["sent_at"], str(template) % {key: str(params.get(key, "")) for key in NOTICE_PARAMS}))
    return texts


def appeal_window(app):
    """Return (deadline or None, open now?) for the case's appeal."""
    deadline = appeal_deadline(db.session, app, current_app.config["BANSOS_APPEAL_WINDOW"])
    open_now = deadline is not None and utcnow() <= deadline
    if app.status == CaseStatus.REMOVED:
        # An exit is appealable while its re-check waits in the appeal window (not after a judged appeal).
        instance = services().engine.instance_for_key(app.case_number)
        return deadline, open_now and instance is not None and instance.version.process_id == "recheck"
    return deadline, app.status == CaseStatus.REJECTED and open_now


def _commitments(app, locale):
    """The family's PKH commitments per member and component (compliant / warning / suspended), explained."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from payments.commitments import portal_status
    from payments.schedule import ScheduleInvalid, load_schedule

    if app.status != CaseStatus.ENROLLED:
        return []
    try:
        rule = load_schedule(current_app.config["BANSOS_PROCESS_DIR"]).commitments
    except ScheduleInvalid:
        return []
    return portal_status(
        db.session, rule, app.id, datetime.now(ZoneInfo("Asia/Jakarta")).date(), english=locale != "id"
    )


@bp.get("/home")
@applicant_required
def home():
    """Where a signed-in applicant starts: their cases, a draft to continue, their latest messages."""
    applicant = current_applicant()
    cases = cases_of(db.session, applicant.nik)
    draft = draft_of(db.session, applicant.nik)
    return render_template(
        "portal/home.html",
        applicant=applicant,
        cases=cases,
        draft=draft,
        open_case=next((c for c in cases if c.active_nik), None),
        notices=notices_for(applicant.nik, 3),
        status_texts=STATUS_TEXTS,
    )


@bp.get("/messages")
@applicant_required
def messages():
    """Every portal message sent to the applicant."""
    return render_template("portal/messages.html", notices=notices_for(current_applicant().nik))


# While officers check a case, the criteria they must verify explain the wait; once decided, "could
# not decide" is no reason for the decision and is not listed among its reasons.


@bp.get("/cases/<case_number>")
@applicant_required
def case(case_number):
    """The applicant's case in plain language (each view audited)."""
    app = own_case_or_404(case_number)
    deadline, can_appeal = appeal_window(app)
    locale = str(get_locale() or "id")
    explanation = app.explanation or []
    page = render_template(
        "portal/case.html",
        app=app,
        status_text=STATUS_TEXTS.get(app.status, (app.status, "")),
        events=applicant_timeline(db.session, app),
        event_texts=EVENT_TEXTS,
        status_texts=STATUS_TEXTS,
        reasons=applicant_reason_texts(app.reasons, locale),
        message=app.applicant_message,
        failed=[
            e
            for e in explanation
            if e.get("outcome") == "fail" or (e.get("outcome") == "review" and app.status in BEING_REVIEWED)
        ],
        explanation=explanation,
        outcome_texts=OUTCOME_TEXTS,
        benefit_parts=BENEFIT_PARTS,
        deadline=deadline,
        can_appeal=can_appeal,
        appeals=appeals_of(db.session, app),
        appeal_outcomes=APPEAL_OUTCOMES,
        files=files_of_case(db.session, app),
        locale=locale,
        now=utcnow(),
        payments=payments_of_application(db.session, app.id),
        expected=expected_first_payments(db.session, app.id),
        payment_status_texts=PAYMENT_STATUS_TEXTS,
        commitments=_commitments(app, locale),
    )
    with unit_of_work(db.session):
        _audit("case.view", app.case_number)
    return page
