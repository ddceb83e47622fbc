"""The JSON API under /api/v1: flask-smorest blueprints over marshmallow schemas.

The OpenAPI document is served at /api/v1/openapi.json and rendered by Swagger UI at /api/v1/docs,
both public (they describe the API and hold no data). Every other endpoint needs a bearer token or
the signed-in session (see auth.py); every error under /api is JSON (see errors.py).
"""

from http import HTTPStatus

from flask import Blueprint, render_template, url_for
from flask_smorest import Api
from marshmallow import Schema, fields

from .errors import routing_error_as_json

API_PREFIX = "/api/v1"


class ApiErrorSchema(Schema):
    """Every error under /api."""

    code = fields.Integer(metadata={"description": "HTTP status"})
    status = fields.String(metadata={"description": "HTTP status name"})
    error = fields.String(metadata={"description": "Stable error code, e.g. TOKEN_EXPIRED, FOUR_EYES, FORM_INVALID"})
    message = fields.String(metadata={"description": "Message in the caller's language (Indonesian or English)"})
    errors = fields.Dict(metadata={"description": 'Field errors by location, e.g. {"json": {"field": [...]}}'})
    detail = fields.Dict(metadata={"description": "More about a refusal (e.g. the earlier task for FOUR_EYES)"})


class TepatApi(Api):
    """flask-smorest's Api, with JSON errors confined to the API's own blueprints."""

    ERROR_SCHEMA = ApiErrorSchema

    def _register_error_handlers(self):
        # flask-smorest would answer every HTTP error of the whole app in JSON; the pages keep their HTML
        # errors, and each API blueprint registers its JSON handlers (errors.register_json_errors).
        pass


docs_bp = Blueprint("api_docs", __name__, url_prefix=API_PREFIX)


@docs_bp.get("/docs")
def docs():
    """Show the API's documentation (Swagger UI from the vendored files); public like the spec."""
    return render_template("api_docs.html", spec_url=url_for("api-docs.openapi_json"))


def documented_errors(blueprint, *statuses):
    """Document the error responses a view may give (the shared error schema)."""

    def decorate(view):
        for status in statuses:
            view = blueprint.alt_response(status, response=HTTPStatus(status).name)(view)
        return view

    return decorate


SPEC_DESCRIPTION = """Cases, tasks and process definitions of Tepat.

Authenticate with an API token (`Authorization: Bearer tpt_...`; officers create tokens on the page
"My API tokens", administrators with `tepat token create`), or, from the officers' pages, with the
signed-in session: then requests that change something need the `X-CSRFToken` header. Each call is
allowed to the same roles and districts as the pages. Errors are JSON with a stable `error` code
and a message in Indonesian, or in English for token callers sending `Accept-Language: en` (session
callers get the language chosen on the pages). Times are ISO 8601 in UTC."""


def init_api(app):
    """Serve the API, its OpenAPI document and its documentation page on `app`."""
    from forms import FORMS

    from .. import csrf
    from . import applications, cases, processes, tasks

    app.config.update(
        API_TITLE="Tepat API",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": SPEC_DESCRIPTION},
            "security": [{"bearerToken": []}, {"browserSession": []}],
        },
    )
    api = TepatApi(app)
    api.spec.components.security_scheme(
        "bearerToken", {"type": "http", "scheme": "bearer", "description": "An officer's API token (tpt_...)"}
    )
    api.spec.components.security_scheme(
        "browserSession",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": app.config.get("SESSION_COOKIE_NAME", "session"),
            "description": "The signed-in officer's session; writes also need the X-CSRFToken header",
        },
    )
    from .formschemas import register_form_schemas
    from .schemas import ApiApplicationSchema

    api.spec.components.schema("ApiApplication", schema=ApiApplicationSchema)  # the upload's JSON part
    register_form_schemas(api, FORMS)  # the bodies of POST /tasks/{id}/complete: one per form (and variant)
    for blueprint in (cases.bp, tasks.bp, processes.bp, applications.bp):
        csrf.exempt(blueprint)  # tokens need none; session writes are checked in auth.authenticate
        api.register_blueprint(blueprint)
    app.register_blueprint(docs_bp)
    app.before_request(routing_error_as_json)
    app.extensions["tepat_api"] = api
    return api
