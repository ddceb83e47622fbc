"""An officer's own profile: roles, districts, last sign-in, and a password change."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from cases.accounts import WeakPassword
from cases.officers import OFFICER_ROLES, WrongPassword, change_own_password, district_choices
from engine.db import db

from ..auth import keep_session, roles_required
from . import profile_bp
from .forms import ChangePasswordForm, flat_errors, form_input, password_error
from .officers import origin


def _page(errors=None, status=200):
    return render_template("profile.html", officer=current_user.officer, errors=errors or {},
                           districts=dict(district_choices())), status


@profile_bp.get("/profile")
@roles_required(*OFFICER_ROLES)
def show():
    """Show the signed-in officer's own account."""
    return _page()


@profile_bp.post("/profile/password")
@roles_required(*OFFICER_ROLES)
def password():
    """Change one's own password (the current one is required)."""
    try:
        data = ChangePasswordForm().load(form_input(request.form))
        change_own_password(db.session, current_user.actor, current_user.officer, data["current_password"],
                            data["password"], origin=origin())
        db.session.commit()
        keep_session(current_user.officer)  # the other sessions end; this one goes on
    except ValidationError as exc:
        errors = flat_errors(exc.messages)
        db.session.rollback()
    except WrongPassword:
        db.session.commit()  # keep the audit entry of the refused attempt
        errors = {"current_password": [_("The current password is wrong.")]}
    except WeakPassword as exc:
        db.session.rollback()
        errors = {"password": [password_error(exc)]}
    else:
        flash(_("Your password is changed."), "success")
        return redirect(url_for("profile.show"))
    flash(_("The form has errors; see the fields below."), "danger")
    return _page(errors, 422)
