"""Assisted registration: facilitators (officers with the facilitator role) register people without
phones, only in their own districts; small pages, and the draft is kept on the server at every step."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.audit import record
from cases.portal.casefile import cases_registered_by
from cases.portal.drafts import (
    DraftIncomplete,
    discard_draft,
    draft_by_key,
    drafts_kept_by,
    next_step,
    open_case_of,
    start_draft,
    submit_draft,
)
from cases.portal.notices import notify_applicant
from cases.statuses import CaseStatus
from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.scope import in_scope
from integrations.nik import NikInvalid, mask_nik, validate_nik

from .. import services
from ..auth import roles_required
from ..messages import error_text
from . import too_large
from .messages import SIGN_IN
from .texts import STATUS_TEXTS
from .wizard import Flow, check_photo, post_photo, post_step, show_step

bp = Blueprint("assist", __name__, url_prefix="/assist")
bp.register_error_handler(413, too_large)
FACILITATOR = "facilitator"


def _audit(action, nik=None, **detail):
    record(
        db.session,
        current_user.actor,
        action,
        target_type="applicant",
        target_id=nik,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


def facilitator_flow(draft):
    """The registration flow of one of the signed-in facilitator's drafts."""
    return Flow(
        channel="facilitator",
        actor=current_user.actor.id,
        audit_actor=current_user.actor,
        step_endpoint="assist.step",
        photo_check_endpoint="assist.photo_check",
        submit_endpoint="assist.submit",
        base_template="portal/assist_base.html",
        url_args={"key": draft.key},
    )


def draft_or_404(key):
    """Return the signed-in facilitator's draft with this key, in one of their districts, else 404."""
    draft = draft_by_key(db.session, key, current_user.actor.id)
    if draft is None or not in_scope(current_user.actor, draft.nik[4:6]):
        with unit_of_work(db.session):
            _audit("assist.draft_refused", key=str(key)[:32])
        abort(404)
    return draft


def _index(nik="", error=None, status=200):
    actor = current_user.actor
    registered = [
        (c, mask_nik(c.nik), STATUS_TEXTS.get(c.status, (c.status, ""))[0])
        for c in cases_registered_by(db.session, actor.id)
    ]
    drafts = [(d, mask_nik(d.nik)) for d in drafts_kept_by(db.session, actor.id)]
    # With workers a new registration is checked after the request: the list follows it (reloads itself).
    checking = services().engine.defer_steps and any(c.status == CaseStatus.SUBMITTED for c, _m, _s in registered)
    asked = request.args.get("registered")
    just = next((c for c, _m, _s in registered if c.case_number == asked and c.channel == "facilitator"), None)
    page = render_template(
        "portal/assist_index.html",
        registered=registered,
        drafts=drafts,
        nik=nik,
        error=error,
        checking=checking,
        just_registered=just,
        regions=sorted(actor.regions) if actor.regions is not None else None,
    )
    with unit_of_work(db.session):
        _audit("assist.list_view", shown=len(registered) + len(drafts))  # names of the people registered
    return page, status


@bp.get("/")
@roles_required(FACILITATOR)
def index():
    """The people this facilitator registered (with each status), drafts to finish, and a new registration."""
    return _index()


@bp.post("/start")
@roles_required(FACILITATOR)
def start():
    """Start (or continue) registering a person by NIK, if they live in one of the facilitator's districts."""
    raw = request.form.get("nik", "").strip()
    try:
        nik = validate_nik(raw)
    except NikInvalid:
        return _index(raw, str(SIGN_IN["NIK_INVALID"]), 422)
    if not in_scope(current_user.actor, nik[4:6]):
        with unit_of_work(db.session):
            _audit("assist.outside_region", nik, district=nik[4:6])
        return _index(
            raw,
            _(
                "This NIK belongs to district %(district)s, which is not one of yours. The facilitators of "
                "that district register its residents.",
                district=nik[4:6],
            ),
            403,
        )
    existing = open_case_of(db.session, nik)
    if existing is not None:
        return _index(
            raw,
            _(
                "This person already has an application (%(number)s); it was not registered again.",
                number=existing.case_number,
            ),
            409,
        )
    with unit_of_work(db.session):
        draft = start_draft(db.session, nik, owner=current_user.actor.id, channel="facilitator")
        _audit("assist.start", nik)
    return redirect(url_for("assist.step", key=draft.key, step=next_step(draft)))


@bp.route("/drafts/<key>/<step>", methods=["GET", "POST"])
@roles_required(FACILITATOR)
def step(key, step):
    """Show or save one step of an assisted registration."""
    draft = draft_or_404(key)
    if request.method == "POST":
        return post_step(facilitator_flow(draft), draft, step)
    return show_step(facilitator_flow(draft), draft, step)


@bp.post("/drafts/<key>/photo")
@roles_required(FACILITATOR)
def photo(key):
    """Take the applicant's photo on the facilitator's device (checked at once)."""
    draft = draft_or_404(key)
    return post_photo(facilitator_flow(draft), draft)


@bp.post("/drafts/<key>/photo/check")
@roles_required(FACILITATOR)
def photo_check(key):
    """Run the face quality checks before the photo is sent (JSON for the optional camera script)."""
    draft = draft_or_404(key)
    return check_photo(facilitator_flow(draft), draft)


@bp.post("/drafts/<key>/submit")
@roles_required(FACILITATOR)
def submit(key):
    """Send the assisted application (a second click lands on the case already made)."""
    draft = draft_or_404(key)
    nik = draft.nik
    try:
        with unit_of_work(db.session):
            app, created = submit_draft(services().engine, draft, actor=current_user.actor.id)
            if app is None:
                # A simultaneous submit won but its case is not in this transaction's snapshot yet (SQLite):
                # drop this attempt (the draft stays) and look again in a fresh transaction.
                db.session.rollback()
                app = open_case_of(db.session, nik)
            if app is not None:
                if created:
                    notify_applicant(
                        services().integrations.notifier, nik, "application_received", {"case_number": app.case_number}
                    )
                record(
                    db.session,
                    current_user.actor,
                    "application.submit" if created else "application.submit_again",
                    target_type="case",
                    target_id=app.case_number,
                    ip=request.remote_addr,
                    user_agent=request.user_agent.string,
                    detail={"channel": "facilitator"},
                )
    except DraftIncomplete as exc:
        flash(_("Please finish this step first."), "warning")
        return redirect(url_for("assist.step", key=key, step=exc.details["step"]))
    except EngineError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("assist.step", key=key, step="review"))
    if app is None:
        flash(_("The application is being sent. It will appear in the list in a moment."), "info")
        return redirect(url_for("assist.index"))
    if created:
        flash(
            _(
                "Registered: %(number)s. Status: %(status)s.",
                number=app.case_number,
                status=STATUS_TEXTS.get(app.status, (app.status, ""))[0],
            ),
            "success",
        )
    else:
        flash(
            _(
                "This person already has an application (%(number)s); it was not registered again.",
                number=app.case_number,
            ),
            "info",
        )
    # The list then offers this registration's receipt to print or share (web/papers.py).
    return redirect(url_for("assist.index", registered=app.case_number))


@bp.post("/drafts/<key>/discard")
@roles_required(FACILITATOR)
def discard(key):
    """Throw a draft away."""
    draft = draft_or_404(key)
    with unit_of_work(db.session):
        _audit("assist.discard", draft.nik)
        discard_draft(db.session, draft)
    flash(_("The draft was removed."), "success")
    return redirect(url_for("assist.index"))
