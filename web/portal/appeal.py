"""The applicant's appeal: a reason and evidence files, within the window; and their files."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError

from cases.audit import record
from cases.portal.appeals import file_portal_appeal
from cases.portal.files import EvidenceRefused, attach_evidence, evidence_file_of, pending_files, remove_pending_file
from cases.portal.notices import notify_applicant
from engine.db import db, unit_of_work
from engine.errors import EngineError
from forms.portal import AppealStepSchema

from .. import services, talisman
from ..messages import error_text
from . import bp
from .evidence import FILE_POLICY, send_evidence
from .messages import evidence_text
from .mycase import appeal_window, own_case_or_404
from .session import applicant_required, current_applicant
from .uploads import HARD_LIMIT, TOO_MANY_FILES, read_upload_form
from .wiring import portal_services


def _limits():
    config = current_app.config
    return int(config["BANSOS_EVIDENCE_MAX_BYTES"]), int(config["BANSOS_EVIDENCE_MAX_FILES"])


def _page(app, reason="", errors=None, file_errors=(), status=200):
    deadline, can_appeal = appeal_window(app)
    max_bytes, max_files = _limits()
    return render_template(
        "portal/appeal.html",
        app=app,
        reason=reason,
        errors=errors or {},
        file_errors=list(file_errors),
        pending=pending_files(db.session, app),
        deadline=deadline,
        can_appeal=can_appeal,
        max_mb=max_bytes // (1024 * 1024),
        max_files=max_files,
    ), status


def _audit(action, app, **detail):
    record(
        db.session,
        current_applicant().audit_actor,
        action,
        target_type="case",
        target_id=app.case_number,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        detail=detail or None,
    )


@bp.get("/cases/<case_number>/appeal")
@applicant_required
def appeal(case_number):
    """The appeal form, or why an appeal is not possible (any more)."""
    return _page(own_case_or_404(case_number))


@bp.post("/cases/<case_number>/appeal")
@applicant_required
def appeal_send(case_number):
    """Attach the files sent, then file the appeal; on any error keep the reason and the good files."""
    app = own_case_or_404(case_number)
    max_bytes, max_files = _limits()
    # Stops reading at the first file beyond max_files (or past HARD_LIMIT bytes sent unannounced).
    body = read_upload_form(max_bytes, max_files)
    reason = body.form.get("reason", "")
    _deadline, can_appeal = appeal_window(app)
    if not can_appeal:
        with unit_of_work(db.session):
            _audit("appeal.refused_closed", app)
        return _page(app, reason, status=409)
    try:
        with unit_of_work(db.session):  # one unit: the files attached and the appeal filed (or the files alone)
            again = _attach_and_file(app, body, reason, max_bytes, max_files)
    except _NotFiled as refused:  # rolled back, this request's files with it
        flash(error_text(refused.error), "danger")
        return _page(app, reason, status=409)
    if again is not None:  # committed: the good files stay attached, for the next try
        return _page(app, reason, **again)
    flash(_("Your appeal was sent. An officer who took no part in the decision will review it."), "success")
    return redirect(url_for("portal.case", case_number=app.case_number))


class _NotFiled(Exception):
    """The engine refused the appeal (AppealNotAllowed, or any EngineError): the unit rolls back."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def _attach_and_file(app, body, reason, max_bytes, max_files):
    """Attach the files sent, then file the appeal; return the page's errors instead if it cannot be filed yet."""
    form, uploads = body.form, body.uploads
    actor = current_applicant().audit_actor
    file_errors = []
    for upload in uploads:
        try:
            row = attach_evidence(
                db.session, portal_services().evidence, app, upload.filename, upload.data, actor, max_bytes, max_files
            )
            _audit("evidence.attach", app, file=row.key, type=row.content_type, size=row.size)
        except EvidenceRefused as exc:
            file_errors.append(evidence_text(exc, max_files))
            _audit("evidence.refused", app, code=exc.code, size=upload.size)
    if body.stopped:  # the rest of the body was left unread: never file the appeal from half a form
        file_errors.append(_stopped_text(body.stopped, max_files))
        _audit("evidence.refused", app, code=f"UPLOAD_{body.stopped}", read=body.bytes_read)
    removed = form.get("remove")
    if removed:  # a file's "remove" button: the reason typed so far stays on the page
        if remove_pending_file(db.session, app, removed):
            _audit("evidence.remove", app, file=removed)
        return {"file_errors": file_errors, "status": 413 if body.stopped else 200}
    errors = {}
    try:
        data = AppealStepSchema().load({"reason": reason.strip()})
    except ValidationError:
        errors["reason"] = _("Write the reason in 10 to 4,000 characters.")
    if errors or file_errors or form.get("attach"):
        return {
            "errors": errors,
            "file_errors": file_errors,
            "status": 413 if body.stopped else 422 if errors or file_errors else 200,
        }
    try:
        filed = file_portal_appeal(
            services().engine, app, data["reason"], current_app.config["BANSOS_APPEAL_WINDOW"], actor=actor
        )
    except EngineError as exc:
        raise _NotFiled(exc) from exc
    notify_applicant(services().integrations.notifier, app.nik, "appeal_received", {"case_number": app.case_number})
    _audit("appeal.file", app, appeal=filed.id, files=len(filed.evidence_refs or []))
    return None


def _stopped_text(stopped, max_files):
    if stopped == TOO_MANY_FILES:
        return _("At most %(n)d files can be sent at once; the other files were not read.", n=max_files)
    return _(
        "The files sent together were too large (at most %(mb)d MB in all); the rest was not read.",
        mb=HARD_LIMIT // (1024 * 1024),
    )


@bp.get("/cases/<case_number>/files/<key>")
@applicant_required
@talisman(content_security_policy=FILE_POLICY)
def evidence_file(case_number, key):
    """One of the applicant's own evidence files, as a download."""
    app = own_case_or_404(case_number)
    row = evidence_file_of(db.session, app, key)
    if row is None:
        abort(404)
    response = send_evidence(row)
    with unit_of_work(db.session):
        _audit("evidence.view", app, file=row.key)
    return response
