"""Serving appeal evidence files: to the applicant and to officers who may see the case, never inline."""

from urllib.parse import quote

from flask import Blueprint, Response, abort, request

from cases.audit import record
from cases.portal.files import evidence_file_of
from engine.db import db, unit_of_work

from .. import talisman
from ..auth import roles_required
from ..casepages import READERS, case_for_officer_or_404
from .wiring import portal_services

bp = Blueprint("evidence", __name__)
# The file is data, never a page: no script, no plugin, no framing, even if a browser tried to render it.
FILE_POLICY = "default-src 'none'; sandbox; frame-ancestors 'none'"


def send_evidence(row):
    """Return the file as a download with safe headers, or 404 when its bytes are gone."""
    data = portal_services().evidence.read(row.ref)
    if data is None:
        abort(404)
    disposition = (
        f'attachment; filename="evidence{row.filename[row.filename.rfind(".") :]}"; '
        f"filename*=UTF-8''{quote(row.filename)}"
    )
    return Response(
        data,
        mimetype=row.content_type,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )


@bp.get("/cases/<case_number>/evidence-files/<key>")
@roles_required(*READERS)
@talisman(content_security_policy=FILE_POLICY)
def officer_file(case_number, key):
    """An appeal's evidence file, for officers of the case's district (each view audited)."""
    from flask_login import current_user

    app = case_for_officer_or_404(case_number)
    row = evidence_file_of(db.session, app, key)
    if row is None:
        abort(404)
    response = send_evidence(row)
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "evidence.view",
            target_type="case",
            target_id=app.case_number,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail={"file": row.key},
        )
    return response
