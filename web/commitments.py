"""PKH commitments (verifikasi komitmen) pages: import a quarter's school/health lists, record in the field.

Facilitators and caseworkers of a district record one family member's check at a time, or upload a list
(Excel, payments/commitments.py for the layout). Every route checks roles and the officer's districts;
every import and recording is in the audit trail.
"""

import io

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from cases.audit import record
from cases.models import Application, Enrolment, EnrolmentComponent
from cases.statuses import CaseStatus
from engine.db import db, unit_of_work
from integrations.nik import mask_nik
from integrations.sandbox import tables as t
from payments.commitments import (
    HEADERS,
    MAX_FILE_BYTES,
    REASONS,
    CommitmentRefused,
    error_workbook,
    import_workbook,
    record_check,
)
from payments.models import CommitmentCheck, CommitmentImport
from payments.schedule import ScheduleInvalid, load_schedule

from .auth import roles_required
from .refusals import log_refusal

bp = Blueprint("commitments", __name__)
RECORDERS = ("facilitator", "caseworker")


def reason_text(code):
    pair = REASONS.get(code, (code, code))
    return pair[0] if str(get_locale() or "id") == "id" else pair[1]


def _rule():
    try:
        rule = load_schedule(current_app.config["BANSOS_PROCESS_DIR"]).commitments
    except ScheduleInvalid:
        rule = None
    if rule is None:
        abort(404)
    return rule


def _family(kk_number):
    """The enrolled family with this KK in the officer's districts, or None (out of scope is logged)."""
    found = db.session.execute(
        select(Application, Enrolment.id)
        .join(Enrolment, Enrolment.application_id == Application.id)
        .where(
            Application.kk_number == kk_number, Application.status == CaseStatus.ENROLLED, Enrolment.ended_at.is_(None)
        )
    ).first()
    if found is None:
        return None, None
    app, enrolment_id = found
    if not current_user.actor.in_region(app.district_code):
        log_refusal("commitments.view_refused", "case", app.case_number, reason="district")
        return None, None
    return app, enrolment_id


def _members(kk_number):
    try:
        return db.session.execute(
            select(t.people.c.nik, t.people.c.name, t.people.c.school_level)
            .where(t.people.c.kk_number == kk_number, t.people.c.alive.is_(True))
            .order_by(t.people.c.birth_date)
        ).all()
    except Exception:  # noqa: BLE001 - the registry copy may be absent (a fresh database)
        db.session.rollback()
        return []


def _page(kk="", status=200, result=None):
    rule = _rule()
    app, enrolment_id, components, members, checks = None, None, [], [], []
    if kk:
        app, enrolment_id = _family(kk)
        if app is not None:
            components = sorted(
                {
                    c
                    for (c,) in db.session.execute(
                        select(EnrolmentComponent.category).where(
                            EnrolmentComponent.enrolment_id == enrolment_id,
                            EnrolmentComponent.programme == rule.programme,
                        )
                    )
                    if rule.kind(c)
                }
            )
            members = _members(kk)
            checks = db.session.scalars(
                select(CommitmentCheck)
                .where(CommitmentCheck.enrolment_id == enrolment_id)
                .order_by(CommitmentCheck.period.desc(), CommitmentCheck.member_nik)
            ).all()
    return render_template(
        "commitments.html",
        rule=rule,
        kk=kk,
        app=app,
        components=components,
        members=members,
        checks=checks,
        headers=HEADERS,
        result=result,
        reason_text=reason_text,
        max_mb=MAX_FILE_BYTES // (1024 * 1024),
    ), status


@bp.get("/commitments")
@roles_required(*RECORDERS)
def index():
    """Find a family by KK to record its members' checks; upload a quarter's list."""
    kk = (request.args.get("kk") or "").strip()
    if kk and not kk.isdigit():
        flash(_("The family card number must be 16 digits"), "danger")
        kk = ""
    body, status = _page(kk)
    if kk and "data-family" not in body:
        flash(_("No enrolled PKH family with this family card number in your districts."), "warning")
        body, status = _page("")
    return body, status


