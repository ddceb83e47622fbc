"""Administrators' pages: the officer list, create and edit accounts, lock and password actions, coverage."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from marshmallow import ValidationError

from cases.accounts import WeakPassword
from cases.audit import record
from cases.officer_queries import OfficerFilter, district_coverage, search_officers
from cases.officers import (
    LastAdministrator,
    OfficerNotFound,
    SelfLockout,
    UsernameTaken,
    add_officer,
    deactivate_officer,
    district_choices,
    officer_by_id_or_404,
    reactivate_officer,
    reset_password,
    unlock_officer,
    update_officer,
)
from engine.db import db, unit_of_work, utcnow
from engine.scope import OutOfScope, may_manage

from .. import services
from ..auth import roles_required
from ..refusals import log_refusal
from . import bp
from .forms import (
    CreateOfficerForm,
    EditOfficerForm,
    OfficerQuery,
    ResetPasswordForm,
    flat_errors,
    form_input,
    password_error,
)

ADMINS = ("administrator",)
REFUSALS = {
    "SELF_LOCKOUT": _l(
        "You cannot remove your own administrator role or deactivate yourself; ask another "
        "administrator. Change your own password on your profile page."
    ),
    "LAST_ADMINISTRATOR": _l("This is the last active administrator: appoint another administrator first."),
    "NOT_ALLOWED": _l("You may give only districts that you work in yourself."),
}


def origin():
    """The client's address and browser, for the audit trail."""
    return request.remote_addr, (request.user_agent.string or "")[:300]


def _officer_or_404(officer_id):
    """The officer, if the signed-in administrator may manage them (district scope: engine/scope.py), else 404."""
    try:
        officer = officer_by_id_or_404(db.session, officer_id)
    except OfficerNotFound:
        abort(404)
    if not may_manage(current_user.actor, officer.regions):
        log_refusal("officer.refused", "officer", officer.username, reason="district")
        abort(404)  # an officer of other districts: do not confirm the account exists
    return officer


def _out_of_scope(exc):
    """A district-limited administrator gave districts beyond their own: audited, shown beside the districts."""
    log_refusal(  # its own unit (the refused change was rolled back)
        "officer.refused",
        "officer",
        request.form.get("username") or request.view_args.get("officer_id"),
        reason="grant",
    )
    return {"regions": [str(REFUSALS["NOT_ALLOWED"])]}


def _regions(data):
    return None if data["region_scope"] == "all" else data["regions"]


def _form_error(errors, status=422):
    flash(_("The form has errors; see the fields below."), "danger")
    return errors, status


def _render_form(officer, values, errors, password_errors=None, status=200):
    own = current_user.actor.regions  # a district-limited administrator offers only their own districts
    districts = [(code, name) for code, name in district_choices() if own is None or code in own]
    return render_template(
        "admin_officer_form.html",
        officer=officer,
        values=values,
        errors=errors,
        password_errors=password_errors or {},
        districts=districts,
        every_district=own is None,
        now=utcnow(),
    ), status


@bp.get("/officers")
@roles_required(*ADMINS)
def officers():
    """List officers: search by name or username, filter by role, district and state."""
    args = {k: v for k, v in request.args.items() if v != ""}
    try:
        query = OfficerQuery().load(args)
    except ValidationError as exc:
        flash(_("Some filters were not valid and were ignored."), "warning")
        query = OfficerQuery().load({k: v for k, v in args.items() if k not in exc.messages})
    rows, total, pages = search_officers(db.session, OfficerFilter(**query), within=current_user.actor.regions)
    return render_template(
        "admin_officers.html",
        rows=rows,
        total=total,
        pages=pages,
        query=query,
        districts=dict(district_choices()),
        now=utcnow(),
    )


@bp.route("/officers/new", methods=["GET", "POST"])
@roles_required(*ADMINS)
def create():
    """Create an officer account with roles, districts and a first password."""
    if request.method == "GET":
        scope = "all" if current_user.actor.regions is None else "some"
        return _render_form(None, {"region_scope": scope, "roles": [], "regions": []}, {})
    values = form_input(request.form)
    try:
        with unit_of_work(db.session):
            data = CreateOfficerForm().load(values)
            officer = add_officer(
                db.session,
                current_user.actor,
                data["username"],
                data["name"],
                data["roles"],
                _regions(data),
                data["password"],
                origin=origin(),
            )
            _set_email(officer, data.get("email"))
    except ValidationError as exc:
        errors = flat_errors(exc.messages)
    except UsernameTaken:
        errors = {"username": [_("This username is taken.")]}
    except OutOfScope as exc:
        errors = _out_of_scope(exc)
    except WeakPassword as exc:
        errors = {"password": [password_error(exc)]}
    else:
        flash(_("Officer %(name)s created.", name=officer.username), "success")
        return redirect(url_for("admin.edit", officer_id=officer.id))
    errors, status = _form_error(errors)
    return _render_form(None, values, errors, status=status)


