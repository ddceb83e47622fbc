"""What officers read, in their language: statuses, task names, districts, timeline lines, form errors.

One place for each: a case status has one label (cases/statuses.py, `status_label`; the templates compare
with the `CaseStatus` global);
timeline lines are stored as codes with parameters (CaseEvent.kind and .detail) and worded here at
render time; rows written before the parameters were kept fall back to their stored English summary,
parsed where its shape is known.
"""

import re

from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l

from cases.officers import district_name
from cases.statuses import CaseStatus
from cases.statuses import status_label as _case_status_label
from integrations.nik import mask_nik
from payments.models import BatchStatus, CycleStatus, PaymentStatus

# Human tasks by BPMN id (the diagrams' names are "Indonesian / English"; these are the wording we keep).
TASK_LABELS = {
    "review": _l("Review case"),
    "review_escalated": _l("Review case (escalated)"),
    "approve": _l("Approve case"),
    "appeal_review": _l("Review appeal"),
    "verify_objection": _l("Verify community objection"),
    "verify_objection_escalated": _l("Verify community objection (escalated)"),
    "removal_review": _l("Review removal"),
    "approve_removal": _l("Approve removal"),
    "prepare_cycle": _l("Prepare payment cycle"),
    "approve_cycle": _l("Approve payment cycle"),
    "dispatch_batches": _l("Send payment files to the banks"),
    "review_payment": _l("Review a failed payment"),
    "confirm_graduation": _l("Confirm graduation"),
}

OPERATOR_LABELS = {
    "identity.verify": _l("identity at the civil registry"),
    "biometric.face_match": _l("face match"),
    "biometric.deduplicate": _l("duplicate faces"),
    "dtsen.lookup": _l("DTSEN welfare register"),
    "bpjs_health.lookup": _l("BPJS Health"),
    "bpjs_employment.lookup_household": _l("BPJS Employment"),
    "assets.lookup": _l("assets"),
    "civil_service.lookup_household": _l("civil-service register"),
    "benefits.calculate": _l("benefit calculation"),
    "payments.request_disbursement": _l("payment request"),
    "payments.join_cycles": _l("join the payment cycles"),
    "cycle.freeze_list": _l("freeze the cycle list"),
    "cycle.compute_entitlements": _l("cycle entitlements"),
    "cycle.make_batches": _l("payment batches"),
    "cycle.record_dispatch": _l("dispatch and SP2D"),
    "cycle.follow_up": _l("failed payment follow-up"),
    "cycle.return_undrawn": _l("return of undrawn money"),
    "cycle.close": _l("close the cycle"),
    "cycle.apply_review": _l("apply the payment review"),
    "cycle.notify_paid": _l("payment notices"),
    "notify.decision": _l("decision notice"),
    "notify.graduation": _l("graduation notice and thank-you letter"),
    "notify.objection_outcome": _l("objection outcome notice"),
}

# Evidence sources (EvidenceRecord.source)
SOURCE_LABELS = {
    "civil_registry": _l("Civil registry"),
    "dtsen": _l("DTSEN welfare register"),
    "bpjs_health": _l("BPJS Health"),
    "bpjs_employment": _l("BPJS Employment"),
    "assets": _l("Asset registers"),
    "civil_service": _l("Civil-service register"),
    "face": _l("Face match"),
    "face_index": _l("Duplicate-face check"),
    "payments": _l("Payments"),
    "notify": _l("Notices"),
}

CHANNEL_LABELS = {"self": _l("self"), "facilitator": _l("facilitator")}
RECHECK_OUTCOMES = {
    "keep": _l("still eligible"),
    "review": _l("an officer must review"),
    "exclude": _l("no longer eligible by the rules"),
}
MESSAGE_LABELS = {"appeal_filed": _l("appeal filed by the applicant")}
ASSIGN_LABELS = {"claim": _l("claimed"), "unclaim": _l("released"), "reassign": _l("reassigned")}


