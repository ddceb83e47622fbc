"""Tracked runs (engine/runs.py) for administrators: the list, one run's progress, start a re-check, cancel.

Administrators see every run (of their districts), auditors read them, supervisors see and start
the re-check runs of their districts (cases/runkinds.py decides). A run another officer may not see
answers 404 (audited); the progress follows itself (htmx polls the progress panel while it runs).
"""

from pathlib import Path

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from cases.runkinds import READERS, RECHECK, REVERIFY, cancel, may_cancel, may_see, may_start, start_recheck_run
from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.runs import Run, RunNotFound, failures, run_or_404

from .. import services
from ..auth import roles_required
from ..refusals import log_refusal
from . import bp
from .officers import origin


def _run_or_404(run_id):
    try:
        run = run_or_404(db.session, run_id)
    except RunNotFound:
        abort(404)
    if not may_see(current_user.actor, run):
        log_refusal("run.refused", "run", run_id, reason="scope")
        abort(404)
    return run


def _labels():
    return {
        "recheck": _("Re-check of enrolled families"),
        "import": _("Registry import"),
        "reverify": _("Quarterly re-verification"),
        "registry_recheck": _("Re-check of families changed in the registry"),
        "payment_results_file": _("Check of an uploaded payment results file"),
        "payment_results": _("Payment results taken in parts"),
    }


def _status_labels():
    return {
        "queued": _("Queued"),
        "running": _("Running"),
        "done": _("Finished"),
        "failed": _("Failed"),
        "cancelled": _("Cancelled"),
    }


@bp.get("/runs")
@roles_required(*READERS)
def runs():
    """List the latest runs the officer may see, with their progress."""
    actor = current_user.actor
    latest = db.session.scalars(select(Run).order_by(Run.id.desc()).limit(200)).all()
    shown = [r for r in latest if may_see(actor, r)][:50]
    return render_template(
        "admin_runs.html",
        runs=shown,
        kind_labels=_labels(),
        status_labels=_status_labels(),
        may_start_recheck=may_start(actor, RECHECK),
        may_start_reverify=may_start(actor, REVERIFY),
        current_quarter=_current_quarter(),
        following=any(not r.finished for r in shown),
    )


@bp.get("/runs/<int:run_id>")
@roles_required(*READERS)
def run(run_id):
    """One run: progress bar, counts by outcome, failures, the error workbook of an import."""
    found = _run_or_404(run_id)
    return render_template(
        "admin_run.html",
        run=found,
        failures=failures(db.session, found.id),
        kind_labels=_labels(),
        status_labels=_status_labels(),
        may_cancel=may_cancel(current_user.actor, found),
        has_error_file=_error_file(found) is not None,
    )


@bp.get("/runs/<int:run_id>/progress")
@roles_required(*READERS)
def run_progress(run_id):
    """The progress panel alone (what the page polls while the run is active)."""
    found = _run_or_404(run_id)
    return render_template(
        "_run_progress.html",
        run=found,
        status_labels=_status_labels(),
        may_cancel=may_cancel(current_user.actor, found),
    )


@bp.post("/runs/recheck")
@roles_required("administrator", "supervisor")
def start_recheck():
    """Start re-checking every enrolled family of the officer's districts."""
    ip, agent = origin()
    try:
        with unit_of_work(db.session):
            started = start_recheck_run(services().engine, current_user.actor, ip=ip, user_agent=agent)
    except EngineError:
        abort(403)
    flash(_("Run %(id)d started: %(n)d families to re-check.", id=started.id, n=started.total), "success")
    return redirect(url_for("admin.run", run_id=started.id))


def import_runs(limit=20):
    """The latest registry import runs (every district: imports are the regency's)."""
    return db.session.scalars(select(Run).where(Run.kind == "import").order_by(Run.id.desc()).limit(limit)).all()


def _current_quarter():
    from datetime import date

    from cases.programme import quarter_of

    return quarter_of(date.today())


@bp.post("/runs/reverify")
@roles_required("administrator")
def start_reverify():
    """Start the quarterly re-verification of every enrolled family of the administrator's districts."""
    from cases.programme import QuarterAlreadyRun, QuarterInvalid, start_reverify_run

    ip, agent = origin()
    quarter = (request.form.get("quarter") or "").strip() or _current_quarter()
    try:
        with unit_of_work(db.session):
            started = start_reverify_run(services().engine, current_user.actor, quarter, ip=ip, user_agent=agent)
    except QuarterInvalid:
        flash(_("That is not a quarter: write it as 2026Q4."), "danger")
        return redirect(url_for("admin.runs"))
    except QuarterAlreadyRun as exc:
        flash(
            _(
                "The re-verification of %(quarter)s was already started (run %(id)s).",
                quarter=quarter.upper(),
                id=exc.details.get("run_id"),
            ),
            "warning",
        )
        return redirect(url_for("admin.runs"))
    except EngineError:
        abort(403)
    flash(_("Run %(id)d started: %(n)d families to re-verify.", id=started.id, n=started.total), "success")
    return redirect(url_for("admin.run", run_id=started.id))


@bp.post("/runs/<int:run_id>/cancel")
@roles_required("administrator", "supervisor")
def cancel_run(run_id):
    """Stop a run: what is done stays done, the rest is not started."""
    found = _run_or_404(run_id)
    if not may_cancel(current_user.actor, found):
        log_refusal("run.refused", "run", run_id, reason="role")
        abort(403)
    ip, agent = origin()
    try:
        with unit_of_work(db.session):
            cancel(services().engine, current_user.actor, run_id, ip=ip, user_agent=agent)
        flash(_("The run was cancelled."), "success")
    except EngineError:
        flash(_("The run has already finished."), "warning")
    return redirect(url_for("admin.run", run_id=run_id))


def _error_file(run):
    path = Path(run.error_file) if run.error_file else None
    return path if path is not None and path.is_file() else None


@bp.get("/runs/<int:run_id>/errors.xlsx")
@roles_required("administrator")
def run_errors(run_id):
    """Download an import run's refused rows (the error workbook)."""
    found = _run_or_404(run_id)
    path = _error_file(found)
    if path is None:
        abort(404)
    return send_file(
        path,
        as_attachment=True,
        download_name=f"run-{found.id}-import-errors.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        max_age=0,
    )
