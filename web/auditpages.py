"""The auditor's page: verify the hash chains of the audit log (per shard, and the anchors) and export it."""
import io

from flask import Blueprint, Response, render_template, request
from flask_login import current_user

from cases.audit import ANCHOR_SHARD, export_csv, record, verify_chain
from engine.db import db

from .auth import roles_required

bp = Blueprint("auditpages", __name__)


@bp.get("/audit")
@roles_required("auditor", "administrator")
def index():
    """Verify every shard's chain and the anchors now and show the result, shard by shard."""
    result = verify_chain(db.session)
    record(db.session, current_user.actor, "audit.verify", ip=request.remote_addr,
           user_agent=request.user_agent.string,
           detail={"ok": result.ok, "checked": result.checked, "broken_shards": [s.shard for s in result.broken]})
    db.session.commit()
    return render_template("audit.html", result=result, anchor_shard=ANCHOR_SHARD)


@bp.get("/audit/export.csv")
@roles_required("auditor", "administrator")
def export():
    """Download every audit entry with its hashes, for an independent check."""
    out = io.StringIO()
    count = export_csv(db.session, out)
    record(db.session, current_user.actor, "audit.export", ip=request.remote_addr,
           user_agent=request.user_agent.string, detail={"rows": count})
    db.session.commit()
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=tepat-audit.csv",
                             "Cache-Control": "no-store"})
