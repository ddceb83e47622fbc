"""Translated texts for the engine's and the domain's refusal codes."""

from flask_babel import lazy_gettext as _l

ERRORS = {
    "NIK_INVALID": _l("The NIK is not valid."),
    "DUPLICATE_APPLICATION": _l("This NIK already has an open case."),
    "FORM_INVALID": _l("The form has errors; see the fields below."),
    "TASK_NOT_READY": _l("This task is no longer open: someone completed or withdrew it. Reload the case."),
    "TASK_ALREADY_CLAIMED": _l("Another officer holds this task."),
    "TASK_NOT_CLAIMED": _l("Claim the task before completing it."),
    "TASK_NOT_FOUND": _l("The task does not exist."),
    "FOUR_EYES": _l("You worked on this case earlier, so another officer must take this task (four eyes)."),
    "NOT_ALLOWED": _l("You may not do this."),
    "CASE_NOT_FOUND": _l("The case does not exist."),
    "MESSAGE_NOT_EXPECTED": _l("The case is not waiting for this."),
    "APPEAL_NOT_ALLOWED": _l("An appeal is not possible now."),
    "INCIDENT_NOT_FOUND": _l("The incident is no longer open."),
    "INCIDENT_NOT_SKIPPABLE": _l("This incident is a process that could not be woken, not a task: retry it."),
    "CYCLE_EXISTS": _l("This payment cycle was opened before."),
    "CYCLE_UNKNOWN": _l("The payment schedule has no such cycle."),
    "CYCLE_NOT_FOUND": _l("The payment cycle does not exist."),
    "CYCLE_SUPPLEMENT_EARLY": _l("A supplementary cycle opens after the list of the cycle it completes is frozen."),
    "GRADUATION_NOT_ALLOWED": _l(
        "Graduation is not possible now: the family must be enrolled with no other process "
        "running, and a graduation by criteria needs the last checks to meet the criteria."
    ),
}


def error_text(exc):
    """Return the translated text for an EngineError (its English message if none)."""
    text = ERRORS.get(getattr(exc, "code", ""))
    return str(text) if text is not None else str(exc)
