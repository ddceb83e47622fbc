"""Payment cycle pages: the list, a cycle's progress and figures, its tasks, bank files and results.

Finance officers open cycles, prepare and approve them (two different officers), download batch
files and upload results. Supervisors, administrators and auditors read. Figures are limited to the
reader's districts; batch files and results cover every district, so only an officer of every
district handles them. Every action and every file handed out is in the audit trail.
"""

import io
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from cases.audit import record
from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.humantasks import claim_task, task_or_404
from engine.models import HumanTask
from payments.bankfile import batch_csv_lines, batch_xlsx
from payments.conditions import condition_counts
from payments.cycles import (
    CycleNotFound,
    arrears_figures,
    business_key,
    cycle_or_404,
    entitlement_figures,
    open_cycle,
    payment_figures,
)
from payments.models import BatchStatus, CycleStatus, PaymentBatch, PaymentResultImport, PaymentStatus
from payments.queries import PROGRESS, batches_of, cycles, imports_of
from payments.report import COLUMNS as REPORT_COLUMNS
from payments.report import cycle_report, report_workbook
from payments.results import REASONS, error_workbook, receive_results
from payments.runs import import_runs
from payments.schedule import ScheduleInvalid, load_schedule

from . import services
from .auth import roles_required
from .formrender import CHOICE_LABELS, describe
from .labels import district_label
from .messages import error_text
from .refusals import log_refusal
from .taskforms import complete_from_form

bp = Blueprint("cycles", __name__)
WORKERS = ("finance_officer",)
READERS = ("finance_officer", "supervisor", "administrator", "auditor")
MAX_RESULTS_BYTES = 15 * 1024 * 1024  # under the app's request limit (BANSOS_MAX_REQUEST_BYTES)

STATUS_TEXTS = {  # every CycleStatus (tests/unit: each status has its label)
    CycleStatus.OPEN: _l("Opened"),
    CycleStatus.FROZEN: _l("List frozen"),
    CycleStatus.ENTITLED: _l("Entitlements calculated"),
    CycleStatus.APPROVED: _l("Approved"),
    CycleStatus.DISPATCHED: _l("Sent to the banks"),
    CycleStatus.RECONCILED: _l("Reconciled"),
    CycleStatus.CLOSED: _l("Closed"),
    CycleStatus.CANCELLED: _l("Cancelled"),
}
PAYMENT_STATUS_TEXTS = {
    PaymentStatus.PLANNED: _l("planned"),
    PaymentStatus.SENT: _l("sent"),
    PaymentStatus.CREDITED: _l("credited"),
    PaymentStatus.FAILED: _l("failed"),
    PaymentStatus.DRAWN: _l("drawn"),
    PaymentStatus.RETURNED: _l("returned to the treasury"),
}
BATCH_STATUS_TEXTS = {
    BatchStatus.READY: _l("ready"),
    BatchStatus.DISPATCHED: _l("sent"),
    BatchStatus.PARTIAL: _l("partial results"),
    BatchStatus.RECONCILED: _l("reconciled"),
}
NEXT_ACTION_TEXTS = {
    "switch_to_pos": _l("switch to PT Pos"),
    "review": _l("caseworker review"),
    "retry_next_cycle": _l("retry in the next cycle"),
}


# The auditors' report's columns (payments/report.py says what each counts).
REPORT_TEXTS = {
    "planned": _l("Planned"),
    "approved": _l("Approved"),
    "sent": _l("Sent"),
    "paid": _l("Paid"),
    "failed": _l("Failed"),
    "returned": _l("Returned"),
    "awaiting": _l("Awaiting result"),
}


class OpenCycleForm(Schema):
    code = fields.String(
        required=True, validate=[validate.Length(min=3, max=40), validate.Regexp(r"^[A-Z][A-Z0-9-]+$")]
    )


def _schedule():
    return load_schedule(current_app.config["BANSOS_PROCESS_DIR"])


def _cycle_or_404(code):
    try:
        return cycle_or_404(db.session, code)
    except CycleNotFound:
        abort(404)


def _regency_wide_or_404(what, ident):
    """Batch files and results cover every district: only an officer of every district handles them."""
    if current_user.actor.regions is not None:
        log_refusal("cycle.file_refused", what, ident, reason="district")
        abort(404)


