"""Tasks: the caller's inbox, one task with its form, and claim, release, complete, reassign."""

from flask import request
from flask_smorest import Blueprint

from cases.enrolment_check import approval_warning
from cases.operations import CaseNotFound, actor_for, case_or_404, officer_or_404
from engine.db import db
from engine.errors import EngineError, TaskNotFound
from engine.humantasks import claim_task, complete_task, queue_counts, reassign_task, task_or_404, unclaim_task
from engine.inbox import PER_PAGE, InboxFilter, inbox_page
from engine.scope import in_scope
from forms import FORMS

from .. import services
from ..casepages import READERS
from ..inbox import WORKERS, InboxQuery
from . import API_PREFIX, documented_errors
from .auth import api_roles_required, caller, refuse_out_of_scope
from .errors import abort_for_engine_error, api_abort, api_text, register_json_errors
from .present import form_out, task_out
from .schemas import ReassignSchema, TaskActionSchema, TaskDetailSchema, TaskPageSchema

bp = Blueprint(
    "api_tasks",
    __name__,
    url_prefix=f"{API_PREFIX}/tasks",
    description="Human tasks: the caller's queues, claiming, completing with the task's form.",
)
register_json_errors(bp)
SUPERVISORS = ("supervisor", "administrator")
COMPLETE_BODY = {
    "required": True,
    "description": (
        "The task's form: the schema named by the task's form_name (GET /api/v1/tasks/{id}). A form "
        "whose fields depend on a decision (e.g. a rejection needs a reason code) is a oneOf of one "
        "schema per decision value; every body valid by the schema is accepted."
    ),
    "content": {
        "application/json": {
            "schema": {"oneOf": [{"$ref": f"#/components/schemas/{cls.__name__}"} for cls in FORMS.values()]}
        }
    },
}


def task_for_caller_or_404(task_id):
    """Return the task if it lies in the caller's districts, else answer 404."""
    try:
        row = task_or_404(db.session, task_id)
    except TaskNotFound:
        api_abort(404, "TASK_NOT_FOUND")
    if not in_scope(caller().actor, row.region):
        refuse_out_of_scope("task", task_id)
        api_abort(404, "TASK_NOT_FOUND")  # another district's task: do not confirm it exists
    return row


def _result(task_id):
    """The task and its case after an action (re-read: the engine may have moved the case on)."""
    db.session.flush()
    row = task_or_404(db.session, task_id)
    try:
        app = case_or_404(db.session, row.business_key)
    except CaseNotFound:  # a task of another kind of process (e.g. a community objection)
        return {"task": task_out(row), "case": None}
    return {
        "task": task_out(row),
        "case": {"case_number": app.case_number, "status": app.status, "decision": app.decision},
    }


def _act(task_id, action, errors_field=None):
    task_for_caller_or_404(task_id)
    try:
        action(services().engine, caller().actor)
    except EngineError as exc:
        abort_for_engine_error(exc, errors_field)
    return _result(task_id)


@bp.route("")
@api_roles_required(*WORKERS)
@bp.arguments(InboxQuery, location="query")
@bp.response(200, TaskPageSchema)
@documented_errors(bp, 401, 403)
def index(query):
    """List the caller's inbox (the same filters as the inbox page), with open counts per queue and district.

    view: queue (open tasks), mine (claimed by the caller), all (open and claimed).
    """
    actor = caller().actor
    rows, total, pages = inbox_page(db.session, actor, InboxFilter(**query))
    counts = sorted(queue_counts(db.session, actor).items(), key=lambda x: (x[0][0], x[0][1] or ""))
    return {
        "items": [task_out(r) for r in rows],
        "total": total,
        "page": query["page"],
        "pages": pages,
        "per_page": PER_PAGE,
        "queues": [{"queue": q, "district": r, "open": n} for (q, r), n in counts],
    }


@bp.route("/<int:task_id>")
@api_roles_required(*READERS)
@bp.response(200, TaskDetailSchema)
@documented_errors(bp, 401, 403, 404)
def show(task_id):
    """Show a task with its form: field list (translated labels, choices) and the JSON schema of its body.

    An approval task of a family that cannot be enrolled carries approval_warning: approving it rejects the case.
    """
    row = task_for_caller_or_404(task_id)
    return {
        **task_out(row),
        "form": form_out(services().engine.forms, row.form_name),
        "approval_warning": approval_warning(services().engine, row),
    }


@bp.route("/<int:task_id>/claim", methods=["POST"])
@api_roles_required(*WORKERS)
@bp.response(200, TaskActionSchema)
@documented_errors(bp, 401, 403, 404, 409)
def claim(task_id):
    """Claim an open task (role, district and four eyes are checked; 403 FOUR_EYES says why)."""
    return _act(task_id, lambda engine, actor: claim_task(engine, task_id, actor))


@bp.route("/<int:task_id>/unclaim", methods=["POST"])
@api_roles_required(*WORKERS)
@bp.response(200, TaskActionSchema)
@documented_errors(bp, 401, 403, 404, 409)
def unclaim(task_id):
    """Put a claimed task back in its queue (its holder, or a supervisor)."""
    return _act(task_id, lambda engine, actor: unclaim_task(engine, task_id, actor))


@bp.route("/<int:task_id>/complete", methods=["POST"])
@api_roles_required(*WORKERS)
@bp.doc(requestBody=COMPLETE_BODY)
@bp.response(200, TaskActionSchema)
@documented_errors(bp, 401, 403, 404, 409, 422)
def complete(task_id):
    """Complete the caller's claimed task with its form; the case runs on.

    The body is validated by the task's form schema: 422 FORM_INVALID lists field errors under
    errors.json; 409 when the task was completed or withdrawn meanwhile or is not claimed by the caller.
    """
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        api_abort(422, "FORM_INVALID", errors={"json": {"_schema": [api_text("BODY_NOT_OBJECT")]}})
    return _act(task_id, lambda engine, actor: complete_task(engine, task_id, actor, data))


@bp.route("/<int:task_id>/reassign", methods=["POST"])
@api_roles_required(*SUPERVISORS)
@bp.arguments(ReassignSchema)
@bp.response(200, TaskActionSchema)
@documented_errors(bp, 401, 403, 404, 409)
def reassign(body, task_id):
    """Give a task to another officer (supervisors and administrators); 422 if that officer may not work it."""
    try:
        target = actor_for(officer_or_404(db.session, body["to"]))
    except CaseNotFound:
        api_abort(422, "OFFICER_NOT_FOUND", errors={"json": {"to": [api_text("OFFICER_NOT_FOUND")]}})
    return _act(task_id, lambda engine, actor: reassign_task(engine, task_id, actor, target), errors_field="to")
