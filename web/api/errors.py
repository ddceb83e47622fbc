"""JSON errors for everything under /api: a stable code, a translated message, field errors."""

from flask import jsonify, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_smorest import abort
from werkzeug.exceptions import HTTPException, default_exceptions

from engine.db import db
from engine.errors import FormInvalid

from ..guards import NUL_MESSAGE
from ..messages import ERRORS

API_PREFIX = "/api/"

# The stable `error` code when a view gives none, by HTTP status.
STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "NOT_ALLOWED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "INVALID_REQUEST",
    429: "TOO_MANY_REQUESTS",
    500: "SERVER_ERROR",
}
MESSAGES = {
    **ERRORS,
    "BAD_REQUEST": _l("The request is not valid."),
    "UNAUTHENTICATED": _l("Sign in, or send an API token in the Authorization header (Bearer)."),
    "TOKEN_INVALID": _l("The API token is not valid."),
    "TOKEN_EXPIRED": _l("The API token has expired."),
    "TOKEN_REVOKED": _l("The API token was revoked."),
    "OFFICER_INACTIVE": _l("The officer of this API token is deactivated."),
    "CSRF_FAILED": _l(
        "The CSRF token is missing or not valid: a signed-in browser sends it in the X-CSRFToken header."
    ),
    "NOT_FOUND": _l("Not found."),
    "METHOD_NOT_ALLOWED": _l("This method is not allowed here."),
    "CONFLICT": _l("The request conflicts with the current state. Reload and try again."),
    "INVALID_REQUEST": _l("The request has errors; see the fields."),
    "OFFICER_NOT_FOUND": _l("There is no active officer with this username."),
    "BODY_NOT_OBJECT": _l("The body must be a JSON object."),
    "TOO_MANY_REQUESTS": _l("Too many attempts. Try again later."),
    "SERVER_ERROR": _l("Something went wrong."),
    "TEXT_HAS_NUL": NUL_MESSAGE,
    "IDEMPOTENCY_KEY_INVALID": _l(
        "Send an Idempotency-Key header of 8 to 64 letters, digits, _ . : or -, made once per registration."
    ),
    "IDEMPOTENCY_KEY_REUSED": _l(
        "This Idempotency-Key was already used for another application. Make a new key for each registration."
    ),
    "SELFIE_MISSING": _l("Send the applicant's photo in the selfie part."),
    "SELFIE_REJECTED": _l("The photo cannot be used; see the reason."),
    "CONSENT_REQUIRED": _l("The applicant must agree to the data look-ups."),
    "CONSENT_TIME_INVALID": _l("The consent time lies in the future or too far in the past."),
    "NAME_MISMATCH": _l(
        "The name does not match the civil registry's record for this NIK. Ask the applicant again "
        "and check the identity card."
    ),
    "OUTSIDE_DISTRICT": _l("This NIK belongs to a district that is not one of yours."),
}
# Engine refusals as HTTP statuses; anything else the engine refuses is a conflict with the case's state.
ENGINE_STATUS = {
    "TASK_NOT_FOUND": 404,
    "CASE_NOT_FOUND": 404,
    "NOT_ALLOWED": 403,
    "FOUR_EYES": 403,
    "FORM_INVALID": 422,
    "TASK_ALREADY_CLAIMED": 409,
    "TASK_NOT_READY": 409,
    "TASK_NOT_CLAIMED": 409,
    "IDEMPOTENCY_KEY_INVALID": 422,
    "IDEMPOTENCY_KEY_REUSED": 422,
}


def api_language():
    """The language of API messages: the session's choice for the pages' scripts, else Accept-Language."""
    from .. import LANGUAGES, select_locale

    if "Authorization" in request.headers:
        return request.accept_languages.best_match(LANGUAGES) or "id"
    return select_locale()


def api_text(code):
    """Return the message of an error code in the caller's language."""
    with force_locale(api_language()):
        return str(MESSAGES[code])


def api_abort(status, error, message=None, errors=None, detail=None, headers=None):
    """Stop the request with a JSON error: HTTP `status`, stable code `error`, optional field errors."""
    abort(status, error=error, message=message, errors=errors, detail=detail, headers=headers)


def abort_for_engine_error(exc, errors_field=None):
    """Roll back and answer an engine refusal: 404, 403 (with the four-eyes reason), 409 or 422."""
    db.session.rollback()
    status = ENGINE_STATUS.get(exc.code, 409)
    errors = None
    if isinstance(exc, FormInvalid):
        errors = {"json": exc.errors}
    elif errors_field is not None:  # a refusal caused by one field of the body (e.g. the reassignment target)
        status = 422
        errors = {"json": {errors_field: [api_text(exc.code) if exc.code in MESSAGES else exc.message]}}
    detail = {k: v for k, v in exc.details.items() if k != "errors" and isinstance(v, (str, int, list))} or None
    api_abort(status, exc.code, errors=errors, detail=detail)


def json_error(exc):
    """Turn an HTTPException into the API's JSON error response."""
    data = getattr(exc, "data", None) or {}
    status = exc.code or 500
    code = data.get("error") or STATUS_CODES.get(status, f"HTTP_{status}")
    with force_locale(api_language()):
        message = data.get("message") or MESSAGES.get(code) or MESSAGES.get(STATUS_CODES.get(status, ""))
        if message is None:
            message = MESSAGES["SERVER_ERROR"] if status >= 500 else MESSAGES["BAD_REQUEST"]
        payload = {"code": status, "status": exc.name, "error": code, "message": str(message)}
    errors = data.get("errors") or data.get("messages")  # webargs puts validation errors in "messages"
    if errors:
        payload["errors"] = errors
    if data.get("detail"):
        payload["detail"] = data["detail"]
    response = jsonify(payload)
    response.status_code = status
    headers = dict(data.get("headers") or {})
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers.setdefault("Allow", ", ".join(exc.valid_methods))
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="tepat"')
    for name, value in headers.items():
        response.headers[name] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def register_json_errors(blueprint):
    """Answer every HTTP error raised in the blueprint's views with JSON (per code: they beat the app's pages)."""
    for code in default_exceptions:
        blueprint.register_error_handler(code, json_error)


def routing_error_as_json():
    """Before each request: an unknown path or method under /api gets a JSON 404/405, never an HTML page."""
    exc = request.routing_exception
    if (
        exc is not None
        and isinstance(exc, HTTPException)
        and (exc.code or 0) >= 400
        and request.path.startswith(API_PREFIX)
    ):
        return json_error(exc)
    return None