def _audit(action, target_type, target_id, **detail):
    record(
        db.session,
        current_user.actor,
        action,
        target_type,
        target_id,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


@bp.get("/cycles")
@roles_required(*READERS)
def index():
    """Every cycle, and the scheduled cycles not yet opened."""
    rows = cycles(db.session)
    opened = {c.code for c in rows}
    try:
        schedule, problems = _schedule(), []
    except ScheduleInvalid as exc:
        schedule, problems = None, exc.problems
    waiting = [spec for code, spec in sorted(schedule.cycles.items()) if code not in opened] if schedule else []
    return render_template(
        "cycles.html",
        cycles=rows,
        waiting=waiting,
        problems=problems,
        status_texts=STATUS_TEXTS,
        may_open=current_user.has_any(*WORKERS),
    )


@bp.get("/cycles/export.xlsx")
@roles_required(*READERS)
def list_export():
    """The list of opened cycles, as on the page, as Excel (audited)."""
    from .exports import xlsx_export

    rows = [
        [
            c.code,
            c.programme,
            c.months.replace(",", ", "),
            str(STATUS_TEXTS.get(c.status, c.status)),
            c.member_count,
            c.planned_total,
            c.opened_at,
            c.opened_by,
        ]
        for c in cycles(db.session)
    ]
    return xlsx_export(
        "cycles",
        _("Payment cycles"),
        [
            _("Cycle"),
            _("Programme"),
            _("Months"),
            _("Status"),
            _("Families"),
            _("Planned (Rp)"),
            _("Opened"),
            _("Opened by"),
        ],
        rows,
    )


@bp.post("/cycles")
@roles_required(*WORKERS)
def open_():
    """Open a scheduled cycle (its process freezes the list at the cut-off)."""
    try:
        data = OpenCycleForm().load({"code": request.form.get("code", "")})
    except ValidationError:
        flash(_("Choose a cycle from the schedule."), "danger")
        return redirect(url_for("cycles.index"))
    try:
        with unit_of_work(db.session):
            cycle = open_cycle(services().engine, _schedule(), data["code"], current_user.actor)
    except ScheduleInvalid as exc:
        flash(_("The payment schedule has errors: %(errors)s", errors="; ".join(exc.problems)), "danger")
        return redirect(url_for("cycles.index"))
    except EngineError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("cycles.index"))
    flash(_("Cycle %(code)s opened.", code=cycle.code), "success")
    return redirect(url_for("cycles.show", code=cycle.code))


def _tasks(cycle):
    return (
        db.session.execute(
            select(HumanTask)
            .where(HumanTask.business_key == business_key(cycle.code), HumanTask.status.in_(("open", "claimed")))
            .order_by(HumanTask.id)
        )
        .scalars()
        .all()
    )


def _figures(cycle):
    """Figures per district, programme and channel, limited to the reader's districts, with totals."""
    regions = current_user.actor.regions
    rows = entitlement_figures(db.session, cycle.id, regions)
    by_channel, by_district = {}, {}
    for row in rows:
        families, amount = by_channel.get(row.channel, (0, 0))
        by_channel[row.channel] = (families + row.families, amount + row.amount)
        families, amount = by_district.get(row.district_code, (0, 0))
        by_district[row.district_code] = (families + row.families, amount + row.amount)
    return rows, by_district, by_channel, payment_figures(db.session, cycle.id, regions)


def _followed(imports):
    """The imports whose progress or outcome the page shows in full: the newest, and any still being taken."""
    return [i for n, i in enumerate(imports) if n == 0 or i.status in ("received", "importing")]


