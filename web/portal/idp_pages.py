"""The sandbox digital-ID provider's pages and OpenID Connect endpoints, under /idp/.

It stands in for Dukcapil's digital ID in the demo and the tests: the portal signs in through it
exactly as through a real provider (authorization code, PKCE, signed ID token). Only served when
BANSOS_IDP_BACKEND is "sandbox".
"""

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError, fields

from cases.audit import record
from engine.db import db, unit_of_work
from integrations.base import TransientIntegrationError
from integrations.digits import Digits
from integrations.idp.sandbox import AuthorizationRequestInvalid, ChallengeRefused, TokenRequestRefused

from .messages import sign_in_text
from .wiring import portal_services

bp = Blueprint("idp", __name__, url_prefix="/idp")
REQUEST_KEY, CHALLENGE_KEY, DEMO_CODE_KEY = "idp_request", "idp_challenge", "idp_demo_code"


class IdentityForm(Schema):
    nik = fields.String(required=True, validate=Digits(16))
    birth_date = fields.Date(required=True)


def _server():
    server = portal_services().sandbox_idp
    if server is None:
        abort(404)  # a real provider is configured: the sandbox does not exist
    return server


def _audit(action, nik=None, **detail):
    record(
        db.session,
        "idp-sandbox",
        action,
        target_type="applicant",
        target_id=nik,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/.well-known/openid-configuration")
def discovery():
    """The provider's OpenID Connect discovery document."""
    return jsonify(_server().discovery())


@bp.get("/jwks")
def jwks():
    """The provider's public signing keys."""
    return jsonify(_server().jwks())


@bp.post("/token")
def token():
    """Exchange an authorization code (with the client's secret and the PKCE verifier) for tokens."""
    server = _server()
    auth = request.authorization
    basic = (auth.username, auth.password) if auth and auth.type == "basic" else None
    refused = None
    with unit_of_work(db.session):  # a refused exchange commits too: a used-up code stays used up
        try:
            answer = server.exchange(request.form.to_dict(), basic)
        except TokenRequestRefused as exc:
            refused = exc
    if refused is not None:
        return _no_store(jsonify(error=refused.error, error_description=refused.description)), refused.status
    return _no_store(jsonify(answer))


@bp.get("/authorize")
def authorize():
    """Check the client's request, then ask for the NIK and date of birth."""
    server = _server()
    try:
        checked = server.check_authorization_request(request.args.to_dict(), request.host)
    except AuthorizationRequestInvalid as exc:
        if exc.redirect:
            return redirect(server.redirect_with(request.args.to_dict(), error=exc.error))
        return render_template("portal/idp_error.html"), 400
    session[REQUEST_KEY] = checked
    session.pop(CHALLENGE_KEY, None)
    session.pop(DEMO_CODE_KEY, None)
    return render_template("portal/idp_identity.html", values={}, errors={})


@bp.post("/authorize")
def identify():
    """Check the NIK and date of birth against the civil registry and send a one-time code."""
    server = _server()
    if REQUEST_KEY not in session:
        return render_template("portal/idp_error.html", expired=True), 400
    values = {"nik": request.form.get("nik", "").strip(), "birth_date": request.form.get("birth_date", "").strip()}
    try:
        data = IdentityForm().load(values)
    except ValidationError as exc:
        errors = {}
        if "nik" in exc.messages:
            errors["nik"] = sign_in_text(ChallengeRefused("NIK_INVALID"))
        if "birth_date" in exc.messages:
            errors["birth_date"] = _("Enter your date of birth.")
        return render_template("portal/idp_identity.html", values=values, errors=errors), 400
    refused = None
    try:
        with unit_of_work(db.session):  # a refusal commits too: the failure counts towards the lock
            try:
                challenge = server.start_challenge(data["nik"], data["birth_date"], request.remote_addr)
            except ChallengeRefused as exc:
                refused = exc
                if exc.code in ("NO_MATCH", "LOCKED", "RATE_LIMITED"):
                    action = {
                        "NO_MATCH": "idp.identity_failed",
                        "LOCKED": "idp.refused_locked",
                        "RATE_LIMITED": "idp.rate_limited",
                    }[exc.code]
                    _audit("idp.locked" if exc.locked_now else action, data["nik"], code=exc.code)
            else:
                _audit("idp.code_sent", challenge.nik)
    except TransientIntegrationError:  # rolled back: the registry did not answer, nothing counts
        return render_template(
            "portal/idp_identity.html",
            values=values,
            errors={},
            refusal=sign_in_text(ChallengeRefused("PROVIDER_UNAVAILABLE")),
        ), 503
    if refused is not None:
        status = 429 if refused.code in ("LOCKED", "RATE_LIMITED") else 400
        return render_template(
            "portal/idp_identity.html", values=values, errors={}, refusal=sign_in_text(refused)
        ), status
    session[CHALLENGE_KEY] = challenge.handle
    if current_app.config["BANSOS_DEMO_SHOW_OTP"]:
        session[DEMO_CODE_KEY] = challenge.code
    return redirect(url_for("idp.verify"))


@bp.get("/verify")
def verify():
    """Ask for the one-time code sent by SMS."""
    _server()
    if CHALLENGE_KEY not in session or REQUEST_KEY not in session:
        return redirect(url_for("portal.signin"))
    return render_template("portal/idp_code.html", demo_code=_demo_code())


def _demo_code():
    return session.get(DEMO_CODE_KEY) if current_app.config["BANSOS_DEMO_SHOW_OTP"] else None


@bp.post("/verify")
def check_code():
    """Check the one-time code; on success send the browser back to the portal with an authorization code."""
    server = _server()
    checked = session.get(REQUEST_KEY)
    if CHALLENGE_KEY not in session or checked is None:
        return render_template("portal/idp_error.html", expired=True), 400
    refused = None
    with unit_of_work(db.session):  # a refusal commits too: the attempt counts
        try:
            nik = server.verify_code(session[CHALLENGE_KEY], request.form.get("code", ""), request.remote_addr)
        except ChallengeRefused as exc:
            refused = exc
            if exc.code in ("CODE_WRONG", "TOO_MANY_ATTEMPTS", "LOCKED"):
                _audit("idp.locked" if exc.locked_now else "idp.code_failed", exc.nik, code=exc.code)
        else:
            code = server.issue_authorization_code(nik, checked)
            _audit("idp.code_verified", nik)
    if refused is not None:
        restart = refused.code not in ("CODE_WRONG",)
        status = 429 if refused.code == "LOCKED" else 400
        return render_template(
            "portal/idp_code.html",
            refusal=sign_in_text(refused),
            restart=restart,
            demo_code=None if restart else _demo_code(),
        ), status
    for key in (REQUEST_KEY, CHALLENGE_KEY, DEMO_CODE_KEY):
        session.pop(key, None)
    return redirect(server.redirect_with(checked, code=code))


@bp.post("/cancel")
def cancel():
    """Go back to the portal without signing in."""
    _server()
    checked = session.pop(REQUEST_KEY, None)
    session.pop(CHALLENGE_KEY, None)
    session.pop(DEMO_CODE_KEY, None)
    if checked is None:
        return redirect(url_for("portal.index"))
    return redirect(_server().redirect_with(checked, error="access_denied"))
