"""Voluntary graduation (graduasi mandiri) in the portal: the family declares it is self-sufficient, with a
confirmation; processes/graduation.bpmn ends the enrolment and sends the notice and the thank-you letter."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cases.audit import record
from cases.graduation import start_graduation
from cases.statuses import CaseStatus
from engine.db import db, unit_of_work
from engine.errors import EngineError

from .. import services
from ..messages import error_text
from . import bp
from .mycase import own_case_or_404
from .session import applicant_required, current_applicant


def _page(app, error=None, status=200):
    return render_template("portal/graduate.html", app=app, error=error), status


@bp.get("/cases/<case_number>/graduate")
@applicant_required
def graduate(case_number):
    """What graduation means, and the declaration with its confirmation."""
    return _page(own_case_or_404(case_number))


@bp.post("/cases/<case_number>/graduate")
@applicant_required
def graduate_send(case_number):
    """Start the voluntary graduation once the family confirmed its declaration."""
    app = own_case_or_404(case_number)
    if app.status != CaseStatus.ENROLLED:
        return _page(app, status=409)
    if request.form.get("confirm") != "yes":
        return _page(app, _("Tick the box to confirm that your family is self-sufficient."), 422)
    actor = current_applicant().audit_actor
    try:
        with unit_of_work(db.session):
            start_graduation(
                services().engine,
                app.case_number,
                "voluntary",
                actor,
                "family",
                ip=request.remote_addr,
                user_agent=request.user_agent.string,
            )
    except EngineError as exc:
        with unit_of_work(db.session):  # a second unit: the refusal is kept, the graduation is not
            record(
                db.session,
                actor,
                "graduation.refused",
                "case",
                app.case_number,
                ip=request.remote_addr,
                user_agent=request.user_agent.string,
                detail={"code": exc.code},
            )
        flash(error_text(exc), "danger")
        return _page(app, status=409)
    flash(_("Thank you. Your family's graduation is recorded; a letter was sent to you."), "success")
    return redirect(url_for("portal.case", case_number=app.case_number))