def _page(cycle, errors=None, values=None, status=200):
    forms = services().engine.forms
    tasks = _tasks(cycle)
    mine = [t for t in tasks if t.status == "claimed" and t.assignee == current_user.actor.id]
    rows, by_district, by_channel, paid = _figures(cycle)
    return render_template(
        "cycle.html",
        cycle=cycle,
        progress=PROGRESS,
        status_texts=STATUS_TEXTS,
        tasks=tasks,
        task_forms={t.id: describe(forms[t.form_name]) for t in mine if t.form_name in forms},
        errors=errors or {},
        values=values or {},
        choice_labels=CHOICE_LABELS,
        rows=rows,
        by_district=by_district,
        by_channel=by_channel,
        paid=paid,
        batches=(batches := batches_of(db.session, cycle.id)),
        batch_by_id={b.id: b for b in batches},
        imports=(imports := imports_of(db.session, cycle.id)),
        followed=_followed(imports),
        import_runs=import_runs(db.session, [i.id for i in imports]),
        reasons=REASONS,
        district_label=district_label,
        payment_status_texts=PAYMENT_STATUS_TEXTS,
        batch_status_texts=BATCH_STATUS_TEXTS,
        regency_wide=current_user.actor.regions is None,
        may_work=current_user.has_any(*WORKERS),
        arrears=arrears_figures(db.session, cycle.id, current_user.actor.regions),
        report=cycle_report(db.session, cycle.id, current_user.actor.regions),
        report_columns=REPORT_COLUMNS,
        report_texts=REPORT_TEXTS,
        conditions=condition_counts(db.session, cycle.id, current_user.actor.regions),
    ), status


@bp.get("/cycles/<code>")
@roles_required(*READERS)
def show(code):
    """A cycle's progress, figures, tasks, batches and result imports."""
    return _page(_cycle_or_404(code))


def _cycle_task_or_404(code, task_id):
    cycle = _cycle_or_404(code)
    try:
        row = task_or_404(db.session, task_id)
    except EngineError:
        abort(404)
    if row.business_key != business_key(cycle.code):
        abort(404)
    if not current_user.actor.in_region(row.region):  # a cycle's tasks are the whole regency's
        log_refusal("task.view_refused", "task", task_id, reason="district")
        abort(404)
    return cycle, row


@bp.post("/cycles/<code>/tasks/<int:task_id>/claim")
@roles_required(*WORKERS)
def claim(code, task_id):
    """Claim a cycle task (the engine checks role, districts and four eyes)."""
    cycle, row = _cycle_task_or_404(code, task_id)
    try:
        with unit_of_work(db.session):
            claim_task(services().engine, row.id, current_user.actor)
    except EngineError as exc:
        if exc.code in ("FOUR_EYES", "NOT_ALLOWED"):
            log_refusal("task.refused", "task", task_id, code=exc.code)
        flash(error_text(exc), "danger")
    return redirect(url_for("cycles.show", code=cycle.code))


@bp.post("/cycles/<code>/tasks/<int:task_id>/complete")
@roles_required(*WORKERS)
def complete(code, task_id):
    """Complete the officer's claimed cycle task with the posted form."""
    cycle, row = _cycle_task_or_404(code, task_id)
    values, refusal = complete_from_form(row.id)
    if refusal is not None:
        errors = getattr(refusal, "errors", None) or {}
        return _page(cycle, errors=errors, values=values, status=422 if errors else 409)
    flash(_("Task completed."), "success")
    return redirect(url_for("cycles.show", code=cycle.code))


@bp.get("/cycles/<code>/figures.xlsx")
@roles_required(*READERS)
def export(code):
    """The cycle's figures per district, programme and channel, and its payments by status, as Excel."""
    from openpyxl import Workbook

    cycle = _cycle_or_404(code)
    rows, _by_district, _by_channel, paid = _figures(cycle)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Entitlements"))
    sheet.append([_("District"), _("Programme"), _("Channel"), _("Families"), _("Amount (Rp)")])
    for row in rows:
        sheet.append([district_label(row.district_code), row.programme, row.channel, row.families, row.amount])
    sheet = book.create_sheet(_("Payments"))
    sheet.append([_("District"), _("Programme"), _("Channel"), _("Status"), _("Payments"), _("Amount (Rp)")])
    for (district, channel), statuses in sorted(paid.items(), key=lambda x: (x[0][0] or "", x[0][1])):
        for status_code, (count, amount) in sorted(statuses.items()):
            sheet.append(
                [
                    district_label(district),
                    cycle.programme,
                    channel,
                    str(PAYMENT_STATUS_TEXTS.get(status_code, status_code)),
                    count,
                    amount,
                ]
            )
    sheet = book.create_sheet(_("Arrears (rapel)"))
    sheet.append([_("District"), _("Channel"), _("Families"), _("Stages"), _("Amount (Rp)")])
    for row in arrears_figures(db.session, cycle.id, current_user.actor.regions):
        sheet.append([district_label(row.district_code), row.channel, row.families, row.stages, row.amount])
    out = io.BytesIO()
    book.save(out)
    with unit_of_work(db.session):
        _audit("cycle.figures_exported", "payment_cycle", cycle.code)
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={cycle.code}-figures.xlsx"},
    )


