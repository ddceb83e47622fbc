"""Many tasks at once (supervisors): reassign a selection to one officer, or approve a selection.

Each task is checked and audited on its own (cases/taskbatch.py); the page that follows lists every
task with its outcome and, for a refused one, why.
"""

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from cases.audit import record
from cases.operations import CaseNotFound, officer_or_404
from cases.taskbatch import MAX_BATCH, approve_many, reassign_many
from engine.db import db, unit_of_work
from engine.models import HumanTask
from engine.scope import in_scope

from . import services
from .auth import roles_required
from .messages import error_text

bp = Blueprint("taskbatch", __name__)


def _task_ids():
    ids = []
    for value in request.form.getlist("task_ids"):
        if value.isdigit() and len(value) <= 12:
            ids.append(int(value))
    return list(dict.fromkeys(ids))


def _reason(result, action, target_name):
    """Why a task of the batch was refused, for the officer (never naming another district's case)."""
    if result.code == "FOUR_EYES":
        if action == "reassign":
            return _(
                "%(name)s worked on this case earlier, so another officer must take this task (four eyes).",
                name=target_name,
            )
        return error_text(result.error)
    if result.code == "NOT_ALLOWED" and action == "reassign":
        if result.error.details.get("reason") == "district" and result.business_key is None:
            return _("The task does not exist.")
        return _("%(name)s may not take this task: another role or district.", name=target_name)
    if result.code == "NOT_AN_APPROVAL":
        return _("This is not an approval task.")
    return error_text(result.error)


def _visible(results, actor):
    """Hide the case number of a task outside the actor's districts (its existence is not confirmed)."""
    regions = (
        dict(
            db.session.execute(
                HumanTask.__table__.select()
                .with_only_columns(HumanTask.id, HumanTask.region)
                .where(HumanTask.id.in_([r.task_id for r in results]))
            ).all()
        )
        if results
        else {}
    )
    out = []
    for r in results:
        if r.task_id in regions and not in_scope(actor, regions[r.task_id]):
            r = type(r)(r.task_id, None, False, "TASK_NOT_FOUND", r.error)
        out.append(r)
    return out


@bp.post("/tasks/batch")
@roles_required("supervisor", "administrator")
def run():
    """Reassign or approve the checked tasks; show what happened to each."""
    actor = current_user.actor
    action = request.form.get("action", "")
    ids = _task_ids()
    back = request.form.get("back") if request.form.get("back") in ("inbox", "approvals") else "inbox"
    problem, target_name, results = None, None, []
    if action not in ("reassign", "approve"):
        problem = _("Choose what to do with the selected tasks.")
    elif not ids:
        problem = _("Select at least one task.")
    elif len(ids) > MAX_BATCH:
        problem = _("Select at most %(n)d tasks at once.", n=MAX_BATCH)
    elif action == "reassign":
        username = request.form.get("to", "").strip()
        try:
            target = officer_or_404(db.session, username)
        except CaseNotFound:
            problem = _("Choose an active officer from the list.")
        else:
            target_name = target.username
            results = reassign_many(services().engine, ids, actor, target)
    else:
        results = approve_many(services().engine, ids, actor)
    results = _visible(results, actor)
    reasons = {r.task_id: _reason(r, action, target_name) for r in results if not r.ok}
    refused = [r for r in results if not r.ok]
    if results:
        # Each success is audited by the engine; each refusal of a rule (role, district, four eyes) as a
        # refusal of that task, as when acted on alone; and one entry for the batch with every outcome.
        origin = {"ip": request.remote_addr, "user_agent": (request.user_agent.string or "")[:300]}
        for r in refused:
            if r.code in ("FOUR_EYES", "NOT_ALLOWED", "NOT_AN_APPROVAL"):
                record(
                    db.session,
                    actor,
                    "task.refused",
                    "task",
                    r.task_id,
                    **origin,
                    detail={
                        "code": r.code,
                        "batch": action,
                        "target": target_name,
                        **({"reason": r.error.details["reason"]} if "reason" in r.error.details else {}),
                    },
                )
        with unit_of_work(db.session):
            record(
                db.session,
                actor,
                f"task.batch_{action}",
                target_type="task_batch",
                ip=request.remote_addr,
                user_agent=(request.user_agent.string or "")[:300],
                detail={
                    "target": target_name,
                    "tasks": [r.task_id for r in results],
                    "done": [r.task_id for r in results if r.ok],
                    "refused": {str(r.task_id): r.code for r in refused},
                },
            )
    status = 400 if problem else 200
    return render_template(
        "task_batch.html",
        action=action,
        results=results,
        reasons=reasons,
        problem=problem,
        target=target_name,
        back=back,
        done=len(results) - len(refused),
        refused=len(refused),
    ), status
