"""The inbox: queues an officer may work, with claim, release and reassignment."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate

from cases.officers import district_choices
from cases.operations import CaseNotFound, actor_for, officer_or_404
from cases.queries import places_of
from cases.taskbatch import officers_for, union_of
from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.humantasks import claim_task, queue_counts, reassign_task, unclaim_task
from engine.inbox import SORTS, InboxFilter, inbox_page, is_overdue
from integrations.digits import Digits

from . import services
from .auth import roles_required
from .links import task_target
from .messages import error_text
from .redirects import local_referrer
from .refusals import log_refusal

bp = Blueprint("inbox", __name__)
WORKERS = ("caseworker", "supervisor", "appeals_officer", "finance_officer")


class InboxQuery(Schema):
    view = fields.String(load_default="queue", validate=validate.OneOf(["queue", "mine", "all"]))
    district = fields.String(load_default=None, validate=Digits(2))
    queue = fields.String(load_default=None, validate=validate.OneOf(list(WORKERS)))
    flag = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Z_]{3,40}$"))
    due = fields.String(load_default=None, validate=validate.OneOf(["overdue", "soon"]))
    sort = fields.String(load_default="due", validate=validate.OneOf(list(SORTS)))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))


@bp.get("/inbox")
@roles_required(*WORKERS)
def index():
    """List the officer's queues and tasks."""
    query = _query()
    actor = current_user.actor
    rows, total, pages = inbox_page(db.session, actor, InboxFilter(**query))
    counts = sorted(queue_counts(db.session, actor).items(), key=lambda x: (x[0][0], x[0][1] or ""))
    template = "_task_table.html" if request.headers.get("HX-Request") else "inbox.html"
    districts = [(code, name) for code, name in district_choices() if actor.in_region(code)]
    can_reassign = current_user.has_any("supervisor", "administrator")
    # Who each task may go to (role of its queue, active, district); the batch list offers them all.
    candidates = officers_for(db.session, rows) if can_reassign else {}
    return render_template(
        template,
        task_page=task_page,
        rows=rows,
        total=total,
        pages=pages,
        query=query,
        counts=counts,
        places=places_of(db.session, [r.business_key for r in rows]),
        districts=districts,
        is_overdue=is_overdue,
        can_reassign=can_reassign,
        candidates=candidates,
        batch_targets=union_of(candidates),
    )


def _query():
    """The page's filters from the address (invalid ones ignored, with a warning)."""
    args = {k: v for k, v in request.args.items() if v != ""}
    try:
        return InboxQuery().load(args)
    except ValidationError as exc:
        flash(_("Some filters were not valid and were ignored."), "warning")
        return InboxQuery().load({k: v for k, v in args.items() if k not in exc.messages})


@bp.get("/inbox/export.xlsx")
@roles_required(*WORKERS)
def export():
    """The inbox list with its filters, every page of it, as Excel (audited)."""
    from .exports import MAX_ROWS, xlsx_export
    from .labels import district_label, task_label, village_label

    query = _query()
    rows, _total, _pages = inbox_page(
        db.session, current_user.actor, InboxFilter(**{**query, "page": 1}), per_page=MAX_ROWS + 1
    )
    places = places_of(db.session, [r.business_key for r in rows])
    headers = [
        _("Case"),
        _("Applicant"),
        _("Task"),
        _("Village"),
        _("District"),
        _("Due"),
        _("Overdue"),
        _("Priority"),
        _("Flags"),
        _("Assignee"),
    ]
    table = []
    for t in rows:
        place = places.get(t.business_key)
        table.append(
            [
                t.business_key,
                place.name if place and place.name else "",
                task_label(t.bpmn_id, t.name),
                village_label(place.village if place else None),
                district_label(t.region, place.district_name if place else None),
                t.due_at,
                is_overdue(t),
                t.priority,
                ", ".join(_(f) for f in t.flags or []),
                t.assignee or "",
            ]
        )
    filters = {k: v for k, v in query.items() if k != "page"}
    return xlsx_export("inbox", _("Tasks"), headers, table, filters=filters)


def task_page(business_key):
    """Where a task of this business key is worked: its case page, or its payment cycle's page."""
    endpoint, values = task_target(business_key)
    return url_for(endpoint, **values)


def _act(action):
    try:
        with unit_of_work(db.session):
            action()
    except EngineError as exc:
        if exc.code in ("FOUR_EYES", "NOT_ALLOWED"):
            log_refusal(
                "task.refused",
                "task",
                request.view_args.get("task_id"),
                code=exc.code,
                **({"reason": exc.details["reason"]} if "reason" in exc.details else {}),
            )
        flash(error_text(exc), "danger")
        return False
    return True


@bp.post("/tasks/<int:task_id>/claim")
@roles_required(*WORKERS)
def claim(task_id):
    """Claim a task, then open its case."""
    from engine.humantasks import task_or_404

    ok = _act(lambda: claim_task(services().engine, task_id, current_user.actor))
    row = task_or_404(db.session, task_id) if ok else None
    if ok:
        return redirect(task_page(row.business_key))
    return redirect(local_referrer(request.referrer, request.host) or url_for("inbox.index"))


@bp.post("/tasks/<int:task_id>/unclaim")
@roles_required(*WORKERS)
def unclaim(task_id):
    """Put a task back in its queue."""
    if _act(lambda: unclaim_task(services().engine, task_id, current_user.actor)):
        flash(_("The task is back in its queue."), "success")
    return redirect(url_for("inbox.index"))


@bp.post("/tasks/<int:task_id>/reassign")
@roles_required("supervisor", "administrator")
def reassign(task_id):
    """Give a task to another officer."""
    username = request.form.get("to", "").strip()
    try:
        target = actor_for(officer_or_404(db.session, username))
    except CaseNotFound:
        abort(400)
    if _act(lambda: reassign_task(services().engine, task_id, current_user.actor, target)):
        flash(_("Task reassigned to %(name)s.", name=username), "success")
    return redirect(url_for("inbox.index"))
