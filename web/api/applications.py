"""Applications sent through the API: a facilitators' field app (registrations queued offline) or a village system.

POST /api/v1/applications takes multipart/form-data: an `application` part (JSON) and a `selfie` file part,
with an `Idempotency-Key` header. The same checks as the facilitator's pages: the NIK, the caller's
districts, the name against the civil registry, consent, the payment account, one clear face in the
selfie, one open case per person. A retried upload with the same key answers the case made the first
time (200, replayed); the same key with another application is refused (422).
"""

import json
from datetime import timedelta

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import ValidationError

from cases.audit import record
from cases.operations import DuplicateApplication, submit_application
from cases.portal.api_submissions import check_key, claim_key, earlier_submission, request_hash
from cases.portal.drafts import open_case_of
from cases.portal.notices import notify_applicant
from engine.db import db, unit_of_work, utcnow
from engine.errors import EngineError
from engine.scope import in_scope
from integrations.base import PersonNotFound, TransientIntegrationError
from integrations.face import ImageRejected
from integrations.face_messages import face_message
from integrations.nik import NikInvalid, mask_nik, validate_nik
from integrations.payments import PaymentChannel

from .. import services
from ..portal.uploads import read_upload_form
from . import API_PREFIX, documented_errors
from .auth import api_roles_required, caller
from .errors import abort_for_engine_error, api_abort, api_language, api_text, register_json_errors
from .schemas import ApiApplicationSchema, SubmittedSchema

bp = Blueprint(
    "api_applications",
    __name__,
    url_prefix=f"{API_PREFIX}/applications",
    description="Applications registered by facilitators from a field app or a village system.",
)
register_json_errors(bp)
FACILITATOR = "facilitator"
SUBMIT_BODY = {
    "required": True,
    "description": (
        "multipart/form-data with two parts: `application` (JSON, the ApiApplication schema) and "
        "`selfie` (a JPEG or PNG photo with exactly one face)."
    ),
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["application", "selfie"],
                "properties": {
                    "application": {"$ref": "#/components/schemas/ApiApplication"},
                    "selfie": {"type": "string", "format": "binary"},
                },
            },
            "encoding": {"application": {"contentType": "application/json"}},
        }
    },
}
KEY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{8,64}$"},
    "description": "A key the client makes once per registration (e.g. a UUID) and sends again on retry.",
}


def _field_errors(errors, status=422, code="INVALID_REQUEST", detail=None):
    api_abort(status, code, errors={"form": errors}, detail=detail)


def _face_text(code, **params):
    pair = face_message(code, **params)
    return pair[0] if api_language() == "id" else pair[1]


def _refuse(action, nik, **detail):
    """Keep an audit entry of a refused submission (the view's transaction is rolled back)."""
    db.session.rollback()
    with unit_of_work(db.session):
        record(
            db.session,
            caller().actor,
            action,
            target_type="applicant",
            target_id=nik,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail=caller().audit_detail(**detail),
        )


