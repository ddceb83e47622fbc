"""A minimal status page until the officers' web lands."""

from flask import Blueprint, current_app, jsonify, render_template_string
from sqlalchemy import func, select

from cases.models import Application
from engine.db import db
from engine.models import HumanTask, Incident

bp = Blueprint("status", __name__)

PAGE = """<!doctype html><html lang="id"><head><meta charset="utf-8"><title>Tepat</title></head>
<body><h1>Tepat — mesin kasus bansos <small>(bansos case engine)</small></h1>
<p>Permohonan / Applications: {{ apps }} · Tugas terbuka / Open tasks: {{ tasks }} ·
Insiden / Incidents: {{ incidents }}</p>
<p>Gunakan perintah <code>tepat</code> di terminal. / Use the <code>tepat</code> command in a terminal.</p>
</body></html>"""


def _counts():
    return {
        "apps": db.session.scalar(select(func.count()).select_from(Application)),
        "tasks": db.session.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.status == "open")),
        "incidents": db.session.scalar(select(func.count()).select_from(Incident).where(Incident.status == "open")),
    }


@bp.get("/status")
def index():
    """Show aggregate counts only (no personal data)."""
    return render_template_string(PAGE, **_counts())


@bp.get("/health")
def health():
    """Report liveness and the aggregate counts."""
    return jsonify(status="ok", **_counts())


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for on their own (served as a file, so it never goes through an error page)."""
    response = current_app.send_static_file("favicon.svg")
    response.headers["Content-Type"] = "image/svg+xml"
    response.cache_control.max_age = 86400
    return response
