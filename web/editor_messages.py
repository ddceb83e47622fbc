"""Translated texts for the engine's deploy checks and migration verdicts.

The codes come from engine/spec.py and engine/migration.py.
"""

from flask_babel import gettext as _

from .messages import error_text


def problem_text(problem, with_place=False):
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
        "XML_DTD": lambda: _(
            "DOCTYPE and entity declarations are not allowed (they can read files or hang the server)."
        ),
        "XML_MALFORMED": lambda: _("The file is not well-formed XML."),
        "NOT_UTF8": lambda: _("The file is not UTF-8 text."),
        "FILE_NAME_TOO_LONG": lambda: _(
            "The file name is longer than %(limit)s characters.", limit=params.get("limit")
        ),
        "DMN_NAMESPACE": lambda: _(
            "This is not a DMN 1.1, 1.2 or 1.3 file (namespace %(namespace)s).", namespace=params.get("namespace")
        ),
        "DMN_NO_DECISION": lambda: _("The DMN file holds no decision table (only decision services or diagrams)."),
        "DMN_ONE_TABLE": lambda: _("Each DMN file must hold exactly one decision with a decision table."),
        "DMN_EXPRESSION_INVALID": lambda: _("This rule expression is refused by the sandbox."),
        "DUPLICATE_ID": lambda: _(
            "Two elements have the same id %(id)s; every id must be unique.", id=problem.get("element_id")
        ),
        "ID_TOO_LONG": lambda: _("The id is longer than %(limit)s characters.", limit=params.get("limit")),
        "NAME_TOO_LONG": lambda: _("The name is longer than %(limit)s characters.", limit=params.get("limit")),
        "CHAIN_TOO_LONG": lambda: _(
            "A path of elements is too long (at most %(limit)s one after another); split it into called processes.",
            limit=params.get("limit"),
        ),
        "NOT_EXECUTABLE": lambda: _("Every process in this file is marked non-executable, so nothing would run."),
        "CALLED_PROCESS_MISSING": lambda: _(
            "This element calls the process %(name)s, which no file holds.", name=params.get("called")
        ),
        "CALL_CYCLE": lambda: _("The process calls itself (%(path)s); it would never end.", path=params.get("path")),
        "TIMER_TOO_LONG": lambda: _("The timer %(value)s is longer than ten years.", value=params.get("value")),
        "TIMER_INVALID": lambda: _("The timer %(value)s is not an ISO 8601 duration.", value=params.get("value")),
        "CONTRACT_ELEMENT_MISSING": lambda: _(
            "Tepat relies on the element %(id)s (%(kind)s) in this process; put it back with this id.",
            id=params.get("id"),
            kind=params.get("kind"),
        ),
        "CONTRACT_ELEMENT_KIND": lambda: _(
            "Tepat relies on this element being a %(kind)s, not a %(found)s.",
            kind=params.get("kind"),
            found=params.get("found"),
        ),
        "CONTRACT_FORM": lambda: _(
            "Tepat relies on this user task using the form %(form)s (it uses %(found)s).",
            form=params.get("form"),
            found=params.get("found"),
        ),
        "CONTRACT_MESSAGE": lambda: _(
            "Tepat relies on this event catching the message %(name)s.", name=params.get("name")
        ),
        "CONTRACT_VARIABLE_MISSING": lambda: _(
            "Tepat relies on this step setting %(names)s.", names=params.get("names")
        ),
        "CONTRACT_STATUS": lambda: _(
            "Tepat does not know the case status %(status)s in this process (allowed: %(allowed)s).",
            status=params.get("status"),
            allowed=params.get("allowed"),
        ),
        "CONTRACT_REASON_CODE": lambda: _(
            "Tepat does not know the reason code %(code)s (the catalogue of reasons: forms/reason_codes.py).",
            code=params.get("reason"),
        ),
        "CONTRACT_REASON_TEXT": lambda: _(
            "Tepat relies on the catalogue's text for the reason %(code)s (%(lang)s): %(expected)s",
            code=params.get("reason"),
            lang=params.get("lang"),
            expected=params.get("expected"),
        ),
    }
    make = texts.get(problem.get("code"))
    text = make() if make else problem.get("message", "")
    where = " ".join(str(x) for x in (problem.get("file"), problem.get("element")) if x)
    text = f"{where}: {text}" if where and with_place else text
    return f"{text} ({detail})" if detail and make else text


def verdict_text(reason):
    """Return a translated sentence for why an instance cannot move, or what changes where it is."""
    element = reason.get("element")
    texts = {
        "POSITION_REMOVED": lambda: _("It is at %(element)s, which the new version no longer has.", element=element),
        "POSITION_KIND_CHANGED": lambda: _(
            "%(element)s is a different kind of element in the new version.", element=element
        ),
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
        "DRAFT_STALE": lambda: _(
            "Someone deployed a newer version after these drafts were started: %(files)s. "
            "Review them, then deploy again confirming you want to replace that version.",
            files=", ".join(exc.details.get("files", [])),
        ),
        "MIGRATION_REFUSED": lambda: _("These two versions cannot be compared: %(reason)s", reason=exc.message),
    }
    make = texts.get(getattr(exc, "code", None))
    if make:
        return make()
    problems = getattr(exc, "problems", None)
    if problems:
        return problem_text(problems[0], with_place=True)
    if getattr(exc, "code", None) == "DEPLOY_REJECTED":
        return _("There is nothing to deploy: no drafts.")
    return error_text(exc)
