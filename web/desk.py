"""The supervisor desk: SLA per district, throughput per officer and district (charts and tables),
incidents with retry and skip, and the approval queue with four-eyes refusals."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.officers import district_name
from engine.approvals import approval_queue
from engine.dashboard import (
    open_incidents,
    sla_by_district,
    step_names,
    throughput_by_district,
    throughput_by_officer,
)
from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.scope import OutOfScope

from . import services
from .auth import roles_required
from .labels import task_label
from .messages import error_text
from .refusals import log_refusal

bp = Blueprint("desk", __name__)
THROUGHPUT_DAYS = 14


def _district_label(code):
    name = district_name(code) if code else ""
    return f"{code} {name}".strip() if code else _("no district")


ERROR_SUMMARY_CHARS = 160


def error_summary(error):
    """An incident's error in one line of at most ERROR_SUMMARY_CHARS characters (the full text is logged)."""
    text = " ".join((error or "").split())
    return text if len(text) <= ERROR_SUMMARY_CHARS else text[: ERROR_SUMMARY_CHARS - 1].rstrip() + "…"


def incident_rows(incidents):
    """The desk's incidents as shown on the page and in its export: [(incident, step, error summary)].

    The step is the task's name in its process version's diagram (in the officer's language for the
    diagrams' "Indonesian / English" names), its id when the diagram gives it no name; an incident of
    a process the scheduler could not wake has no step.
    """
    names = step_names(services().engine, incidents)
    rows = []
    for i in incidents:
        if i.task_guid:
            step = task_label(i.bpmn_id, names.get(i.id))
        else:
            step = _("the scheduler could not wake the process")
        rows.append((i, step, error_summary(i.error)))
    return rows


def chart_data(sla, by_officer, by_district):
    """The desk's figures as Chart.js series (the tables show the same numbers)."""
    return {
        "sla": {
            "codes": [row[0] for row in sla],
            "labels": [_district_label(row[0]) for row in sla],
            "series": {
                "on_track": [n - overdue - soon for _d, n, overdue, soon in sla],
                "due_soon": [row[3] for row in sla],
                "overdue": [row[2] for row in sla],
            },
        },
        "officers": {
            "labels": [row[0] or "?" for row in by_officer],
            "series": {"on_time": [n - late for _w, n, late in by_officer], "late": [row[2] for row in by_officer]},
        },
        "districts": {
            "codes": [row[0] for row in by_district],
            "labels": [_district_label(row[0]) for row in by_district],
            "series": {"on_time": [n - late for _d, n, late in by_district], "late": [row[2] for row in by_district]},
        },
        "names": {
            "on_track": _("On track"),
            "due_soon": _("Due within a day"),
            "overdue": _("Overdue"),
            "on_time": _("Completed on time"),
            "late": _("Completed late"),
            "tasks": _("Tasks"),
        },
    }


@bp.get("/desk")
@roles_required("supervisor", "administrator")
def index():
    """Show deadlines, throughput and incidents, as charts and tables."""
    actor = current_user.actor
    sla = sla_by_district(db.session, actor)
    by_officer = throughput_by_officer(db.session, actor, days=THROUGHPUT_DAYS)
    by_district = throughput_by_district(db.session, actor, days=THROUGHPUT_DAYS)
    return render_template(
        "desk.html",
        sla=sla,
        throughput=by_officer,
        by_district=by_district,
        days=THROUGHPUT_DAYS,
        charts=chart_data(sla, by_officer, by_district),
        district_label=_district_label,
        incidents=incident_rows(open_incidents(db.session, actor)),
    )


@bp.get("/desk/export.xlsx")
@roles_required("supervisor", "administrator")
def export():
    """The desk's tables (deadlines, throughput per officer and district, incidents) as Excel (audited)."""
    from .exports import xlsx_export

    actor = current_user.actor
    sla = sla_by_district(db.session, actor)
    by_officer = throughput_by_officer(db.session, actor, days=THROUGHPUT_DAYS)
    by_district = throughput_by_district(db.session, actor, days=THROUGHPUT_DAYS)
    incidents = open_incidents(db.session, actor)
    completed, late = _("Completed"), _("Late")
    return xlsx_export(
        "desk",
        _("Deadlines per district"),
        [_("District"), _("Open"), _("Overdue"), _("Due within a day")],
        [[_district_label(d), n, overdue, soon] for d, n, overdue, soon in sla],
        filters={
            "districts": ",".join(sorted(actor.regions)) if actor.regions is not None else None,
            "days": THROUGHPUT_DAYS,
        },
        sheets=[
            (_("Per officer"), [_("Officer"), completed, late], [[w or "?", n, lt] for w, n, lt in by_officer]),
            (
                _("Per district"),
                [_("District"), completed, late],
                [[_district_label(d), n, lt] for d, n, lt in by_district],
            ),
            (
                _("Incidents"),
                ["#", _("Case"), _("Task"), _("Error"), _("Attempts")],
                [[i.id, i.business_key, step, error, i.attempts] for i, step, error in incident_rows(incidents)],
            ),
        ],
    )


@bp.get("/desk/approvals/export.xlsx")
@roles_required("supervisor", "administrator")
def approvals_export():
    """The whole approval queue of the supervisor's districts as Excel, with what they may do (audited)."""
    from .exports import MAX_ROWS, xlsx_export
    from .labels import task_label

    actor = current_user.actor
    items, _total, _pages = approval_queue(db.session, actor, page=1, per_page=MAX_ROWS + 1)
    rows = []
    for item in items:
        t = item.task
        if item.refusal == "FOUR_EYES":
            you = (
                _("Four eyes")
                + ": "
                + _(
                    "You worked on this case earlier (%(task)s): another supervisor must approve it.", task=item.earlier
                )
            )
        elif item.refusal == "ROLE":
            you = _("Not your role")
        elif t.status == "claimed":
            you = _("Yours") if t.assignee == actor.id else _("Held by %(name)s.", name=t.assignee)
        else:
            you = _("You may approve")
        rows.append(
            [t.business_key, task_label(t.bpmn_id, t.name), _district_label(t.region), t.due_at, t.assignee or "", you]
        )
    return xlsx_export(
        "approvals",
        _("Approval queue"),
        [_("Case"), _("Task"), _("District"), _("Due"), _("Assignee"), _("You")],
        rows,
        filters={"districts": ",".join(sorted(actor.regions)) if actor.regions is not None else None},
    )


@bp.get("/desk/approvals")
@roles_required("supervisor", "administrator")
def approvals():
    """List approval tasks: which the supervisor may take, and why not the others (four eyes)."""
    page = request.args.get("page", 1, type=int) or 1
    items, total, pages = approval_queue(db.session, current_user.actor, page=max(1, min(page, 100_000)))
    return render_template(
        "desk_approvals.html", items=items, total=total, pages=pages, page=page, district_label=_district_label
    )


@bp.post("/incidents/<int:incident_id>/<any(retry, skip):action>")
@roles_required("administrator")
def resolve(incident_id, action):
    """Run a failed task again, or complete it without running it."""
    engine = services().engine
    try:
        with unit_of_work(db.session):
            if action == "retry":
                engine.retry_incident(incident_id, current_user.actor)
            else:
                engine.skip_incident(incident_id, current_user.actor)
        flash(_("Incident handled."), "success")
    except EngineError as exc:
        if isinstance(exc, OutOfScope):
            log_refusal("incident.refused", "incident", incident_id, code=exc.code, reason="district")
        flash(error_text(exc), "danger")
    return redirect(url_for("desk.index"))