def _set_email(officer, email):
    """Set the officer's notification address (after the scope checks passed); audited without the address."""
    if (email or None) == officer.email:
        return
    officer.email = email or None
    record(
        db.session,
        current_user.actor,
        "officer.email_changed",
        target_type="officer",
        target_id=officer.username,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:300],
        detail={"email": "set" if email else "cleared"},
    )


def _values_of(officer):
    return {
        "email": officer.email or "",
        "name": officer.name,
        "roles": list(officer.roles or []),
        "region_scope": "all" if officer.regions is None else "some",
        "regions": list(officer.regions or []),
    }


@bp.route("/officers/<int:officer_id>", methods=["GET", "POST"])
@roles_required(*ADMINS)
def edit(officer_id):
    """Show an officer's account; change their name, roles and districts."""
    officer = _officer_or_404(officer_id)
    if request.method == "GET":
        page = _render_form(officer, _values_of(officer), {})
        with unit_of_work(db.session):
            record(
                db.session,
                current_user.actor,
                "officer.view",
                target_type="officer",
                target_id=officer.username,
                ip=request.remote_addr,
                user_agent=request.user_agent.string,
            )
        return page
    values = form_input(request.form)
    try:
        with unit_of_work(db.session):
            data = EditOfficerForm().load(values)
            released = update_officer(
                services().engine,
                current_user.actor,
                officer,
                data["name"],
                data["roles"],
                _regions(data),
                origin=origin(),
            )
            _set_email(officer, data.get("email"))
    except ValidationError as exc:
        errors = flat_errors(exc.messages)
    except (SelfLockout, LastAdministrator) as exc:
        errors = {"roles": [str(REFUSALS[exc.code])]}
    except OutOfScope as exc:
        errors = _out_of_scope(exc)
    else:
        flash(_("Changes saved."), "success")
        if released:
            flash(_("%(n)d claimed task(s) went back to their queues.", n=len(released)), "info")
        return redirect(url_for("admin.edit", officer_id=officer_id))
    errors, status = _form_error(errors)
    return _render_form(_officer_or_404(officer_id), values, errors, status=status)


@bp.post("/officers/<int:officer_id>/<any(deactivate, reactivate, unlock):action>")
@roles_required(*ADMINS)
def act(officer_id, action):
    """Deactivate (releasing claimed tasks), reactivate or unlock an officer."""
    officer = _officer_or_404(officer_id)
    actor = current_user.actor
    try:
        with unit_of_work(db.session):
            if action == "deactivate":
                released = deactivate_officer(services().engine, actor, officer, origin=origin())
            elif action == "reactivate":
                released = reactivate_officer(db.session, actor, officer, origin=origin())
            else:
                released = unlock_officer(db.session, actor, officer, origin=origin())
    except (SelfLockout, LastAdministrator) as exc:
        flash(str(REFUSALS[exc.code]), "danger")
        return redirect(url_for("admin.edit", officer_id=officer_id))
    messages = {
        "deactivate": _("The account is deactivated: it can no longer sign in."),
        "reactivate": _("The account is active again."),
        "unlock": _("The account is unlocked."),
    }
    flash(messages[action], "success")
    if released:
        flash(_("%(n)d claimed task(s) went back to their queues.", n=len(released)), "info")
    return redirect(url_for("admin.edit", officer_id=officer_id))


@bp.post("/officers/<int:officer_id>/password")
@roles_required(*ADMINS)
def password(officer_id):
    """Give an officer a new password (they should change it on their profile page)."""
    officer = _officer_or_404(officer_id)
    values = form_input(request.form)
    try:
        with unit_of_work(db.session):
            data = ResetPasswordForm().load(values)
            reset_password(db.session, current_user.actor, officer, data["password"], origin=origin())
    except ValidationError as exc:
        errors = flat_errors(exc.messages)
    except WeakPassword as exc:
        errors = {"password": [password_error(exc)]}
    except SelfLockout as exc:
        errors = {"password": [str(REFUSALS[exc.code])]}
    else:
        flash(_("New password set. Give it to the officer in person."), "success")
        return redirect(url_for("admin.edit", officer_id=officer_id))
    errors, status = _form_error(errors)
    officer = _officer_or_404(officer_id)
    return _render_form(officer, _values_of(officer), {}, password_errors=errors, status=status)


@bp.get("/regions")
@roles_required(*ADMINS)
def regions():
    """Active officers per role in each district; districts without a caseworker or supervisor stand out."""
    coverage = district_coverage(db.session)
    return render_template("admin_regions.html", coverage=coverage, gaps=[c for c in coverage if c.missing])
