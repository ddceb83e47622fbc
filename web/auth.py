"""Officer sign-in (Flask-Login), session expiry, and the role check every page uses."""

import functools

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from marshmallow import Schema, ValidationError, fields, validate

from cases.accounts import AccountLocked, LoginFailed, authenticate
from cases.audit import record
from cases.models import Officer
from cases.officers import OFFICER_ROLES  # noqa: F401  (the one role list; pages import it from here)
from cases.operations import actor_for
from engine.db import db, unit_of_work
from integrations.digits import is_ascii_digits

from .redirects import safe_next

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = None
login_manager.session_protection = "strong"


class SignedInOfficer(UserMixin):
    """The Flask-Login user: an officer row and its engine Actor."""

    def __init__(self, officer):
        self.officer = officer
        self.id = str(officer.id)
        self.actor = actor_for(officer)

    @property
    def roles(self):
        return self.actor.roles

    def has_any(self, *roles):
        """Return True if the officer holds one of `roles`."""
        return bool(self.actor.roles & set(roles))


EPOCH_KEY = "officer_epoch"


@login_manager.user_loader
def load_officer(officer_id):
    """Load the signed-in officer; a deactivated account, or a session of an ended epoch, is signed out.

    Sessions live in the signed cookie, so the server ends them by epoch: each session remembers the
    officer's `session_epoch` at sign-in; sign-out, a password change or reset and deactivation raise
    it (cases.officers.end_sessions), and every session of an earlier epoch (a copied cookie too) is
    then refused here.
    """
    officer = db.session.get(Officer, int(officer_id)) if is_ascii_digits(officer_id) and len(officer_id) < 10 else None
    if officer is None or not officer.active or session.get(EPOCH_KEY) != (officer.session_epoch or 0):
        return None
    return SignedInOfficer(officer)


def keep_session(officer):
    """Carry the current session into the officer's new epoch (after their own password change)."""
    session[EPOCH_KEY] = officer.session_epoch or 0


def roles_required(*roles):
    """Allow the view only to signed-in officers holding one of `roles` (403 otherwise)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_any(*roles):
                from .refusals import log_refusal

                log_refusal("access.refused", reason="role", needs=sorted(roles))
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = frozenset(roles)  # read by the menu (web/menu.py)
        return wrapped

    return decorate


class LoginSchema(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with username and password."""
    if request.method == "POST":
        try:
            data = LoginSchema().load(
                {"username": request.form.get("username", ""), "password": request.form.get("password", "")}
            )
        except ValidationError:
            flash(_("Enter your username and password."), "danger")
            return render_template("login.html"), 400
        refused = None
        with unit_of_work(db.session):  # a refusal commits too: the failure count and the audit entry are kept
            try:
                officer = authenticate(db.session, data["username"], data["password"])
            except AccountLocked as exc:
                refused = exc
                _audit(data["username"], "login.locked")
            except LoginFailed as exc:
                refused = exc
                _audit(data["username"], "login.failed")
            else:
                _audit(officer.username, "login.success")
        if isinstance(refused, AccountLocked):
            flash(_("Too many failed sign-ins. The account is locked for 15 minutes."), "danger")
            return render_template("login.html"), 429
        if refused is not None:
            flash(_("Wrong username or password."), "danger")
            return render_template("login.html"), 401
        session.clear()  # no session fixation
        session.permanent = True
        session[EPOCH_KEY] = officer.session_epoch or 0
        user = SignedInOfficer(officer)
        login_user(user)
        return redirect(safe_next(request.args.get("next")) or landing_page(user))
    return render_template("login.html")


def landing_page(user):
    """Where an officer starts: the role's own first page, one every role holding it may open (never a 403).

    Task workers start at the inbox, finance officers at the payment cycles, auditors and administrators
    in the audit browser, facilitators at their assisted registrations.
    """
    if user.has_any("caseworker", "supervisor", "appeals_officer"):
        return url_for("inbox.index")
    if user.has_any("finance_officer"):
        return url_for("cycles.index")
    if user.has_any("auditor", "administrator"):
        return url_for("auditpages.entries")
    if user.has_any("facilitator"):
        return url_for("assist.index")
    return url_for("status.index")


@bp.get("/")
def start():
    """The site's address: every signed-in officer goes to their role's start page; anyone else signs in."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return redirect(landing_page(current_user))


def _audit(username, action):
    record(
        db.session,
        username[:100],
        action,
        target_type="officer",
        target_id=username[:100],
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
    )


@bp.post("/logout")
def logout():
    """Sign out: this officer's sessions end everywhere (other browsers included)."""
    if current_user.is_authenticated:
        from cases.officers import end_sessions

        with unit_of_work(db.session):
            end_sessions(current_user.officer)  # every session of this officer ends, copies of the cookie too
            _audit(current_user.actor.id, "logout")
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def set_language(code):
    """Switch the interface language (Indonesian or English)."""
    if code in ("id", "en"):
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")) or url_for("auth.start"))
