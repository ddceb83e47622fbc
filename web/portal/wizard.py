"""The registration steps, shared by the applicant's own registration and a facilitator's assisted one.

A `Flow` says whose registration it is and where its pages are; the step functions validate, keep
each step in the server-side draft, and render. Nothing entered is lost on an error.
"""

from dataclasses import dataclass, field

from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError

from cases.audit import record
from cases.portal.drafts import STEPS, may_open, next_step, record_selfie, record_step
from engine.db import db, unit_of_work, utcnow
from forms.portal import ConsentStepSchema, HouseholdStepSchema, PaymentStepSchema
from integrations.base import PersonNotFound, TransientIntegrationError
from integrations.digits import has_other_digits
from integrations.face import ImageRejected
from integrations.face_messages import face_message
from integrations.nik import mask_nik
from integrations.payments import CHANNEL_LABELS, PaymentChannel

from .. import services
from .consent import consent_text
from .uploads import read_upload_form

STEP_TITLES = {
    "consent": _l("Consent"),
    "household": _l("Your family"),
    "payment": _l("Payment"),
    "photo": _l("Photo"),
    "review": _l("Check and send"),
}
RELATION_LABELS = {
    "KEPALA": _l("Head of family"),
    "SUAMI": _l("Husband"),
    "ISTRI": _l("Wife"),
    "ANAK": _l("Child"),
    "MENANTU": _l("Child-in-law"),
    "CUCU": _l("Grandchild"),
    "ORANG_TUA": _l("Parent"),
    "MERTUA": _l("Parent-in-law"),
    "FAMILI_LAIN": _l("Other relative"),
    "LAINNYA": _l("Other"),
}
# integrations/payments.py CHANNEL_LABELS, translated where a label needs it
PAYMENT_LABELS = {channel.value: _l(label) for channel, label in CHANNEL_LABELS.items()}


@dataclass
class Flow:
    """Whose registration this is and where its pages are."""

    channel: str  # "self" or "facilitator"
    actor: str  # who acts, for the audit log and the case timeline
    step_endpoint: str
    photo_check_endpoint: str
    submit_endpoint: str
    base_template: str
    url_args: dict = field(default_factory=dict)
    selfie_preview_endpoint: str | None = None
    # The audit log's actor when it is more than a name (an officer's Actor, with roles).
    audit_actor: object = None

    def url(self, endpoint, **extra):
        return url_for(endpoint, **self.url_args, **extra)

    def step_url(self, step):
        return self.url(self.step_endpoint, step=step)


def localized(pair):
    """Pick the Indonesian or English text of an (id, en) pair for the current language."""
    return pair[0] if str(get_locale() or "id") == "id" else pair[1]


def face_text(code, **params):
    """The translated text of a face-check reason code."""
    return localized(face_message(code, **params))


