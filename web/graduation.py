"""Graduation for officers: the families meeting the criteria (to start a criteria graduation, which a
caseworker then confirms), and a family's voluntary declaration recorded by its facilitator or an officer."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.graduation import criteria_candidates, start_graduation
from cases.models import Application
from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.scope import OutOfScope, scoped

from .auth import roles_required
from .messages import error_text
from .refusals import log_refusal

bp = Blueprint("graduation", __name__)
STARTERS = ("caseworker", "supervisor", "facilitator")


@bp.get("/graduation")
@roles_required(*STARTERS)
def index():
    """Families whose last checks meet the graduation criteria, in the officer's districts."""
    thresholds = current_app.config["BANSOS_GRADUATION"]
    numbers = criteria_candidates(db.session, current_user.actor, thresholds)
    rows = []
    if numbers:
        query = scoped(
            db.select(Application).where(Application.case_number.in_(numbers)),
            Application.district_code,
            current_user.actor,
        ).order_by(Application.case_number)
        rows = db.session.execute(query).scalars().all()
    return render_template("graduation.html", rows=rows, thresholds=thresholds)


@bp.post("/cases/<case_number>/graduation")
@roles_required(*STARTERS)
def start(case_number):
    """Start a graduation: `kind` voluntary (the family's declaration, confirmed) or criteria."""
    return _start(case_number, request.form.get("kind"))


@bp.post("/graduation/voluntary")
@roles_required(*STARTERS)
def voluntary():
    """Record a family's own declaration, by case number (a facilitator in the field)."""
    case_number = (request.form.get("case_number") or "").strip().upper()[:32]
    if not case_number:
        flash(_("Write the case number."), "danger")
        return redirect(url_for("graduation.index"))
    return _start(case_number, "voluntary")


def _start(case_number, kind):
    back = request.form.get("back") == "case"
    if kind not in ("voluntary", "criteria"):
        abort(400)
    if kind == "voluntary" and request.form.get("confirm") != "yes":
        flash(_("Confirm that the family itself declared it is self-sufficient."), "danger")
        return redirect(url_for("casepages.show", case_number=case_number) if back else url_for("graduation.index"))
    declared_by = (
        ("facilitator" if "facilitator" in current_user.roles else "officer") if kind == "voluntary" else "criteria"
    )
    try:
        with unit_of_work(db.session):
            start_graduation(
                _engine(),
                case_number,
                kind,
                current_user.actor,
                declared_by,
                ip=request.remote_addr,
                user_agent=request.user_agent.string,
            )
    except OutOfScope as exc:
        log_refusal("graduation.refused", "case", case_number, code=exc.code, reason="district")
        abort(404)
    except EngineError as exc:
        if exc.code == "CASE_NOT_FOUND":
            abort(404)
        log_refusal("graduation.refused", "case", case_number, code=exc.code)
        flash(error_text(exc), "danger")
        return redirect(url_for("graduation.index"))
    flash(_("Graduation started for %(number)s.", number=case_number), "success")
    return redirect(url_for("casepages.show", case_number=case_number) if back else url_for("graduation.index"))


def _engine():
    from . import services

    return services().engine
