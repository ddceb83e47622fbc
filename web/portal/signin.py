"""Portal sign-in with the digital ID (OpenID Connect), and sign-out."""
from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from cases.audit import record
from cases.portal.sessions import end_applicant_session, open_applicant_session
from engine.db import db
from integrations.base import IntegrationError
from integrations.idp.base import SignInFailed

from .. import services
from . import bp
from .messages import sign_in_text
from .session import current_applicant, forget_applicant, remember_applicant
from .wiring import portal_services

PENDING_KEY = "portal_oidc"


def _callback_url():
    return url_for("portal.callback", _external=True)


def _local(target):
    # Only local paths: the sign-in must not become an open redirect.
    return target if target and target.startswith("/") and not target.startswith("//") else None


def _audit(actor, action, nik=None, **detail):
    record(db.session, actor, action, target_type="applicant", target_id=nik, ip=request.remote_addr,
           user_agent=request.user_agent.string, detail=detail or None)


@bp.get("/")
def index():
    """The portal's front page: what it is for, and sign-in with the digital ID."""
    if current_applicant() is not None:
        return redirect(url_for("portal.home"))
    return render_template("portal/index.html", next=_local(request.args.get("next")))


@bp.get("/signin")
def signin():
    """Send the browser to the digital-ID provider (state, nonce and PKCE kept in the session)."""
    try:
        started = portal_services().identity.begin(_callback_url())
    except SignInFailed as exc:
        flash(sign_in_text(exc), "danger")
        return redirect(url_for("portal.index"))
    session[PENDING_KEY] = {**started.pending, "next": _local(request.args.get("next"))}
    return redirect(started.url)


@bp.get("/callback")
def callback():
    """Finish the sign-in: exchange the code, verify the ID token, open the applicant's session."""
    pending = session.pop(PENDING_KEY, None)
    try:
        # First, before this request writes anything: the token request may reach this same app.
        identity = portal_services().identity.complete(pending, request.args.to_dict(), _callback_url())
    except SignInFailed as exc:
        _audit("applicant", "applicant.sign_in_failed", code=exc.code, reason=str(exc)[:100])
        db.session.commit()
        flash(sign_in_text(exc), "danger")
        return redirect(url_for("portal.index")), 302
    try:
        person = services().integrations.civil_registry.lookup_person(identity.nik)
    except IntegrationError:
        person = None  # signed in all the same; the pages that need the registry look it up again
    token, row = open_applicant_session(db.session, identity.nik, person, issuer=identity.issuer,
                                        client_ip=request.remote_addr)
    _audit(f"applicant:{identity.nik}", "applicant.sign_in", identity.nik, issuer=identity.issuer)
    db.session.commit()
    remember_applicant(token)
    return redirect(_local((pending or {}).get("next")) or url_for("portal.home"))


@bp.post("/signout")
def signout():
    """Sign the applicant out (the session is ended on the server too)."""
    applicant = current_applicant()
    token = forget_applicant()
    if token:
        end_applicant_session(db.session, token)
        if applicant is not None:
            _audit(applicant.audit_actor, "applicant.sign_out", applicant.nik)
        db.session.commit()
    flash(_("You have signed out."), "success")
    return redirect(url_for("portal.index"))