def status_label(code):
    """Return a case status's label in the officer's language (cases/statuses.py; other codes translated as
    they are, e.g. a payment cycle's)."""
    return _case_status_label(code)


def district_label(code, registry_name=None):
    """Return a district's name from the regions data (the registry's spelling, then the code, as fallbacks)."""
    if code == "3510":  # work of the whole regency (payment cycles), not of one district
        return str(_l("Banyuwangi regency (every district)"))
    name = district_name(code) if code else ""
    return name or (registry_name or "").title() or (code or "—")


def source_label(code):
    """Return an evidence source's name in the officer's language."""
    text = str(SOURCE_LABELS.get(code, code or "—"))
    return text[:1].upper() + text[1:]


def village_label(name):
    """Return a village's name as officers read it (the registry writes it in capitals)."""
    return name.title() if name else "—"


def relation_label(code):
    """Return a household relation (the registry's code, e.g. ISTRI) in the officer's language."""
    from .portal.wizard import RELATION_LABELS

    return str(RELATION_LABELS.get(code, code or "—"))


def task_label(bpmn_id=None, name=None):
    """Return a human task's name in the officer's language."""
    if bpmn_id in TASK_LABELS:
        return str(TASK_LABELS[bpmn_id])
    if name and " / " in name:  # the diagrams' "Indonesian / English" names
        first, _, second = name.partition(" / ")
        return first if str(get_locale() or "id") == "id" else second
    return name or bpmn_id or ""


def _operator(value):
    return str(OPERATOR_LABELS.get(value, value or ""))


_OLD_ASSIGN = re.compile(r"^Task (?P<name>.*): (?P<action>claim|unclaim|reassign) \((?P<target>.*)\)$")
_OLD_RECHECK = re.compile(r"^Re-check: (?P<outcome>\w+), (?P<n>\d+) change")
_OLD_SUBMITTED = re.compile(r"^Application submitted \((?P<channel>\w+)\)$")
_OLD_RETRY = re.compile(r"retry at (?P<at>\S+)$")


def _assign_text(action, name, target):
    target = target if target and target != "-" else None
    if action == "reassign" and target:
        return gettext("Task %(task)s reassigned to %(officer)s", task=name, officer=target)
    return gettext("Task %(task)s: %(action)s", task=name, action=str(ASSIGN_LABELS.get(action, action)))


def event_text(event):
    """Return a timeline line (a CaseEvent) in the officer's language."""
    kind, d, summary = event.kind, event.detail or {}, event.summary or ""
    if kind == "submitted":
        channel = d.get("channel") or (_OLD_SUBMITTED.match(summary) or {"channel": None})["channel"]
        label = CHANNEL_LABELS.get(channel)
        return (
            gettext("Application submitted (%(channel)s)", channel=label) if label else gettext("Application submitted")
        )
    if kind == "appeal_filed":
        return gettext("Appeal filed")
    if kind == "recheck_started":
        return gettext("Re-check started")
    if kind == "recheck":
        match = _OLD_RECHECK.match(summary)
        outcome = d.get("outcome") or (match and match["outcome"])
        count = (
            d["change_count"] if "change_count" in d else (int(match["n"]) if match else len(d.get("changes") or []))
        )
        return gettext(
            "Re-check: %(outcome)s, %(n)d change(s)",
            outcome=str(RECHECK_OUTCOMES.get(outcome, outcome or "—")),
            n=count,
        )
    if kind == "milestone":
        return gettext("Status: %(status)s", status=status_label(d.get("status") or summary.removeprefix("Status ")))
    if kind == "bpmn_error":
        return gettext(
            "Check of %(source)s failed: %(code)s",
            source=_operator(d.get("operator")),
            code=gettext(d["code"]) if d.get("code") else "—",
        )
    if kind == "retry_scheduled":
        at = d.get("retry_at") or (_OLD_RETRY.search(summary) or {"at": None})["at"]
        return gettext(
            "%(source)s unavailable (attempt %(n)s); next try at %(at)s",
            source=_operator(d.get("operator")),
            n=d.get("attempts", "?"),
            at=_when(at),
        )
    if kind == "incident":
        return gettext("Incident on step %(step)s: %(error)s", step=d.get("bpmn_id", "?"), error=d.get("error", ""))
    if kind in ("task_created", "task_completed", "task_cancelled"):
        text = {
            "task_created": _l("Task created: %(task)s"),
            "task_completed": _l("Task completed: %(task)s"),
            "task_cancelled": _l("Task cancelled: %(task)s"),
        }[kind]
        return str(text) % {"task": task_label(d.get("bpmn_id"), d.get("name"))}
    if kind in ("task_claim", "task_unclaim", "task_reassign"):
        match = _OLD_ASSIGN.match(summary)
        name = task_label(d.get("bpmn_id"), d.get("name") or (match and match["name"]))
        return _assign_text(kind.removeprefix("task_"), name, d.get("target") or (match and match["target"]))
    if kind == "message":
        return gettext("Message received: %(name)s", name=str(MESSAGE_LABELS.get(d.get("name"), d.get("name") or "—")))
    simple = {
        "started": _l("Process started"),
        "incident_retried": _l("Incident retried"),
        "incident_skipped": _l("Incident skipped"),
        "migrated": _l("Moved to a newer process version"),
    }
    return str(simple[kind]) if kind in simple else summary


