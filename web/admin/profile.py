"""An officer's own profile: roles, districts, last sign-in, and a password change."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate

from cases.accounts import WeakPassword
from cases.audit import record
from cases.officers import OFFICER_ROLES, WrongPassword, change_own_password, district_choices
from engine.db import db, unit_of_work

from ..auth import keep_session, roles_required
from . import profile_bp
from .forms import ChangePasswordForm, flat_errors, form_input, password_error
from .officers import origin


class EmailForm(Schema):
    email = fields.Email(load_default=None, validate=validate.Length(max=254))


@profile_bp.post("/profile/email")
@roles_required(*OFFICER_ROLES)
def email():
    """Set or clear the address one's notifications are mailed to (audited, without the address)."""
    raw = (request.form.get("email") or "").strip()
    try:
        value = EmailForm().load({"email": raw} if raw else {})["email"]
    except ValidationError:
        flash(_("The form has errors; see the fields below."), "danger")
        return _page({"email": [_("Enter one e-mail address, like name@example.go.id.")]}, 422)
    officer = current_user.officer
    with unit_of_work(db.session):
        officer.email = value
        record(
            db.session,
            current_user.actor,
            "officer.email_changed",
            target_type="officer",
            target_id=officer.username,
            ip=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:300],
            detail={"email": "set" if value else "cleared"},
        )
    flash(
        _("Your notification e-mail address is saved.") if value else _("Notifications are no longer mailed to you."),
        "success",
    )
    return redirect(url_for("profile.show"))


def _page(errors=None, status=200):
    return render_template(
        "profile.html", officer=current_user.officer, errors=errors or {}, districts=dict(district_choices())
    ), status


@profile_bp.get("/profile")
@roles_required(*OFFICER_ROLES)
def show():
    """Show the signed-in officer's own account."""
    return _page()


@profile_bp.post("/profile/password")
@roles_required(*OFFICER_ROLES)
def password():
    """Change one's own password (the current one is required)."""
    wrong = False
    try:
        with unit_of_work(db.session):
            data = ChangePasswordForm().load(form_input(request.form))
            try:
                change_own_password(
                    db.session,
                    current_user.actor,
                    current_user.officer,
                    data["current_password"],
                    data["password"],
                    origin=origin(),
                )
            except WrongPassword:
                wrong = True  # committed all the same: keep the audit entry of the refused attempt
    except ValidationError as exc:
        errors = flat_errors(exc.messages)
    except WeakPassword as exc:
        errors = {"password": [password_error(exc)]}
    else:
        if wrong:
            errors = {"current_password": [_("The current password is wrong.")]}
        else:
            keep_session(current_user.officer)  # the other sessions end; this one goes on
            flash(_("Your password is changed."), "success")
            return redirect(url_for("profile.show"))
    flash(_("The form has errors; see the fields below."), "danger")
    return _page(errors, 422)
