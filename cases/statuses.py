"""A case's status (Application.status): the one list, its labels and its groupings.

The diagrams set these through the `caseStatus` property of their steps (processes/*.bpmn); every deploy
refuses a status not listed here (cases/contracts.py, engine/contracts.py). The values are the strings
stored in the database. Python code, the templates (the `CaseStatus` Jinja global) and the labels
(`status_label`, translated through gettext: the English label is the msgid) all read them here.
"""

from enum import StrEnum


def N_(text):
    """Mark an English source text for translation (translated where it is shown)."""
    return text


class CaseStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    IN_REVIEW = "IN_REVIEW"
    IN_REVIEW_ESCALATED = "IN_REVIEW_ESCALATED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    ENROLLED = "ENROLLED"
    REJECTED = "REJECTED"
    APPEAL_REVIEW = "APPEAL_REVIEW"
    CLOSED_REJECTED = "CLOSED_REJECTED"
    REMOVAL_REVIEW = "REMOVAL_REVIEW"
    AWAITING_REMOVAL_APPROVAL = "AWAITING_REMOVAL_APPROVAL"
    PAYMENT_REVIEW = "PAYMENT_REVIEW"
    REMOVED = "REMOVED"
    GRADUATION_REVIEW = "GRADUATION_REVIEW"
    GRADUATED = "GRADUATED"

    @property
    def label(self):
        """The officers' label in the current language."""
        from flask_babel import gettext

        return gettext(STATUS_LABELS[self])


S = CaseStatus
# The officers' label of each status (English msgid; Indonesian in web/translations).
STATUS_LABELS = {
    S.SUBMITTED: N_("Submitted"),
    S.IN_REVIEW: N_("In review"),
    S.IN_REVIEW_ESCALATED: N_("Review escalated"),
    S.AWAITING_APPROVAL: N_("Awaiting approval"),
    S.ENROLLED: N_("Enrolled"),
    S.REJECTED: N_("Rejected (appeal window open)"),
    S.APPEAL_REVIEW: N_("Appeal under review"),
    S.CLOSED_REJECTED: N_("Rejected (final)"),
    S.REMOVAL_REVIEW: N_("Removal under review"),
    S.AWAITING_REMOVAL_APPROVAL: N_("Awaiting removal approval"),
    S.PAYMENT_REVIEW: N_("Payment under review"),
    S.REMOVED: N_("Removed from the programme"),
    S.GRADUATION_REVIEW: N_("Graduation under review"),
    S.GRADUATED: N_("Graduated (left self-sufficient)"),
}

# Groupings (tuples keep the order used in queries and reports).
# Still being decided by the rules and the officers (the portal explains the wait).
BEING_REVIEWED = (S.SUBMITTED, S.IN_REVIEW, S.IN_REVIEW_ESCALATED, S.AWAITING_APPROVAL)
# Found eligible: enrolled, whatever review the enrolment is under.
APPROVED_STATUSES = (S.ENROLLED, S.REMOVAL_REVIEW, S.AWAITING_REMOVAL_APPROVAL, S.PAYMENT_REVIEW, S.GRADUATION_REVIEW)
# Refused, in the appeal window, on appeal or final.
REJECTED_STATUSES = (S.REJECTED, S.CLOSED_REJECTED, S.APPEAL_REVIEW)
# Left the programme: removed, or graduated self-sufficient.
REMOVED_STATUSES = (S.REMOVED, S.GRADUATED)
# Kept out of the programme by a decision (the targeting report's exclusions).
EXCLUDED_STATUSES = (*REJECTED_STATUSES, S.REMOVED)
# A decision was taken on the case (the decision papers).
DECIDED_STATUSES = (*APPROVED_STATUSES, S.REJECTED, S.CLOSED_REJECTED, S.REMOVED, S.GRADUATED)
# Where the application process ends a case.
CLOSED_STATUSES = (S.CLOSED_REJECTED,)
# What the application's `decide` step leads to (cases.listeners copies the decision onto the case).
DECISION_STATUSES = frozenset({S.REJECTED, S.ENROLLED, S.CLOSED_REJECTED, S.IN_REVIEW, S.AWAITING_APPROVAL})
del S


def status_label(code):
    """The officers' label of a status code in the current language (unknown codes: translated as they are)."""
    from flask_babel import gettext

    if not code:
        return "—"
    if code in CaseStatus.__members__:
        return CaseStatus(code).label
    return gettext(code)