@bp.get("/cycles/<code>/report.xlsx")
@roles_required(*READERS)
def report_export(code):
    """The auditors' report (planned, approved, sent, paid, failed, returned by district, programme and
    channel; counts and rupiah) as Excel, limited to the reader's districts. Audited."""
    from flask_babel import format_datetime

    from engine.db import utcnow

    cycle = _cycle_or_404(code)
    regions = current_user.actor.regions
    rows, total = cycle_report(db.session, cycle.id, regions)
    scope = _("every district") if regions is None else ", ".join(district_label(d) for d in sorted(regions))

    def when(value):
        return format_datetime(value, "short") if value else "—"

    about = [
        [_("Payment cycle"), cycle.code],
        [_("Programme"), cycle.programme],
        [_("Months"), cycle.months.replace(",", ", ")],
        [_("Status"), str(STATUS_TEXTS.get(cycle.status, ""))],
        [_("Prepared by"), cycle.prepared_by or "—"],
        [_("Approved by"), cycle.approved_by or "—"],
        [_("Approved at"), when(cycle.approved_at)],
        [_("SP2D date"), when(cycle.sp2d_at)],
        [_("Districts"), scope],
        [_("Exported by"), current_user.actor.id],
        [_("Exported at"), when(utcnow())],
    ]
    header = [_("District"), _("Programme"), _("Channel")]
    for column in REPORT_COLUMNS:
        header += [f"{REPORT_TEXTS[column]} ({_('count')})", f"{REPORT_TEXTS[column]} (Rp)"]
    body = [header]
    for row in [*rows, total]:
        label = district_label(row.district_code) if row is not total else _("Total")
        body.append([label, row.programme, row.channel, *[v for c in REPORT_COLUMNS for v in row.figures[c]]])
    out = io.BytesIO()
    report_workbook([(_("Cycle"), about), (_("Report"), body)], out)
    with unit_of_work(db.session):
        _audit(
            "cycle.report_exported",
            "payment_cycle",
            cycle.code,
            districts=sorted(regions) if regions else "all",
            paid=total.figures["paid"][1],
            sent=total.figures["sent"][1],
        )
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={cycle.code}-report.xlsx"},
    )


def _batch_or_404(code, channel):
    cycle = _cycle_or_404(code)
    batch = db.session.execute(
        select(PaymentBatch).where(PaymentBatch.cycle_id == cycle.id, PaymentBatch.channel == channel)
    ).scalar_one_or_none()
    if batch is None:
        abort(404)
    return cycle, batch


@bp.get("/cycles/<code>/batches/<channel>.<ext>")
@roles_required(*WORKERS)
def batch_file(code, channel, ext):
    """A batch file for the bank or post office (CSV or Excel; layout: docs/payments.md)."""
    if ext not in ("csv", "xlsx"):
        abort(404)
    cycle, batch = _batch_or_404(code, channel)
    _regency_wide_or_404("payment_batch", batch.reference)
    with unit_of_work(db.session):
        batch.downloaded_by = current_user.actor.id
        _audit(
            "cycle.batch_downloaded",
            "payment_batch",
            batch.reference,
            format=ext,
            count=batch.count,
            total=batch.total,
            sha256=batch.control_hash,
        )
    if ext == "csv":
        body = "".join(batch_csv_lines(db.session, batch)).encode("utf-8")
        mimetype = "text/csv"
    else:
        out = io.BytesIO()
        batch_xlsx(db.session, batch, out)
        body, mimetype = out.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={batch.reference}.{ext}"}
    )


