"""Community objections (usul/sanggah): residents file them in the portal; officers verify them.

Residents (signed in with the digital ID, web.portal.session) see the enrolled families of their own
village by initials and masked NIK only, file an objection, and follow its outcome. Officers of the
district open the objection from their inbox, see who objected and why, and complete the
verification task; the recipient never learns who objected.
"""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from cases.audit import record
from cases.models import Application
from cases.objections import (
    GROUND_TEXTS,
    ObjectionNotFound,
    ObjectionRefused,
    ObjectorUnknown,
    objection_or_404,
    objection_tasks,
    objections_of,
    resident_for,
    village_recipients,
)
from cases.objections import file_objection as file_objection_op
from engine.db import db, unit_of_work
from engine.errors import FormInvalid
from engine.humantasks import task_or_404
from engine.scope import in_scope
from forms import OBJECTION_GROUNDS
from integrations.base import TransientIntegrationError
from integrations.nik import mask_nik

from . import services
from .auth import roles_required
from .formrender import CHOICE_LABELS, describe
from .portal.session import applicant_required, current_applicant
from .refusals import log_refusal
from .taskforms import complete_from_form

bp = Blueprint("objections", __name__)
# Who may read an objection (it names the objector): the officers who verify, supervise or audit it.
READERS = ("caseworker", "supervisor", "administrator", "auditor")
WORKERS = ("caseworker", "supervisor")

REFUSALS = {
    "OBJECTOR_UNKNOWN": (
        _l(
            "Your NIK was not found as a living resident in the civil registry, so you cannot "
            "file an objection here. Please ask your village office."
        ),
        403,
    ),
    "OBJECTION_OTHER_VILLAGE": (
        _l("You can only object to an enrolled family of your own village. Choose a family from the list."),
        403,
    ),
    "OBJECTION_DUPLICATE": (_l("You already have an objection about this family that is being verified."), 409),
    "OBJECTION_RATE_LIMIT": (
        _l("You have filed as many objections as allowed in 24 hours. Please try again tomorrow."),
        429,
    ),
}
STATUS_TEXTS = {
    "open": _l("Being verified"),
    "upheld": _l("Upheld: the family's enrolment is being re-checked"),
    "dismissed": _l("Dismissed: the officer found no ground"),
}
RECHECK_TEXTS = {
    "started": _l("Re-check started"),
    "already_running": _l("A re-check was already running"),
    "not_enrolled": _l("The family was no longer enrolled"),
}
TASK_STATUS_TEXTS = {
    "open": _l("open"),
    "claimed": _l("claimed"),
    "completed": _l("completed"),
    "cancelled": _l("cancelled"),
}


def _ground_choices():
    """The grounds as (code, text) in the reader's language (the texts live with the domain, id and en)."""
    index = 0 if str(get_locale() or "id") == "id" else 1
    return [(code, GROUND_TEXTS[code][index]) for code in OBJECTION_GROUNDS]