def _when(value):
    from datetime import datetime

    from flask_babel import format_datetime

    if not value:
        return "—"
    try:
        return format_datetime(datetime.fromisoformat(value), "short")
    except ValueError:
        return value


# marshmallow's own messages (forms/ stays free of the web's translations): pattern -> msgid
_FORM_ERRORS = [
    (re.compile(r"^Missing data for required field\.$"), _l("This field is required.")),
    (re.compile(r"^Field may not be null\.$"), _l("This field is required.")),
    (re.compile(r"^Must be one of: .*\.$"), _l("Choose one of the options.")),
    (
        re.compile(r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$"),
        _l("Write between %(min)s and %(max)s characters."),
    ),
    (re.compile(r"^Longer than maximum length (?P<max>\d+)\.$"), _l("Write at most %(max)s characters.")),
    (re.compile(r"^Shorter than minimum length (?P<min>\d+)\.$"), _l("Write at least %(min)s characters.")),
    (re.compile(r"^Unknown field\.$"), _l("This field is not part of the form.")),
    (re.compile(r"^Not a valid (string|integer|number|boolean)\.$"), _l("This value is not valid.")),
    (re.compile(r"^a reason code is required to reject$"), _l("Choose a reason to reject.")),
]


def form_error(message):
    """Return one validation message of a form in the officer's language."""
    for pattern, text in _FORM_ERRORS:
        match = pattern.match(str(message))
        if match:
            return str(text) % match.groupdict() if match.groupdict() else str(text)
    return gettext(str(message))  # our own messages are msgids


def form_errors(messages):
    """Join a field's validation messages (a list, or a dict of nested ones), each translated."""
    if isinstance(messages, dict):
        messages = [m for value in messages.values() for m in (value if isinstance(value, list) else [value])]
    if isinstance(messages, str):
        messages = [messages]
    return " ".join(form_error(m) for m in messages or [])


def register(app):
    """Make these available to every template."""
    app.jinja_env.globals.update(
        status_label=status_label,
        CaseStatus=CaseStatus,
        CycleStatus=CycleStatus,
        BatchStatus=BatchStatus,
        PaymentStatus=PaymentStatus,
        district_label=district_label,
        task_label=task_label,
        event_text=event_text,
        source_label=source_label,
        relation_label=relation_label,
        village_label=village_label,
    )
    app.jinja_env.filters["form_errors"] = form_errors
    app.jinja_env.filters["mask_nik"] = mask_nik
