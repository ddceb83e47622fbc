"""The case view: applicant, household, evidence, decision and reasons, timeline, and the task form."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from cases.audit import record
from cases.duplicates import as_shown, audit_duplicate_views, duplicate_review, officer_reasons
from cases.enrolment_check import approval_warning
from cases.models import CaseEvent, EvidenceRecord
from cases.objections import is_objection_number
from cases.operations import CaseNotFound, case_or_404
from cases.privacy import mask_identifiers, mask_phone
from engine.db import db, unit_of_work
from engine.dispatch import steps_pending
from engine.errors import FormInvalid
from engine.humantasks import task_or_404
from engine.models import HumanTask
from engine.scope import in_scope
from integrations.face import sniff_image_type
from integrations.nik import mask_nik
from payments.queries import expected_first_payments, payments_of_application

from . import services
from .auth import roles_required
from .criteria_view import criteria_rows, decision_reasons
from .cycles import NEXT_ACTION_TEXTS, PAYMENT_STATUS_TEXTS
from .evidence_view import evidence_view, raw_json
from .formrender import CHOICE_LABELS, describe
from .refusals import log_refusal
from .taskforms import complete_from_form

bp = Blueprint("casepages", __name__)
READERS = ("caseworker", "supervisor", "appeals_officer", "administrator", "auditor")
PHOTO_VIEWERS = ("caseworker", "supervisor", "appeals_officer")
# The roles that call families (verification, appeals) see the whole phone number; administrators and
# auditors see it masked (docs/authorization.md, "Personal data on the case page").
PHONE_VIEWERS = ("caseworker", "supervisor", "appeals_officer")
_UPPER_WORDS = {"RT", "RW", "KM", "NO"}


def address_text(address):
    """The registry's address (written in capitals) as officers read it, RT/RW kept in capitals."""
    if not address:
        return None
    return " ".join(w if w.upper() in _UPPER_WORDS else (w.title() if w.isupper() else w) for w in address.split())


def phone_for_viewer(phone):
    """The applicant's phone as the signed-in officer may see it (None when there is none)."""
    if not phone:
        return None
    return phone if current_user.has_any(*PHONE_VIEWERS) else mask_phone(phone)


def case_for_officer_or_404(case_number):
    """Return the case if the signed-in officer may see it (role and district), else 404."""
    try:
        app = case_or_404(db.session, case_number)
    except CaseNotFound:
        abort(404)
    if not in_scope(current_user.actor, app.district_code):
        log_refusal("case.view_refused", "case", case_number, reason="district")
        abort(404)  # another district's case: do not even confirm it exists
    return app


def _page(app, errors=None, values=None, status=200):
    forms = services().engine.forms
    tasks = (
        db.session.execute(
            select(HumanTask)
            .where(HumanTask.business_key == app.case_number, HumanTask.status.in_(("open", "claimed")))
            .order_by(HumanTask.id)
        )
        .scalars()
        .all()
    )
    evidence = as_shown(  # the other cases of a face search with their NIKs masked in today's format
        db.session,
        db.session.execute(
            select(EvidenceRecord).where(EvidenceRecord.application_id == app.id).order_by(EvidenceRecord.id)
        )
        .scalars()
        .all(),
        current_user.actor,
    )
    events = (
        db.session.execute(
            select(CaseEvent).where(CaseEvent.application_id == app.id).order_by(CaseEvent.at, CaseEvent.id)
        )
        .scalars()
        .all()
    )
    registry = next((e.value for e in reversed(evidence) if e.source == "civil_registry"), {})
    household = mask_identifiers(registry.get("household") or [])
    mine = [t for t in tasks if t.status == "claimed" and t.assignee == current_user.actor.id]
    task_forms = {t.id: describe(forms[t.form_name]) for t in mine if t.form_name in forms}
    warnings = {t.id: approval_warning(services().engine, t) for t in tasks if t.bpmn_id == "approve"}
    duplicates = duplicate_review(db.session, app, current_user.actor)
    audit_duplicate_views(
        db.session, current_user.actor, app, duplicates, ip=request.remote_addr, user_agent=request.user_agent.string
    )  # the other cases' data is a view of them
    # With workers, a completed task (an approval, an appeal decision) leaves the next steps to them:
    # the page says so and follows them (htmx polls `processing`, then reloads the page), unless the
    # officer has a form of their own open on it.
    processing = steps_pending(services().engine, app.case_number) and not task_forms
    return render_template(
        "case.html",
        app=app,
        processing=processing,
        nik=mask_nik(app.nik),
        tasks=tasks,
        task_forms=task_forms,
        evidence=[(e, raw_json(e.value)) for e in evidence],
        events=events,
        readable=evidence_view(evidence),
        criteria=criteria_rows(app.explanation, app.decision),
        address=address_text(registry.get("address")),
        phone=phone_for_viewer(app.phone),
        household=household,
        duplicates=duplicates,
        reasons=decision_reasons(officer_reasons(app, duplicates), app.decision),
        errors=errors or {},
        values=values or {},
        choice_labels=CHOICE_LABELS,
        approval_warnings={k: w for k, w in warnings.items() if w},
        has_reference=bool(registry.get("photo_ref")),
        payments=payments_of_application(db.session, app.id),
        expected=expected_first_payments(db.session, app.id),
        payment_status_texts=PAYMENT_STATUS_TEXTS,
        next_action_texts=NEXT_ACTION_TEXTS,
        show_photos=current_user.has_any(*PHOTO_VIEWERS) and bool(app.selfie_ref),
    ), status


