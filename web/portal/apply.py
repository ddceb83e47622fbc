"""The applicant's own registration: consent, family, payment, photo, review and submit."""

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from cases.audit import record
from cases.portal.drafts import DraftIncomplete, draft_of, next_step, open_case_of, start_draft, submit_draft
from cases.portal.notices import notify_applicant
from engine.db import db, unit_of_work
from engine.errors import EngineError
from integrations.face import sniff_image_type

from .. import services
from ..messages import error_text
from . import bp
from .session import applicant_required, current_applicant
from .wizard import Flow, check_photo, post_photo, post_step, show_step


def applicant_flow():
    """The registration flow of the signed-in applicant."""
    return Flow(
        channel="self",
        actor=current_applicant().audit_actor,
        step_endpoint="portal.apply_step",
        photo_check_endpoint="portal.apply_photo_check",
        submit_endpoint="portal.apply_submit",
        base_template="portal/applicant_base.html",
        selfie_preview_endpoint="portal.apply_selfie",
    )


def _existing_case():
    """If the applicant has an open case, send them there (no second application)."""
    existing = open_case_of(db.session, current_applicant().nik)
    if existing is None:
        return None
    flash(_("You already have an application: %(number)s.", number=existing.case_number), "info")
    return redirect(url_for("portal.case", case_number=existing.case_number))


@bp.get("/apply")
@applicant_required
def apply():
    """Start (or continue) the applicant's registration where they left it."""
    found = _existing_case()
    if found:
        return found
    with unit_of_work(db.session):
        draft = start_draft(db.session, current_applicant().nik)
    return redirect(url_for("portal.apply_step", step=next_step(draft)))


def _draft_or_redirect():
    found = _existing_case()
    if found:
        return None, found
    draft = draft_of(db.session, current_applicant().nik)
    if draft is None:
        return None, redirect(url_for("portal.apply"))
    return draft, None


@bp.route("/apply/<step>", methods=["GET", "POST"])
@applicant_required
def apply_step(step):
    """Show or save one registration step (the draft is kept on the server)."""
    draft, elsewhere = _draft_or_redirect()
    if elsewhere:
        return elsewhere
    if request.method == "POST":
        return post_step(applicant_flow(), draft, step)
    return show_step(applicant_flow(), draft, step)


@bp.post("/apply/photo")
@applicant_required
def apply_photo():
    """Take the selfie (checked at once; a refused photo leaves the draft as it was)."""
    draft, elsewhere = _draft_or_redirect()
    if elsewhere:
        return elsewhere
    return post_photo(applicant_flow(), draft)


@bp.post("/apply/photo/check")
@applicant_required
def apply_photo_check():
    """Run the face quality checks on a photo before it is sent (JSON for the page's script)."""
    draft = draft_of(db.session, current_applicant().nik)
    if draft is None:
        abort(404)
    return check_photo(applicant_flow(), draft)


@bp.get("/apply/selfie")
@applicant_required
def apply_selfie():
    """The accepted selfie of the applicant's own draft (for the review page; never cached)."""
    draft = draft_of(db.session, current_applicant().nik)
    data = services().photos.read(draft.selfie_ref) if draft is not None and draft.selfie_ref else None
    kind = sniff_image_type(data) if data else None
    if kind is None:
        abort(404)
    return Response(
        data,
        mimetype=f"image/{kind.lower()}",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@bp.post("/apply/submit")
@applicant_required
def apply_submit():
    """Send the application; a second click or a second tab lands on the case already made."""
    applicant = current_applicant()
    draft = draft_of(db.session, applicant.nik)
    if draft is None:
        return _existing_case() or redirect(url_for("portal.apply"))
    try:
        with unit_of_work(db.session):
            app, created = submit_draft(services().engine, draft, actor=applicant.audit_actor)
            if app is None:
                # A simultaneous submit won but its case is not visible in this transaction's snapshot yet
                # (SQLite): nothing of ours to keep; look again in a fresh transaction.
                db.session.rollback()
                app = open_case_of(db.session, applicant.nik)
            if app is not None:
                if created:
                    notify_applicant(
                        services().integrations.notifier,
                        applicant.nik,
                        "application_received",
                        {"case_number": app.case_number},
                    )
                record(
                    db.session,
                    applicant.audit_actor,
                    "application.submit" if created else "application.submit_again",
                    target_type="case",
                    target_id=app.case_number,
                    ip=request.remote_addr,
                    user_agent=request.user_agent.string,
                )
    except DraftIncomplete as exc:
        flash(_("Please finish this step first."), "warning")
        return redirect(url_for("portal.apply_step", step=exc.details["step"]))
    except EngineError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("portal.apply_step", step="review"))
    if app is None:
        flash(_("Your application is being sent. Open your case in a moment."), "info")
        return redirect(url_for("portal.home"))
    if created:
        flash(_("Your application was sent: %(number)s.", number=app.case_number), "success")
    else:
        flash(
            _("Your application was already sent: %(number)s. Nothing was sent twice.", number=app.case_number), "info"
        )
    return redirect(url_for("portal.case", case_number=app.case_number))