def _audit(actor, action, target_type=None, target_id=None, **detail):
    record(
        db.session,
        actor,
        action,
        target_type,
        target_id,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


# --- residents -----------------------------------------------------------------------------------


def _resident_or_refusal(applicant):
    """Return (resident, None) from the civil registry, or (None, a rendered refusal)."""
    try:
        return resident_for(services().integrations, applicant.nik), None
    except ObjectorUnknown:
        text, status = REFUSALS["OBJECTOR_UNKNOWN"]
        return None, (render_template("objection_unavailable.html", message=str(text)), status)
    except TransientIntegrationError:
        return None, (
            render_template(
                "objection_unavailable.html",
                message=_("The civil registry cannot be reached right now. Please try again later."),
            ),
            503,
        )


def _form_page(resident, errors=None, values=None, status=200):
    recipients = village_recipients(db.session, resident)
    with unit_of_work(db.session):
        _audit(
            current_applicant().audit_actor,
            "objection.recipients_view",
            "village",
            f"{resident.district_code}/{resident.village}",
            listed=len(recipients),
        )
    return render_template(
        "objection_new.html",
        resident=resident,
        recipients=recipients,
        grounds=_ground_choices(),
        errors=errors or {},
        values=values or {},
        per_day=int(current_app.config["BANSOS_OBJECTIONS_PER_DAY"]),
    ), status


@bp.get("/portal/objections")
@applicant_required
def mine():
    """The resident's objections and their outcomes."""
    applicant = current_applicant()
    grounds = dict(_ground_choices())
    listed = [
        {
            **row,
            "ground": grounds.get(row["objection"].ground, row["objection"].ground),
            "status": str(STATUS_TEXTS[row["objection"].status]),
        }
        for row in objections_of(db.session, applicant.nik)
    ]
    return render_template("objection_list.html", objections=listed)


@bp.get("/portal/objections/new")
@applicant_required
def new():
    """The objection form: the enrolled families of the resident's own village, a ground and a reason."""
    resident, refusal = _resident_or_refusal(current_applicant())
    if refusal is not None:
        return refusal
    return _form_page(resident)


@bp.post("/portal/objections/new")
@applicant_required
def file():
    """File an objection; refused for another village, a duplicate, or too many in a day."""
    applicant = current_applicant()
    resident, refusal = _resident_or_refusal(applicant)
    if refusal is not None:
        return refusal
    values = {k: request.form.get(k, "").strip() for k in ("recipient", "ground", "reason")}
    payload = {k: v for k, v in values.items() if v != ""}
    try:
        with unit_of_work(db.session):
            objection = file_objection_op(
                services().engine,
                resident,
                payload,
                per_day=int(current_app.config["BANSOS_OBJECTIONS_PER_DAY"]),
                actor_label=applicant.audit_actor,
            )
    except FormInvalid as exc:
        flash(_("The objection has errors; see the fields below."), "danger")
        return _form_page(resident, errors=exc.errors, values=values, status=422)
    except ObjectionRefused as exc:
        text, status = REFUSALS.get(exc.code, (str(exc), 400))
        with unit_of_work(db.session):  # a second unit: the refusal is kept, the objection is not
            _audit(applicant.audit_actor, "objection.refused", "objection", None, reason=exc.code)
        flash(str(text), "danger")
        return _form_page(resident, values=values, status=status)
    flash(
        _(
            "Objection %(number)s was filed. An officer will verify it within 14 days; you will see the outcome here.",
            number=objection.number,
        ),
        "success",
    )
    return redirect(url_for("objections.mine"))


# --- officers ------------------------------------------------------------------------------------


def objection_for_officer_or_404(number):
    """Return the objection if the signed-in officer works its district, else 404."""
    try:
        objection = objection_or_404(db.session, number)
    except ObjectionNotFound:
        abort(404)
    if not in_scope(current_user.actor, objection.district_code):
        log_refusal("objection.view_refused", "objection", number, reason="district")
        abort(404)  # another district's objection: do not confirm it exists
    return objection


def _task_page(objection, errors=None, values=None, status=200):
    forms = services().engine.forms
    tasks = objection_tasks(db.session, objection.number)
    mine = [t for t in tasks if t.status == "claimed" and t.assignee == current_user.actor.id]
    task_forms = {t.id: describe(forms[t.form_name]) for t in mine if t.form_name in forms}
    recipient = db.session.get(Application, objection.application_id)
    return render_template(
        "objection_task.html",
        objection=objection,
        recipient=recipient,
        recipient_nik=mask_nik(recipient.nik),
        objector_nik=mask_nik(objection.objector_nik),
        ground=dict(_ground_choices()).get(objection.ground, objection.ground),
        tasks=tasks,
        task_forms=task_forms,
        errors=errors or {},
        values=values or {},
        choice_labels=CHOICE_LABELS,
        status_text=str(STATUS_TEXTS[objection.status]),
        recheck_text=RECHECK_TEXTS.get(objection.recheck),
        task_status=TASK_STATUS_TEXTS,
    ), status


@bp.get("/objections/<number>")
@roles_required(*READERS)
def show(number):
    """Show an objection to an officer of its district: who objected, about whom, why; the task form."""
    objection = objection_for_officer_or_404(number)
    page = _task_page(objection)
    with unit_of_work(db.session):
        _audit(current_user.actor, "objection.view", "objection", objection.number)
    return page


@bp.post("/objections/<number>/tasks/<int:task_id>")
@roles_required(*WORKERS)
def complete(number, task_id):
    """Complete the officer's verification task with the submitted form."""
    objection = objection_for_officer_or_404(number)
    row = task_or_404(db.session, task_id)
    if row.business_key != objection.number:
        abort(404)
    values, refusal = complete_from_form(task_id)
    if isinstance(refusal, FormInvalid):
        return _task_page(objection_or_404(db.session, number), errors=refusal.errors, values=values, status=422)
    if refusal is not None:
        return _task_page(objection_or_404(db.session, number), status=409)
    flash(_("Task completed."), "success")
    return redirect(url_for("objections.show", number=number))
