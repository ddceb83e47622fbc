"""Bad input and outages answered in one place, for every page and the API.

- Ids in URLs (`<int:...>`): the app's `int` converter accepts 0 to 2**31-1, the range of the
  databases' integer ids (PostgreSQL `integer`; the few `bigint` ids, e.g. human tasks, are counted
  from 1 and stay far below it). A larger number matches no route: 404, never a database error.
- NUL characters: PostgreSQL text cannot hold them. Query strings, form fields, upload file names,
  URL parts and JSON bodies carrying one are refused with 400 and a translated message, checked as
  they are parsed (form bodies are still read only when a view asks for them).
- A database that cannot be reached (OperationalError: connection refused, server gone, pool
  exhausted) answers 503 with Retry-After: a translated page, or the API's JSON error under /api.
"""

import logging

from flask import current_app, jsonify, render_template, request
from flask.wrappers import Request
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

log = logging.getLogger(__name__)
MAX_ID = 2**31 - 1
RETRY_AFTER_SECONDS = 30
NUL = "\x00"
NUL_MESSAGE = _l("The request contains a character that is not allowed (NUL). Remove it and try again.")
OUTAGE_MESSAGE = _l("Tepat cannot reach its database right now. Please try again in a minute.")


class IdConverter(IntegerConverter):
    """`<int:...>` bounded to the databases' id range (a larger number is no route: 404)."""

    def __init__(self, map, fixed_digits=0, min=0, max=MAX_ID, signed=False):  # noqa: A002 (werkzeug's names)
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class NulCharacter(BadRequest):
    """A text value of the request holds a NUL character."""

    def __init__(self, where):
        super().__init__(description=f"NUL character in {where}")
        self.data = {"error": "TEXT_HAS_NUL"}


def _has_nul(value):
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, FileStorage):
        return NUL in (value.filename or "")
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


class CheckedRequest(Request):
    """Flask's request, whose form fields and upload file names refuse NUL characters once parsed."""

    def _load_form_data(self):
        parsed = "form" in self.__dict__
        super()._load_form_data()
        if parsed:
            return
        form, files = self.__dict__["form"], self.__dict__["files"]
        if _has_nul(list(form.items(multi=True))) or _has_nul(list(files.items(multi=True))):
            for upload in files.values():  # the uploads' temporary files end with the refused request
                upload.close()
            raise NulCharacter("the form")


def refuse_nul_in_path_query_and_json():
    """Before each request: URL parts, query strings and JSON bodies with a NUL character are refused (400)."""
    if request.view_args and _has_nul(list(request.view_args.values())):
        raise NulCharacter("the address")
    if _has_nul(list(request.args.items(multi=True))):
        raise NulCharacter("the query string")
    if request.is_json and _has_nul(request.get_json(silent=True)):
        raise NulCharacter("the JSON body")


def nul_refused(exc):
    """Answer a NUL character in a page's input: 400 with the translated reason."""
    from .refusals import log_refusal

    try:
        log_refusal("input.refused", reason="nul")
    except OperationalError:
        pass
    return render_template("error.html", code=400, reason="nul"), 400


def database_unavailable(exc):
    """Answer an unreachable database: 503 with Retry-After (JSON under /api, else a page without the database)."""
    from engine.db import db

    log.warning("database unavailable: %s", str(exc).splitlines()[0][:300])
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 -- the connection is gone; nothing to roll back
        pass
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}
    if request.path.startswith("/api/"):
        from flask_babel import force_locale

        from .api.errors import api_language

        with force_locale(api_language()):
            payload = {
                "code": 503,
                "status": "Service Unavailable",
                "error": "DATABASE_UNAVAILABLE",
                "message": str(OUTAGE_MESSAGE),
            }
        response = jsonify(payload)
    else:
        response = current_app.make_response(render_template("unavailable.html", message=OUTAGE_MESSAGE))
    response.status_code = 503
    response.headers.update(headers)
    return response


def install(app):
    """Register the id converter, the NUL checks and the outage answer on `app` (before any route)."""
    app.url_map.converters["int"] = IdConverter
    app.request_class = CheckedRequest
    app.before_request(refuse_nul_in_path_query_and_json)
    app.register_error_handler(NulCharacter, nul_refused)
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(PoolTimeout, database_unavailable)
