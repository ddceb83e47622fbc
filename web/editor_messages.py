"""Translated texts for the engine's deploy checks and migration verdicts (codes from engine/spec.py, engine/migration.py)."""
from flask_babel import gettext as _

from .messages import error_text


def problem_text(problem):
    """Return a translated sentence for one deploy-check problem (English technical detail appended)."""
    params = problem.get("params") or {}
    detail = params.get("detail")
    texts = {
        "SERVICE_NOT_HOSTED": lambda: _("This service task is not handled by Tepat."),
        "OPERATOR_UNKNOWN": lambda: _("The operator %(name)s does not exist.", name=params.get("operator")),
        "PARAMETER_INVALID": lambda: _("The parameter %(name)s is not a valid expression.", name=params.get("name")),
        "LANE_UNMAPPED": lambda: _("The lane %(name)s is not linked to any role.", name=params.get("lane")),
        "FORM_MISSING": lambda: _("This user task has no form (property formName)."),
        "FORM_UNKNOWN": lambda: _("The form %(name)s does not exist.", name=params.get("form")),
        "NOT_IN_LANE": lambda: _("This user task is not in a lane, so no queue would receive it."),
        "SLA_NOT_NUMBER": lambda: _("slaWorkingDays must be a whole number of working days."),
        "SLA_CALENDAR_NOT_NUMBER": lambda: _("slaCalendarDays must be a whole number of days."),
        "SLA_TWICE": lambda: _("Give a deadline in working days or in calendar days, not both."),
        "ATTEMPTS_RANGE": lambda: _("maxAttempts must be a whole number from 1 to 20."),
        "BACKOFF_RANGE": lambda: _("retryBackoffSeconds must be a whole number of seconds from 1 to 86400."),
        "SCRIPT_INVALID": lambda: _("The script is refused by the sandbox."),
        "CONDITION_INVALID": lambda: _("The condition is refused by the sandbox."),
        "PARSE_ERROR": lambda: _("The diagram is not valid BPMN/DMN."),
        "FILE_TYPE": lambda: _("Only .bpmn and .dmn files can be deployed."),
        "NO_PROCESS": lambda: _("The files hold no executable process."),
        "FILE_TOO_LARGE": lambda: _("The file is too large (at most 2 MiB)."),
        "XML_DTD": lambda: _("DOCTYPE and entity declarations are not allowed (they can read files or hang the server)."),
        "XML_MALFORMED": lambda: _("The file is not well-formed XML."),
        "NOT_UTF8": lambda: _("The file is not UTF-8 text."),
    }
    make = texts.get(problem.get("code"))
    text = make() if make else problem.get("message", "")
    return f"{text} ({detail})" if detail and make else text


def verdict_text(reason):
    """Return a translated sentence for why an instance cannot move, or what changes where it is."""
    element = reason.get("element")
    texts = {
        "POSITION_REMOVED": lambda: _("It is at %(element)s, which the new version no longer has.", element=element),
        "POSITION_KIND_CHANGED": lambda: _("%(element)s is a different kind of element in the new version.",
                                           element=element),
        "SUBPROCESS_REMOVED": lambda: _("A subprocess it runs no longer exists in the new version."),
        "NOT_ON_SOURCE_VERSION": lambda: _("It is no longer a live instance of that version."),
    }
    make = texts.get(reason.get("code"))
    if make:
        return make()
    if element:
        return _("%(element)s changed in the new version.", element=element)
    return reason.get("message", "")


def refusal_text(exc):
    """Translated text for editor refusals (file name, stale draft, migration) and engine errors."""
    texts = {
        "FILE_NAME_INVALID": lambda: _("Use a plain file name: a-z, 0-9, _ and -, ending in .bpmn or .dmn."),
        "DRAFT_STALE": lambda: _("Someone deployed a newer version after these drafts were started: %(files)s. "
                                 "Review them, then deploy again confirming you want to replace that version.",
                                 files=", ".join(exc.details.get("files", []))),
        "MIGRATION_REFUSED": lambda: _("These two versions cannot be compared: %(reason)s", reason=exc.message),
    }
    make = texts.get(getattr(exc, "code", None))
    if make:
        return make()
    problems = getattr(exc, "problems", None)
    if problems:
        return problem_text(problems[0])
    if getattr(exc, "code", None) == "DEPLOY_REJECTED":
        return _("There is nothing to deploy: no drafts.")
    return error_text(exc)
