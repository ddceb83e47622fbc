"""Who calls the API: a bearer token (outside systems) or the signed-in browser session (the pages' scripts).

Token requests carry no ambient credential, so they need no CSRF token; session requests that change
something must send the CSRF token in the X-CSRFToken header, as htmx does. A refused token is written
to the audit log with the client's address.
"""

import functools
from dataclasses import dataclass

from flask import g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from cases.audit import record
from cases.models import Officer
from cases.operations import actor_for
from cases.tokens import ApiToken, TokenRefused, authenticate_token, presented_prefix
from engine.core import Actor
from engine.db import db, unit_of_work

from .errors import api_abort

REFUSAL_CODES = {
    "malformed": "TOKEN_INVALID",
    "unknown": "TOKEN_INVALID",
    "expired": "TOKEN_EXPIRED",
    "revoked": "TOKEN_REVOKED",
    "officer_inactive": "OFFICER_INACTIVE",
}


@dataclass(frozen=True)
class ApiCaller:
    """The officer behind an API request, and the token used (None for the browser session)."""

    officer: Officer
    actor: Actor
    token: ApiToken | None = None

    def has_any(self, *roles):
        """Return True if the caller holds one of `roles`."""
        return bool(self.actor.roles & set(roles))

    @property
    def via(self):
        return "token" if self.token is not None else "session"

    def audit_detail(self, **detail):
        """The detail of an audit entry made through the API: how the caller came in."""
        detail = {"via": f"api-{self.via}", **detail}
        if self.token is not None:
            detail["token"] = self.token.prefix
        return detail


def caller():
    """Return the ApiCaller of this request (set by `api_roles_required`)."""
    return g.api_caller


def _refuse_token(exc, presented):
    """Audit a refused token (origin address, why, which token) and answer 401."""
    token = exc.token
    actor = token.officer.username if token is not None else "-"
    with unit_of_work(db.session):  # the refusal is kept whatever happens next
        record(
            db.session,
            actor,
            "api.token_refused",
            target_type="api_token",
            target_id=token.prefix if token is not None else presented_prefix(presented),
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail={"reason": exc.reason, "path": request.path[:200], "method": request.method},
        )
    api_abort(
        401,
        REFUSAL_CODES.get(exc.reason, "TOKEN_INVALID"),
        headers={"WWW-Authenticate": 'Bearer realm="tepat", error="invalid_token"'},
    )


def _from_token(header):
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    try:
        if scheme.lower() != "bearer" or not presented:
            raise TokenRefused("the Authorization header is not 'Bearer <token>'", "malformed")
        token = authenticate_token(db.session, presented)
    except TokenRefused as exc:
        _refuse_token(exc, presented)
    return ApiCaller(officer=token.officer, actor=actor_for(token.officer), token=token)


def _from_session():
    if not current_user.is_authenticated:
        api_abort(401, "UNAUTHENTICATED")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        from .. import csrf

        try:
            csrf.protect()
        except CSRFError:
            api_abort(400, "CSRF_FAILED")
    return ApiCaller(officer=current_user.officer, actor=current_user.actor)


def authenticate():
    """Return the ApiCaller of this request, or answer 401 (400 for a session write without CSRF token)."""
    header = request.headers.get("Authorization")
    if header is not None:
        return _from_token(header)  # a token decides alone, even next to a session cookie
    return _from_session()


def refuse_out_of_scope(target_type, target_id):
    """Audit a refused request for another district's object (kept: the view's transaction is rolled back)."""
    api_caller = caller()
    db.session.rollback()
    with unit_of_work(db.session):
        record(
            db.session,
            api_caller.actor.id,
            f"{target_type}.refused",
            target_type=target_type,
            target_id=str(target_id),
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail=api_caller.audit_detail(reason="district", path=request.path[:200], method=request.method),
        )


def api_roles_required(*roles):
    """Allow the view to callers holding one of `roles`; commit once after it, roll back if it fails.

    Views flush (audit entries, engine actions, a token's last use); this commits them together.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            g.api_caller = authenticate()
            if not g.api_caller.has_any(*roles):
                api_abort(403, "NOT_ALLOWED")
            with unit_of_work(db.session):
                return view(*args, **kwargs)

        wrapped.api_roles = roles
        return wrapped

    return decorate