def audit(flow, action, draft, **detail):
    record(
        db.session,
        flow.audit_actor or flow.actor,
        action,
        target_type="applicant",
        target_id=draft.nik,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


def registry_record(nik):
    """Return (the civil record or None, a notice for the page or None)."""
    try:
        return services().integrations.civil_registry.lookup_person(nik), None
    except PersonNotFound:
        return None, _(
            "The civil registry has no record of this NIK. You can still apply; an officer will check your identity."
        )
    except TransientIntegrationError:
        return None, _(
            "The civil registry cannot be reached right now, so your details cannot be shown. Your draft "
            "is kept; please try again later."
        )


def _digits_only(value):
    """The message for a number typed in other digits (Arabic-Indic, full-width), else None."""
    return _("Type the number with the digits 0 to 9 only.") if has_other_digits(value) else None


def render_step(flow, draft, step, errors=None, values=None, status=200, notice=None):
    """Render a registration step with the draft's values (or the values just sent)."""
    context = {
        "flow": flow,
        "draft": draft,
        "step": step,
        "steps": STEPS,
        "titles": STEP_TITLES,
        "done": set(draft.steps or []),
        "errors": errors or {},
        "values": values or dict(draft.data or {}),
        "masked_nik": mask_nik(draft.nik),
        "payment_labels": PAYMENT_LABELS,
        "notice": notice,
        "relation_labels": RELATION_LABELS,
    }
    if step == "consent":
        context["consent"] = consent_text(current_app.config["BANSOS_CONSENT_VERSION"])
        context["consent_version"] = current_app.config["BANSOS_CONSENT_VERSION"]
    if step in ("household", "review"):
        person, problem = registry_record(draft.nik)
        context.update(
            person=person,
            notice=notice or problem,
            members=[{**m, "nik": mask_nik(m["nik"])} for m in (person.household if person else [])],
        )
        with unit_of_work(db.session):
            audit(flow, "registry.view", draft, step=step)
    if step == "photo":
        context["max_mb"] = current_app.config["BANSOS_FACE_MAX_IMAGE_BYTES"] // (1024 * 1024)
    return render_template(f"portal/step_{step}.html", **context), status


def show_step(flow, draft, step):
    """GET a step: render it, or send the browser to the first step still to do."""
    if not may_open(draft, step):
        return redirect(flow.step_url(next_step(draft)))
    return render_step(flow, draft, step)


def _same_name(a, b):
    return " ".join((a or "").split()).casefold() == " ".join((b or "").split()).casefold()


def post_step(flow, draft, step):
    """POST a step: validate, keep it in the draft, go to the next step (or show the errors)."""
    if step == "photo":
        return post_photo(flow, draft)
    if step not in ("consent", "household", "payment") or not may_open(draft, step):
        return redirect(flow.step_url(next_step(draft)))
    form = request.form
    errors = {}
    if step == "consent":
        values = {"agree": form.get("agree") == "yes", "applicant_name": form.get("applicant_name", "").strip() or None}
        try:
            data = ConsentStepSchema().load(values)
        except ValidationError as exc:
            data = None
            if "agree" in exc.messages:
                errors["agree"] = _("Tick the box to agree: without these look-ups the application cannot be decided.")
            if "applicant_name" in exc.messages:
                errors["applicant_name"] = _("The name is too long.")
        if data is not None and flow.channel == "facilitator":
            person, _problem = registry_record(draft.nik)
            if not data["applicant_name"]:
                errors["applicant_name"] = _("Type the applicant's full name as they say it.")
            elif person is not None and not _same_name(person.name, data["applicant_name"]):
                errors["applicant_name"] = _(
                    "The name does not match the civil registry's record for this NIK. Ask "
                    "the applicant again and check the identity card."
                )
        if not errors:
            kept = {
                "consent_version": current_app.config["BANSOS_CONSENT_VERSION"],
                "consent_at": utcnow().isoformat(),
                "consent_by": flow.actor,
                "consent_name": data["applicant_name"] if flow.channel == "facilitator" else None,
            }
    elif step == "household":
        values = {"confirmed": form.get("confirmed") == "yes", "phone": form.get("phone", "").strip() or None}
        try:
            kept = HouseholdStepSchema().load(values)
        except ValidationError as exc:
            if "confirmed" in exc.messages:
                errors["confirmed"] = _(
                    "Confirm the details. If something is wrong, have it corrected at Dukcapil "
                    "first; your draft is kept."
                )
            if "phone" in exc.messages:
                errors["phone"] = _digits_only(values["phone"]) or _(
                    "Enter a phone number of 8 to 15 digits, or leave it empty."
                )
    else:
        values = {
            "payment_channel": form.get("payment_channel", ""),
            "bank_account": form.get("bank_account", "").replace(" ", "") or None,
        }
        try:
            kept = PaymentStepSchema().load(values)
            if kept["payment_channel"] == PaymentChannel.POS:
                kept["bank_account"] = None
        except ValidationError as exc:
            if "payment_channel" in exc.messages:
                errors["payment_channel"] = _("Choose how the assistance is paid.")
            if "bank_account" in exc.messages:
                errors["bank_account"] = _digits_only(values["bank_account"]) or _(
                    "Enter the account number: 6 to 20 digits (needed unless paid at the post office)."
                )
    if errors:
        return render_step(flow, draft, step, errors=errors, values={**(draft.data or {}), **values}, status=422)
    with unit_of_work(db.session):
        record_step(draft, step, kept)
        audit(flow, "registration.step", draft, step=step)
    return redirect(flow.step_url(next_step(draft)))


def check_photo_bytes(upload):
    """Run the face quality checks on an upload; return None if usable, else the translated reason."""
    max_bytes = current_app.config["BANSOS_FACE_MAX_IMAGE_BYTES"]
    if upload is None:
        return _("Choose a photo, or take one with the camera.")
    if upload.too_large:
        return face_text("IMAGE_TOO_LARGE", max_mb=max_bytes // (1024 * 1024))
    try:
        services().integrations.face.encode(upload.data)
    except ImageRejected as exc:
        return face_text(exc.code, **exc.params)
    return None


def keep_selfie_template(data):
    """Keep the template the check just made (a cache hit), so the face steps do not encode again."""
    integrations = services().integrations
    if integrations.selfie_faces is not None:
        integrations.selfie_faces.keep(data, integrations.face)


def _selfie_upload():
    form, uploads = read_upload_form(current_app.config["BANSOS_FACE_MAX_IMAGE_BYTES"], max_files=1)
    return next((u for u in uploads if u.field == "selfie"), None)


def post_photo(flow, draft):
    """Keep a selfie that passes the quality checks; otherwise say why at once (the draft is kept)."""
    upload = _selfie_upload()
    if not may_open(draft, "photo"):
        return redirect(flow.step_url(next_step(draft)))
    problem = check_photo_bytes(upload)
    if problem:
        with unit_of_work(db.session):
            audit(flow, "registration.photo_refused", draft)
        return render_step(flow, draft, "photo", errors={"selfie": problem}, status=422)
    with unit_of_work(db.session):
        record_selfie(draft, services().photos.put(upload.data))
        keep_selfie_template(upload.data)
        audit(flow, "registration.step", draft, step="photo")
    return redirect(flow.step_url(next_step(draft)))


def check_photo(flow, draft):
    """Run the quality checks on a photo before it is sent for good; answer JSON {ok, message}."""
    problem = check_photo_bytes(_selfie_upload())
    if problem:
        return jsonify(ok=False, message=problem), 200
    return jsonify(ok=True, message=_("The photo is clear: one face, sharp and large enough.")), 200
