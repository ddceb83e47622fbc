"""Portal sign-in with the digital ID (OpenID Connect), and sign-out."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from cases.audit import record
from cases.portal.sessions import end_applicant_session, open_applicant_session
from engine.db import db, unit_of_work
from integrations.base import IntegrationError
from integrations.idp.base import SignInFailed

from .. import services
from ..redirects import safe_next
from . import bp
from .messages import sign_in_text
from .session import current_applicant, forget_applicant, remember_applicant
from .wiring import portal_services

# The pending sign-in (state, nonce, PKCE verifier) rides in a cookie of its own, signed, sent only to
# the callback: no other response rewrites it, unlike the shared session cookie, which a concurrent
# request (an icon, a second tab) could write back without it.
PENDING_COOKIE = "tepat_signin"
PENDING_MAX_AGE = 600


def _pending_serializer():
    return URLSafeTimedSerializer(current_app.secret_key, salt="portal-sign-in")


def _read_pending():
    raw = request.cookies.get(PENDING_COOKIE)
    if not raw:
        return None
    try:
        return _pending_serializer().loads(raw, max_age=PENDING_MAX_AGE)
    except BadSignature:
        return None


def _callback_url():
    return url_for("portal.callback", _external=True)


def _audit(actor, action, nik=None, **detail):
    record(
        db.session,
        actor,
        action,
        target_type="applicant",
        target_id=nik,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


@bp.get("/")
def index():
    """The portal's front page: what it is for, and sign-in with the digital ID."""
    if current_applicant() is not None:
        return redirect(url_for("portal.home"))
    return render_template("portal/index.html", next=safe_next(request.args.get("next")))


@bp.get("/signin")
def signin():
    """Send the browser to the digital-ID provider (state, nonce and PKCE kept in a signed cookie)."""
    try:
        started = portal_services().identity.begin(_callback_url())
    except SignInFailed as exc:
        flash(sign_in_text(exc), "danger")
        return redirect(url_for("portal.index"))
    response = redirect(started.url)
    response.set_cookie(
        PENDING_COOKIE,
        _pending_serializer().dumps({**started.pending, "next": safe_next(request.args.get("next"))}),
        max_age=PENDING_MAX_AGE,
        path=url_for("portal.callback"),
        httponly=True,
        samesite="Lax",
        secure=current_app.config["BANSOS_FORCE_HTTPS"],
    )
    return response


@bp.get("/callback")
def callback():
    """Finish the sign-in: exchange the code, verify the ID token, open the applicant's session."""
    pending = _read_pending()
    try:
        # First, before this request writes anything: the token request may reach this same app.
        identity = portal_services().identity.complete(pending, request.args.to_dict(), _callback_url())
    except SignInFailed as exc:
        with unit_of_work(db.session):
            _audit("applicant", "applicant.sign_in_failed", code=exc.code, reason=str(exc)[:100])
        flash(sign_in_text(exc), "danger")
        return _forget_pending(redirect(url_for("portal.index")))
    try:
        person = services().integrations.civil_registry.lookup_person(identity.nik)
    except IntegrationError:
        person = None  # signed in all the same; the pages that need the registry look it up again
    with unit_of_work(db.session):
        token, row = open_applicant_session(
            db.session, identity.nik, person, issuer=identity.issuer, client_ip=request.remote_addr
        )
        _audit(f"applicant:{identity.nik}", "applicant.sign_in", identity.nik, issuer=identity.issuer)
    remember_applicant(token)
    return _forget_pending(redirect(safe_next((pending or {}).get("next")) or url_for("portal.home")))


def _forget_pending(response):
    # Single use: a replayed callback finds no pending sign-in.
    response.delete_cookie(PENDING_COOKIE, path=url_for("portal.callback"))
    return response


@bp.post("/signout")
def signout():
    """Sign the applicant out (the session is ended on the server too)."""
    applicant = current_applicant()
    token = forget_applicant()
    if token:
        with unit_of_work(db.session):
            end_applicant_session(db.session, token)
            if applicant is not None:
                _audit(applicant.audit_actor, "applicant.sign_out", applicant.nik)
    flash(_("You have signed out."), "success")
    return redirect(url_for("portal.index"))