@bp.post("/cycles/<code>/batches/<channel>/results")
@roles_required(*WORKERS)
def upload_results(code, channel):
    """Keep a results file for a batch; a run checks it and takes its lines in the background (progress below)."""
    cycle, batch = _batch_or_404(code, channel)
    _regency_wide_or_404("payment_batch", batch.reference)
    upload = request.files.get("results")
    if upload is None or not upload.filename:
        flash(_("Choose the results file to upload."), "danger")
        return redirect(url_for("cycles.show", code=cycle.code))
    data = upload.stream.read(MAX_RESULTS_BYTES + 1)
    if len(data) > MAX_RESULTS_BYTES:
        flash(
            _("The file is larger than %(mb)s MB. Send the results in parts.", mb=MAX_RESULTS_BYTES // (1024 * 1024)),
            "danger",
        )
        return redirect(url_for("cycles.show", code=cycle.code))
    folder = Path(current_app.config["BANSOS_IMPORT_DIR"]) / "results"
    try:
        with unit_of_work(db.session):
            row, _run = receive_results(
                services().engine,
                batch,
                data,
                upload.filename,
                current_user.actor,
                folder,
                ip=request.remote_addr,
                user_agent=request.user_agent.string,
            )
    except EngineError as exc:
        flash(error_text(exc), "danger")
        return redirect(url_for("cycles.show", code=cycle.code))
    flash(
        _(
            "The results file was received. It is checked and its lines are taken in the background: "
            "follow the progress below."
        ),
        "info",
    )
    return redirect(url_for("cycles.show", code=cycle.code, _anchor=f"import-{row.id}"))


@bp.get("/cycles/<code>/imports/<int:import_id>/progress")
@roles_required(*READERS)
def import_progress(code, import_id):
    """One results import's progress, then its outcome (the panel of the cycle page asks for itself while it runs)."""
    cycle = _cycle_or_404(code)
    row = db.session.get(PaymentResultImport, import_id)
    batch = db.session.get(PaymentBatch, row.batch_id) if row is not None else None
    if batch is None or batch.cycle_id != cycle.id:
        abort(404)
    response = Response(
        render_template(
            "_results_import.html",
            cycle=cycle,
            i=row,
            batch=batch,
            runs=import_runs(db.session, [row.id]).get(row.id, (None, None)),
            reasons=REASONS,
            batch_status_texts=BATCH_STATUS_TEXTS,
            regency_wide=current_user.actor.regions is None,
            may_work=current_user.has_any(*WORKERS),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    if request.headers.get("HX-Request") and row.status in ("applied", "refused"):
        # The panel was following it: the whole page reloads once, so its batch and report figures are current.
        response.headers["HX-Refresh"] = "true"
    return response


def _reason(pair):
    from flask_babel import get_locale

    return pair[0] if str(get_locale() or "id") == "id" else pair[1]


@bp.get("/cycles/<code>/imports/<int:import_id>/errors.xlsx")
@roles_required(*WORKERS)
def import_errors(code, import_id):
    """The refused lines of a results import, as an Excel workbook."""
    cycle = _cycle_or_404(code)
    row = db.session.get(PaymentResultImport, import_id)
    batch = db.session.get(PaymentBatch, row.batch_id) if row is not None else None
    if batch is None or batch.cycle_id != cycle.id:
        abort(404)
    _regency_wide_or_404("payment_batch", batch.reference)
    out = io.BytesIO()
    error_workbook(row, out)
    with unit_of_work(db.session):
        _audit("cycle.errors_downloaded", "payment_batch", batch.reference, import_id=row.id)
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={batch.reference}-refused-{row.id}.xlsx"},
    )


RUNWAY_READERS = ("administrator", "finance_officer")


def schedule_runway():
    """[(programme, [uncovered months])] of the payment schedule, for administrators and finance officers.

    The months from this one (Jakarta time) to the schedule's `warn_months_ahead` ahead that a programme has
    no cycle for: the schedule must be extended before new enrolments and the portal's expected payment
    have nowhere to go. Empty for other readers.
    """
    from datetime import datetime

    from payments.cycles import JAKARTA
    from payments.schedule import runway_warnings

    if not current_user.is_authenticated or not current_user.has_any(*RUNWAY_READERS):
        return []
    return runway_warnings(current_app.config["BANSOS_PROCESS_DIR"], datetime.now(JAKARTA).date())


def register(app):
    """Helpers the cycle templates use."""
    from flask_babel import format_date, format_decimal

    app.jinja_env.globals.update(
        reason_text=_reason, format_date=format_date, format_decimal=format_decimal, schedule_runway=schedule_runway
    )