def _read_request():
    """Return (application dict, selfie bytes) from the multipart body, or answer 422/400."""
    max_bytes = current_app.config["BANSOS_FACE_MAX_IMAGE_BYTES"]
    form = read_upload_form(max_bytes, max_files=1, check_csrf=False)
    try:
        application = json.loads(form.form.get("application") or "")
    except ValueError:
        application = None
    if not isinstance(application, dict):
        _field_errors({"application": [api_text("BODY_NOT_OBJECT")]})
    selfie = next((u for u in form.uploads if u.field == "selfie"), None)
    if selfie is None:
        _field_errors({"selfie": [api_text("SELFIE_MISSING")]})
    if selfie.too_large:
        _field_errors(
            {"selfie": [_face_text("IMAGE_TOO_LARGE", max_mb=max_bytes // (1024 * 1024))]},
            code="SELFIE_REJECTED",
            detail={"reason": "IMAGE_TOO_LARGE"},
        )
    return application, selfie.data


def _validate(application):
    """Check the application as the facilitator's pages do; return the loaded fields."""
    try:
        data = ApiApplicationSchema().load(application)
    except ValidationError as exc:
        _field_errors(exc.messages)
    from forms.portal import (
        HouseholdStepSchema,
        PaymentStepSchema,  # the pages' own rules for the account and phone
    )

    try:
        PaymentStepSchema().load({"payment_channel": data["payment_channel"], "bank_account": data["bank_account"]})
        HouseholdStepSchema().load({"confirmed": True, "phone": data["phone"]})
    except ValidationError as exc:
        _field_errors(exc.messages)
    if not data["consent"]:
        _field_errors({"consent": [api_text("CONSENT_REQUIRED")]})
    if data["consent_at"] is not None:
        oldest = utcnow() - timedelta(days=current_app.config["BANSOS_API_OFFLINE_MAX_DAYS"])
        if data["consent_at"] > utcnow() + timedelta(minutes=5) or data["consent_at"] < oldest:
            _field_errors({"consent_at": [api_text("CONSENT_TIME_INVALID")]})
    return data


def _check_person(data, nik, selfie):
    """The district, the name against the civil registry and the selfie; answers 403/422 on a refusal."""
    if not in_scope(caller().actor, nik[4:6]):
        _refuse("assist.outside_region", nik, district=nik[4:6])
        api_abort(403, "OUTSIDE_DISTRICT", detail={"district": nik[4:6]})
    try:
        person = services().integrations.civil_registry.lookup_person(nik)
    except (PersonNotFound, TransientIntegrationError):
        person = None  # as on the pages: an officer checks the identity later
    if (
        person is not None
        and " ".join(person.name.split()).casefold() != " ".join(data["applicant_name"].split()).casefold()
    ):
        _field_errors({"applicant_name": [api_text("NAME_MISMATCH")]}, code="NAME_MISMATCH")
    try:
        services().integrations.face.encode(selfie)
    except ImageRejected as exc:
        _refuse("registration.photo_refused", nik, reason=exc.code)
        _field_errors(
            {"selfie": [_face_text(exc.code, **exc.params)]}, code="SELFIE_REJECTED", detail={"reason": exc.code}
        )


def _answer(app, replayed):
    return {"case_number": app.case_number, "status": app.status, "decision": app.decision, "replayed": replayed}


@bp.route("", methods=["POST"])
@api_roles_required(FACILITATOR)
@bp.doc(requestBody=SUBMIT_BODY, parameters=[KEY_HEADER])
@bp.response(201, SubmittedSchema)
@bp.alt_response(200, schema=SubmittedSchema, description="The same Idempotency-Key made this case earlier")
@documented_errors(bp, 400, 401, 403, 409, 413, 422)
def submit():
    """Register an application with its selfie (facilitators, in their own districts).

    Errors: 422 IDEMPOTENCY_KEY_INVALID, IDEMPOTENCY_KEY_REUSED (the key made another application),
    INVALID_REQUEST / NIK_INVALID / NAME_MISMATCH / SELFIE_REJECTED with field errors under errors.form;
    403 OUTSIDE_DISTRICT; 409 DUPLICATE_APPLICATION (detail.case_number: the person's open case).
    """
    officer = caller().officer.username
    try:
        key = check_key(request.headers.get("Idempotency-Key"))
    except EngineError as exc:
        abort_for_engine_error(exc)
    application, selfie = _read_request()
    digest = request_hash(application, selfie)
    try:
        earlier = earlier_submission(db.session, officer, key, digest)
    except EngineError as exc:
        abort_for_engine_error(exc)
    if earlier is not None and earlier.case_number:
        return _answer(_case(earlier.case_number), True), 200
    data = _validate(application)
    try:
        nik = validate_nik(data["nik"])
    except NikInvalid:
        _field_errors({"nik": [api_text("NIK_INVALID")]}, code="NIK_INVALID")
    _check_person(data, nik, selfie)
    existing = open_case_of(db.session, nik)
    if existing is not None:
        api_abort(409, "DUPLICATE_APPLICATION", detail={"case_number": existing.case_number})
    try:
        claimed = claim_key(db.session, officer, key, digest)
    except EngineError as exc:
        abort_for_engine_error(exc)
    if claimed.case_number:  # the same upload at the same moment: the other request made the case
        return _answer(_case(claimed.case_number), True), 200
    payload = {
        "nik": nik,
        "channel": "facilitator",
        "facilitator_id": caller().actor.id,
        "payment_channel": data["payment_channel"],
        "bank_account": None if data["payment_channel"] == PaymentChannel.POS else data["bank_account"],
        "phone": data["phone"],
        "consent": True,
        "consent_version": current_app.config["BANSOS_CONSENT_VERSION"],
    }
    try:
        app = submit_application(
            services().engine, payload, photos=services().photos, selfie=selfie, actor=caller().actor.id
        )
    except DuplicateApplication as exc:  # a concurrent registration of the same person won
        db.session.rollback()
        api_abort(409, "DUPLICATE_APPLICATION", detail={"case_number": exc.details.get("case_number")})
    except EngineError as exc:
        abort_for_engine_error(exc, "form")
    if data["consent_at"] is not None:
        app.consent_at = data["consent_at"]
    claimed.case_number = app.case_number
    notify_applicant(services().integrations.notifier, nik, "application_received", {"case_number": app.case_number})
    record(
        db.session,
        caller().actor,
        "application.submit",
        target_type="case",
        target_id=app.case_number,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=caller().audit_detail(channel="facilitator", nik=mask_nik(nik)),
    )
    return _answer(app, False), 201, {"Location": f"{API_PREFIX}/cases/{app.case_number}"}


def _case(case_number):
    from cases.operations import case_or_404

    return case_or_404(db.session, case_number)
