"""The supervisor desk: SLA per district, throughput per officer, incidents with retry and skip."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.dashboard import open_incidents, sla_by_district, throughput_by_officer
from engine.db import db
from engine.errors import EngineError

from . import services
from .auth import roles_required
from .messages import error_text

bp = Blueprint("desk", __name__)


@bp.get("/desk")
@roles_required("supervisor", "administrator")
def index():
    """Show deadlines, throughput and incidents."""
    actor = current_user.actor
    return render_template("desk.html", sla=sla_by_district(db.session, actor),
                           throughput=throughput_by_officer(db.session, actor),
                           incidents=open_incidents(db.session))


@bp.post("/incidents/<int:incident_id>/<any(retry, skip):action>")
@roles_required("administrator")
def resolve(incident_id, action):
    """Run a failed task again, or complete it without running it."""
    engine = services().engine
    try:
        if action == "retry":
            engine.retry_incident(incident_id, current_user.actor)
        else:
            engine.skip_incident(incident_id, current_user.actor)
        db.session.commit()
        flash(_("Incident handled."), "success")
    except EngineError as exc:
        db.session.rollback()
        flash(error_text(exc), "danger")
    return redirect(url_for("desk.index"))
