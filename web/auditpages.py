"""The auditor's page: verify the hash chains of the audit log (per shard, and the anchors) and export it;
browse the entries by officer, NIK, case, action and dates, see who viewed a NIK, export the view."""

import io

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from cases.audit import ANCHOR_SHARD, export_csv, record, verify_chain
from cases.audit_browse import (
    ACTION_SUGGESTIONS,
    EXPORT_MAX,
    AuditFilter,
    browse,
    export_filtered,
    is_masked_match,
    viewers_of,
)
from engine.db import db, unit_of_work
from integrations.nik import mask_nik

from .auth import roles_required

bp = Blueprint("auditpages", __name__)


@bp.get("/audit")
@roles_required("auditor", "administrator")
def index():
    """Verify every shard's chain and the anchors now and show the result, shard by shard."""
    result = verify_chain(db.session)
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "audit.verify",
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail={"ok": result.ok, "checked": result.checked, "broken_shards": [s.shard for s in result.broken]},
        )
    return render_template("audit.html", result=result, anchor_shard=ANCHOR_SHARD)


@bp.get("/audit/export.csv")
@roles_required("auditor", "administrator")
def export():
    """Download every audit entry with its hashes, for an independent check."""
    out = io.StringIO()
    count = export_csv(db.session, out)
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "audit.export",
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail={"rows": count},
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=tepat-audit.csv", "Cache-Control": "no-store"},
    )


class EntryQuery(Schema):
    """The browser's filters; every one optional."""

    actor = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9._@:-]{1,100}$"))
    nik = fields.String(load_default=None, validate=validate.Regexp(r"^\d{16}$"))
    case = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Z0-9-]{3,64}$"))
    action = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z_]+(\.[a-z_]+)*\.?$"))
    date_from = fields.Date(load_default=None)
    date_to = fields.Date(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))

    @validates_schema
    def _order(self, data, **_kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError("from after to", "date_to")


ERRORS = {
    "actor": lambda: _("An officer is named by their username."),
    "nik": lambda: _("A NIK has 16 digits."),
    "case": lambda: _("A case number looks like TPT-2026-0000001."),
    "action": lambda: _("An action looks like case.view, or case. for every case action."),
    "date_from": lambda: _("Enter a date."),
    "date_to": lambda: _("Enter a date on or after the first one."),
    "page": lambda: _("That page does not exist."),
}


def _filter_from(args):
    """(AuditFilter, {field: error}): bad fields are reported and left out."""
    raw = {k: v.strip() for k, v in args.items() if k in EntryQuery().fields and v.strip() != ""}
    if raw.get("case"):
        raw["case"] = raw["case"].upper()
    errors = {}
    for _attempt in range(len(ERRORS) + 1):  # field errors first, then the date order
        try:
            return AuditFilter(**EntryQuery().load(raw)), errors
        except ValidationError as exc:
            errors.update({name: ERRORS[name]() for name in exc.messages if name in ERRORS})
            raw = {k: v for k, v in raw.items() if k not in exc.messages}
    return AuditFilter(), errors


def _audited_filter(f):
    # The NIK is written masked (cases.audit masks every 16-digit run anyway).
    detail = {k: (mask_nik(v) if k == "nik" else str(v)) for k, v in f.without_page().items()}
    return detail


def _request_filter():
    """The filter from the form (POST) or the address (GET); a NIK only from a form, never in an address."""
    if request.method == "POST":
        return _filter_from(request.form)
    f, errors = _filter_from({k: v for k, v in request.args.items() if k != "nik"})
    if request.args.get("nik"):
        errors["nik"] = _("Search a NIK with the form: a NIK is never put in a web address.")
    return f, errors


@bp.route("/audit/entries", methods=["GET", "POST"])
@roles_required("auditor", "administrator")
def entries():
    """Browse the audit entries, newest first; with a NIK, who viewed it."""
    f, errors = _request_filter()
    rows, has_more, targets = browse(db.session, f)
    viewers = viewers_of(db.session, f.nik, f.date_from, f.date_to) if f.nik else []
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "audit.search",
            ip=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:300],
            detail={"filter": _audited_filter(f), "page": f.page, "rows": len(rows)},
        )
    return render_template(
        "audit_entries.html",
        f=f,
        errors=errors,
        rows=rows,
        has_more=has_more,
        targets=targets,
        viewers=viewers,
        is_masked_match=is_masked_match,
        suggestions=ACTION_SUGGESTIONS,
        args=f.without_page(),
    ), 400 if errors else 200


@bp.route("/audit/entries.csv", methods=["GET", "POST"])
@roles_required("auditor", "administrator")
def export_entries():
    """Download the filtered entries (formula-safe CSV); the export is audited with its filter."""
    f, errors = _request_filter()
    if errors:
        return Response("\n".join(errors.values()), status=400, mimetype="text/plain")
    out = io.StringIO()
    count, cut = export_filtered(db.session, f, out)
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "audit.export_filtered",
            ip=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:300],
            detail={"filter": _audited_filter(f), "rows": count, "cut": cut},
        )
    headers = {"Content-Disposition": "attachment; filename=tepat-audit-entries.csv", "Cache-Control": "no-store"}
    if cut:
        headers["X-Tepat-Rows-Cut-At"] = str(EXPORT_MAX)
    return Response(out.getvalue(), mimetype="text/csv", headers=headers)