@bp.post("/commitments/record")
@roles_required(*RECORDERS)
def record_one():
    """Record one member's check for a quarter (a facilitator in the field)."""
    rule = _rule()
    form = request.form
    kk = (form.get("kk") or "").strip()
    try:
        with unit_of_work(db.session):
            row = record_check(
                db.session,
                rule,
                current_user.actor,
                kk_number=kk,
                nik=form.get("nik"),
                category=form.get("category"),
                period=form.get("period"),
                attendance=form.get("attendance"),
                checked=form.get("checked"),
                source="field",
                regions=current_user.actor.regions,
            )
            record(
                db.session,
                current_user.actor,
                "commitments.recorded",
                "commitment_check",
                str(row.id),
                ip=request.remote_addr,
                user_agent=request.user_agent.string,
                detail={
                    "member": mask_nik(row.member_nik),
                    "category": row.category,
                    "period": row.period,
                    "compliant": row.compliant,
                },
            )
    except CommitmentRefused as exc:
        if exc.reason == "OUT_OF_SCOPE":
            log_refusal("commitments.record_refused", "family", kk, reason="district")  # a unit of its own
        flash(reason_text(exc.reason), "danger")
        return redirect(url_for("commitments.index", kk=kk if kk.isdigit() else None))
    flash(
        _("Check recorded: %(result)s.", result=_("commitment met") if row.compliant else _("commitment not met")),
        "success" if row.compliant else "warning",
    )
    return redirect(url_for("commitments.index", kk=kk))


@bp.post("/commitments/import")
@roles_required(*RECORDERS)
def upload():
    """Import a quarter's list; bad rows are refused line by line, the good ones kept."""
    rule = _rule()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel workbook (.xlsx) to upload."), "danger")
        return redirect(url_for("commitments.index"))
    data = upload.stream.read(MAX_FILE_BYTES + 1)
    try:
        with unit_of_work(db.session):
            report = import_workbook(
                db.session, rule, current_user.actor, data, upload.filename, regions=current_user.actor.regions
            )
    except CommitmentRefused as exc:
        with unit_of_work(db.session):  # a second unit: the refusal is kept, nothing of the file
            record(
                db.session,
                current_user.actor,
                "commitments.import_refused",
                "commitment_import",
                upload.filename[:100],
                ip=request.remote_addr,
                detail={"reason": exc.reason},
            )
        flash(_("The file was refused, nothing was taken: %(reason)s", reason=reason_text(exc.reason)), "danger")
        return _page("", status=400)[0], 400
    flash(
        _("Rows taken: %(accepted)s, refused: %(refused)s.", accepted=report.accepted, refused=len(report.refused)),
        "warning" if report.refused else "success",
    )
    return _page("", result=db.session.get(CommitmentImport, report.import_id))


@bp.get("/commitments/imports/<int:import_id>/errors.xlsx")
@roles_required(*RECORDERS)
def errors(import_id):
    """The refused rows of the officer's own import, as an Excel workbook."""
    row = db.session.get(CommitmentImport, import_id)
    if row is None or row.imported_by != current_user.actor.id:
        if row is not None:
            log_refusal("commitments.errors_refused", "commitment_import", str(import_id), reason="owner")
        abort(404)
    out = io.BytesIO()
    error_workbook(
        [(line, code, values) for line, code, values in row.refusals], out, english=str(get_locale() or "id") != "id"
    )
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "commitments.errors_downloaded",
            "commitment_import",
            str(row.id),
            ip=request.remote_addr,
        )
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename=komitmen-ditolak-{row.id}.xlsx"},
    )


def too_large(exc):
    """An upload over the request limit: the list is refused with a clear reason."""
    flash(_("The file was refused, nothing was taken: %(reason)s", reason=reason_text("TOO_LARGE")), "danger")
    return _page("", status=413)


bp.register_error_handler(413, too_large)