@bp.get("/cases/<case_number>")
@roles_required(*READERS)
def show(case_number):
    """Show a case to an officer of its district (each view of personal data is audited)."""
    if is_objection_number(case_number):  # community-objection tasks share the inbox; they have their own page
        return redirect(url_for("objections.show", number=case_number))
    app = case_for_officer_or_404(case_number)
    page = _page(app)
    with unit_of_work(db.session):
        _audit("case.view", app.case_number)
    return page


@bp.get("/cases/<case_number>/processing")
@roles_required(*READERS)
def processing(case_number):
    """What the case page polls while the workers run the case's steps: the notice, or (done) a reload."""
    app = case_for_officer_or_404(case_number)
    if steps_pending(services().engine, app.case_number):
        return render_template("_processing.html", app=app)
    return "", 200, {"HX-Refresh": "true"}  # the steps are done: htmx reloads the whole page


def _audit(action, case_number, **detail):
    record(
        db.session,
        current_user.actor,
        action,
        target_type="case",
        target_id=case_number,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


@bp.post("/cases/<case_number>/tasks/<int:task_id>")
@roles_required("caseworker", "supervisor", "appeals_officer")
def complete(case_number, task_id):
    """Complete the officer's task on this case with the submitted form."""
    app = case_for_officer_or_404(case_number)
    row = task_or_404(db.session, task_id)
    if row.business_key != app.case_number:
        abort(404)
    values, refusal = complete_from_form(task_id)
    if refusal is None:
        flash(_("Task completed."), "success")
        return redirect(url_for("casepages.show", case_number=case_number))
    with unit_of_work(db.session):  # a second unit: the audit of the other cases the re-rendered page shows
        if isinstance(refusal, FormInvalid):
            page = _page(case_or_404(db.session, case_number), errors=refusal.errors, values=values, status=422)
        else:
            page = _page(case_or_404(db.session, case_number), status=409)
    return page


@bp.get("/cases/<case_number>/photos/<which>")
@roles_required(*PHOTO_VIEWERS)
def photo(case_number, which):
    """Serve the selfie or the registry photo to the roles that compare them (never cached)."""
    app = case_for_officer_or_404(case_number)
    svc = services()
    if which == "selfie":
        data = svc.photos.read(app.selfie_ref) if app.selfie_ref else None
    elif which == "reference":
        data = svc.integrations.civil_registry.reference_photo(app.nik)
    else:
        abort(404)
    kind = sniff_image_type(data) if data else None
    if kind is None:
        abort(404)
    with unit_of_work(db.session):
        _audit("photo.view", app.case_number, which=which)
    return Response(
        data,
        mimetype=f"image/{kind.lower()}",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"},
    )
