"""Completing a human task from a posted page form (case pages and objection pages share this)."""

from flask import flash, request
from flask_login import current_user

from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.humantasks import complete_task

from . import services
from .messages import error_text
from .refusals import log_refusal

FORM_META = ("csrf_token", "claim_stamp")


def complete_from_form(task_id):
    """Complete the officer's task with the posted form and commit; return (values, refusal or None).

    On a refusal the transaction is rolled back, the reason flashed, and four-eyes or not-allowed
    attempts written to the audit log; the caller re-renders its page (422 for FormInvalid, else 409).
    """
    values = {}
    for key in request.form:
        posted = [v for v in request.form.getlist(key) if v != ""]
        if key not in FORM_META and posted:
            values[key] = posted if len(posted) > 1 or key.endswith("_codes") else posted[0]
    try:
        with unit_of_work(db.session):
            complete_task(
                services().engine, task_id, current_user.actor, values, expected_claim=request.form.get("claim_stamp")
            )
    except EngineError as exc:
        if exc.code in ("FOUR_EYES", "NOT_ALLOWED"):
            log_refusal("task.refused", "task", task_id, code=exc.code)
        flash(error_text(exc), "danger")
        return values, exc
    return values, None
