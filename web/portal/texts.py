"""Plain-language texts for applicants: case statuses, what to do next, messages, benefit parts."""

from flask_babel import lazy_gettext as _l

from cases.statuses import CaseStatus
from payments.models import PaymentStatus

# status (cases/statuses.py, every one) -> (headline, explanation)
STATUS_TEXTS = {
    CaseStatus.SUBMITTED: (
        _l("Received, being checked"),
        _l("Your application was received. The registers are being checked; this usually takes a few minutes."),
    ),
    CaseStatus.IN_REVIEW: (
        _l("Being checked by an officer"),
        _l(
            "Some things could not be decided automatically, so an officer checks your application by hand. "
            "This takes up to 3 working days."
        ),
    ),
    CaseStatus.IN_REVIEW_ESCALATED: (
        _l("Being checked by a supervisor"),
        _l("The check took longer than planned and was passed to a supervisor."),
    ),
    CaseStatus.AWAITING_APPROVAL: (
        _l("Waiting for approval"),
        _l("An officer recommended your application. A second officer must confirm the decision."),
    ),
    CaseStatus.ENROLLED: (
        _l("Approved: your family receives assistance"),
        _l("Your family is registered for the programmes below. Payments go to the account you gave."),
    ),
    CaseStatus.REJECTED: (
        _l("Not approved"),
        _l("Your application was not approved for the reasons below. If you think this is wrong, you can appeal."),
    ),
    CaseStatus.APPEAL_REVIEW: (
        _l("Appeal being reviewed"),
        _l(
            "An officer who took no part in the first decision is reviewing your appeal. This takes up to "
            "10 working days."
        ),
    ),
    CaseStatus.CLOSED_REJECTED: (
        _l("Not approved (final)"),
        _l("The decision is final. You may apply again if your situation changes."),
    ),
    CaseStatus.REMOVAL_REVIEW: (
        _l("Being re-checked"),
        _l("A periodic re-check found changes; an officer is checking whether your family still qualifies."),
    ),
    CaseStatus.AWAITING_REMOVAL_APPROVAL: (
        _l("Being re-checked"),
        _l("A periodic re-check found changes; a second officer is confirming the result."),
    ),
    CaseStatus.PAYMENT_REVIEW: (
        _l("Payment being checked"),
        _l(
            "A payment to your family could not be made with the data we hold; an officer is checking "
            "it. Your family stays enrolled."
        ),
    ),
    CaseStatus.REMOVED: (
        _l("No longer receiving assistance"),
        _l("After a re-check your family no longer qualifies. You may apply again if your situation changes."),
    ),
    CaseStatus.GRADUATION_REVIEW: (
        _l("Graduation being confirmed"),
        _l(
            "Your family's recent checks show it may be self-sufficient; an officer is confirming it "
            "with you and your facilitator."
        ),
    ),
    CaseStatus.GRADUATED: (
        _l("Graduated: self-sufficient"),
        _l(
            "Your family has left the programme self-sufficient (graduasi). Payments stop from the next "
            "cycle. Thank you. You may apply again if your situation changes."
        ),
    ),
}

EVENT_TEXTS = {
    "submitted": _l("Application sent"),
    "appeal_filed": _l("Appeal sent"),
    "recheck": _l("Periodic re-check"),
    "graduation_started": _l("Graduation started"),
    "graduated": _l("Graduated"),
    "reinstated": _l("Exit overturned on appeal: enrolled again"),
}

BENEFIT_PARTS = {
    "pregnant": _l("PKH: pregnancy"),
    "child_0_6": _l("PKH: child under 7"),
    "SD": _l("PKH: primary school child"),
    "SMP": _l("PKH: junior high school child"),
    "SMA": _l("PKH: senior high school child"),
    "disability": _l("PKH: person with a disability"),
    "elderly_70": _l("PKH: person aged 70 or more"),
    "food": _l("BPNT: food assistance"),
}

OUTCOME_TEXTS = {
    "pass": _l("met"),
    "fail": _l("not met"),
    "review": _l("checked by an officer"),
    "not_checked": _l("not checked"),
    "eligible": _l("eligible"),
    "not_eligible": _l("not eligible"),
    "set_aside": _l("set aside on appeal"),
}

APPEAL_OUTCOMES = {
    None: _l("Being reviewed"),
    "overturn": _l("Accepted: the decision was changed"),
    "uphold": _l("Not accepted: the decision stays"),
}

# Portal messages by template (what the notifier kept); params are the message's own.
NOTICE_TEXTS = {
    "application_received": _l("Your application %(case_number)s was received."),
    "decision_rejected": _l(
        "Your application %(case_number)s was not approved. Open it to see the reasons and how to appeal."
    ),
    "decision_appeal_upheld": _l("Your appeal on %(case_number)s was reviewed; the decision stays."),
    "decision_reinstated": _l(
        "Your appeal on %(case_number)s was accepted: your family receives assistance again. "
        "Stages missed since the exit are paid as arrears (rapel) where the programme allows."
    ),
    "appeal_received": _l("Your appeal on %(case_number)s was received; an officer will review it."),
    "decision_enrolled": _l("Your application %(case_number)s was approved."),
    # the same notice with the stage expected to pay the family first (enrolment joins the payment cycles)
    "decision_enrolled+cycle": _l(
        "Your application %(case_number)s was approved. Your first %(programme)s payment "
        "comes with stage %(cycle)s (about %(amount)s); you will be told when it is paid."
    ),
    "graduation_notice": _l(
        "Your family has graduated from the programme (%(case_number)s): it is self-sufficient. "
        "Payments stop from the next cycle."
    ),
    "graduation_thanks": _l(
        "Thank you. Your family worked hard to stand on its own feet, and we are glad to see it "
        "self-sufficient. If your situation gets worse again, you may apply again at any time, "
        "with your facilitator or in this portal."
    ),
    "payment_paid": _l("Your %(programme)s assistance for stage %(cycle)s, %(amount)s, was paid through %(channel)s."),
    "commitment_warning": _l(
        "Warning for stage %(cycle)s: a PKH commitment (school attendance or health check) was "
        "not met last quarter. This stage is still paid; open your case to see what to do."
    ),
    "commitment_suspended": _l(
        "Stage %(cycle)s: a PKH component is suspended because its commitment was missed "
        "several quarters in a row. Open your case to see which one and what to do."
    ),
}
# The message parameters the texts above may use (each message fills what it has; the rest stay empty).
NOTICE_PARAMS = ("case_number", "programme", "cycle", "amount", "channel")

# A payment's state as the applicant reads it (payments.models.PaymentStatus; a planned payment is not shown).
PAYMENT_STATUS_TEXTS = {
    PaymentStatus.SENT: _l("Sent to the bank or post office"),
    PaymentStatus.CREDITED: _l("Paid into your account"),
    PaymentStatus.FAILED: _l("Not paid: an officer will follow up"),
    PaymentStatus.DRAWN: _l("Received"),
    PaymentStatus.RETURNED: _l("Not drawn in time: returned to the state treasury"),
}
