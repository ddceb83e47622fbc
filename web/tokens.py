"""API token pages: each officer creates, lists and revokes their own tokens; administrators see everyone's."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from cases.audit import record
from cases.tokens import TokenError, all_tokens, issue_token, revoke_token, tokens_of
from engine.db import db, unit_of_work, utcnow
from forms.tokens import EXPIRY_CHOICES, ApiTokenForm

from .auth import OFFICER_ROLES, roles_required

bp = Blueprint("tokens", __name__)


def _audit(action, token, **detail):
    record(
        db.session,
        current_user.actor,
        action,
        target_type="api_token",
        target_id=token.prefix,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail={"officer": token.officer.username, "name": token.name, **detail},
    )


def _page(secret=None, errors=None, values=None, status=200):
    response = render_template(
        "tokens.html",
        tokens=tokens_of(db.session, current_user.officer),
        all_view=False,
        secret=secret,
        errors=errors or {},
        values=values or {},
        choices=EXPIRY_CHOICES,
        now=utcnow(),
    )
    # The page may carry a secret shown once: never cache it.
    return response, status, {"Cache-Control": "no-store"}


@bp.get("/tokens")
@roles_required(*OFFICER_ROLES)
def mine():
    """List the officer's own API tokens, with a form to create one."""
    return _page()


@bp.post("/tokens")
@roles_required(*OFFICER_ROLES)
def create():
    """Create an API token for the officer and show its secret once."""
    values = {"name": request.form.get("name", ""), "days": request.form.get("days", "")}
    try:
        data = ApiTokenForm().load({k: v for k, v in values.items() if v != ""})
    except ValidationError as exc:
        flash(_("The token was not created; see the fields below."), "danger")
        return _page(errors=exc.messages, values=values, status=422)
    try:
        with unit_of_work(db.session):
            token, secret = issue_token(
                db.session, current_user.officer, data["name"], data["days"], created_by=current_user.actor.id
            )
            _audit("token.create", token, days=data["days"])
    except TokenError as exc:
        flash(_("The token was not created; see the fields below."), "danger")
        return _page(errors={exc.details.get("field", "name"): [exc.message]}, values=values, status=422)
    return _page(secret=secret, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required(*OFFICER_ROLES)
def revoke(token_id):
    """Revoke one of the officer's tokens (administrators: anyone's)."""
    admin = current_user.has_any("administrator")
    try:
        with unit_of_work(db.session):
            token = revoke_token(
                db.session, token_id, by=current_user.actor.id, owner=None if admin else current_user.officer
            )
            _audit("token.revoke", token)
    except TokenError:
        abort(404)
    flash(_("Token %(name)s revoked.", name=token.name), "success")
    back = "tokens.everyone" if admin and request.form.get("back") == "all" else "tokens.mine"
    return redirect(url_for(back))


@bp.get("/tokens/all")
@roles_required("administrator")
def everyone():
    """List every officer's API tokens (administrators)."""
    return render_template(
        "tokens.html",
        tokens=all_tokens(db.session),
        all_view=True,
        secret=None,
        errors={},
        values={},
        choices=EXPIRY_CHOICES,
        now=utcnow(),
    )
