"""Human-task forms, by the formName the diagrams use.

What the applicant may read and what stays with the officers are separate fields: reason codes from
the catalogue (forms/reason_codes.py) and an optional message *to the applicant* are shown to the
applicant; the notes are internal (officers only) and never leave the officers' pages.
"""

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from .objection import ObjectionReviewForm
from .reason_codes import APPEAL_REASONS, OTHER, REJECTION_REASONS, RULE_REJECTION_CODES

MESSAGE_MAX = 1000
NOTES_MAX = 2000


class CodeList(fields.List):
    """A list of reason codes from the catalogue; one code, or codes separated by commas, is accepted too
    (the command line, a single select)."""

    def __init__(self, codes, **kwargs):
        super().__init__(fields.String(validate=validate.OneOf(tuple(codes))), **kwargs)
        self.codes = tuple(codes)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = [c.strip() for c in value.split(",") if c.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) for c in value):
            raise ValidationError("Not a list of reason codes.")
        if any(c not in self.codes for c in value):
            raise ValidationError("Choose reasons from the list only.")
        return list(dict.fromkeys(value))  # each once, in the order given


class _Strict(Schema):
    class Meta:
        unknown = "raise"


def _check_reasons(data, prefix, needs_codes):
    """Reason codes when (and only when) the decision needs them; a message when "other" is given."""
    codes = data.get(f"{prefix}_reason_codes") or []
    if needs_codes and not codes:
        raise ValidationError("Choose at least one reason the applicant will see.", f"{prefix}_reason_codes")
    if not needs_codes and codes:
        raise ValidationError("Reasons are given only when the applicant is refused.", f"{prefix}_reason_codes")
    if OTHER in codes and not (data.get(f"{prefix}_message") or "").strip():
        raise ValidationError('With "another reason", write the message to the applicant.', f"{prefix}_message")


class CaseReviewForm(_Strict):
    """A caseworker's (or escalated supervisor's) review of a case the machine could not decide."""

    review_decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    review_reason_codes = CodeList(REJECTION_REASONS, load_default=list)
    review_message = fields.String(load_default="", validate=validate.Length(max=MESSAGE_MAX))
    review_notes = fields.String(load_default="", validate=validate.Length(max=NOTES_MAX))

    @validates_schema
    def _reasons(self, data, **kwargs):
        _check_reasons(data, "review", data.get("review_decision") == "reject")

    @post_load
    def _legacy(self, data, **kwargs):
        # Instances started on a process version before reason codes read `review_reason_code`.
        data["review_reason_code"] = (data["review_reason_codes"] or [None])[0]
        return data


class ApprovalForm(_Strict):
    """A supervisor's approval of a reviewed or overturned case (or of a removal after a re-check)."""

    approval_decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    approval_reason_codes = CodeList(REJECTION_REASONS, load_default=list)
    approval_message = fields.String(load_default="", validate=validate.Length(max=MESSAGE_MAX))
    approval_notes = fields.String(load_default="", validate=validate.Length(max=NOTES_MAX))

    @validates_schema
    def _reasons(self, data, **kwargs):
        _check_reasons(data, "approval", data.get("approval_decision") == "reject")

    @post_load
    def _legacy(self, data, **kwargs):
        data["approval_reason_code"] = (data["approval_reason_codes"] or [None])[0]
        return data


# The exclusion grounds of processes/eligibility.dmn that reject a family (the catalogue's
# RULE_REJECTION_CODES); an appeals officer who overturns names the one they judged wrong (ALL: every
# ground of the rejection). The rules then run again with that ground set aside: every other failing
# ground still counts (application.bpmn).
OVERTURNABLE_GROUNDS = ("ALL", *(code.value for code in RULE_REJECTION_CODES))


class AppealReviewForm(_Strict):
    """An appeals officer's judgement of an appeal (reasons for the applicant when it is not accepted)."""

    appeal_outcome = fields.String(required=True, validate=validate.OneOf(["overturn", "uphold"]))
    appeal_overturned_ground = fields.String(load_default="ALL", validate=validate.OneOf(OVERTURNABLE_GROUNDS))
    appeal_reason_codes = CodeList(APPEAL_REASONS, load_default=list)
    appeal_message = fields.String(load_default="", validate=validate.Length(max=MESSAGE_MAX))
    appeal_notes = fields.String(required=True, validate=validate.Length(min=3, max=NOTES_MAX))

    @validates_schema
    def _reasons(self, data, **kwargs):
        _check_reasons(data, "appeal", data.get("appeal_outcome") == "uphold")


class RemovalReviewForm(_Strict):
    """A caseworker's review of an enrolled family whose re-check no longer passes the rules."""

    removal_decision = fields.String(required=True, validate=validate.OneOf(["remove", "keep"]))
    removal_message = fields.String(load_default="", validate=validate.Length(max=MESSAGE_MAX))
    removal_notes = fields.String(required=True, validate=validate.Length(min=3, max=NOTES_MAX))


class CyclePrepareForm(_Strict):
    """A finance officer (the maker) submits a payment cycle's list and amounts for approval, or cancels it."""

    prepare_decision = fields.String(required=True, validate=validate.OneOf(["submit", "cancel"]))
    prepare_notes = fields.String(load_default="", validate=validate.Length(max=NOTES_MAX))


class CycleApprovalForm(_Strict):
    """A second finance officer (the checker) approves the cycle or returns it to the maker."""

    cycle_approval_decision = fields.String(required=True, validate=validate.OneOf(["approve", "return"]))
    cycle_approval_notes = fields.String(load_default="", validate=validate.Length(max=NOTES_MAX))


class CycleDispatchForm(_Strict):
    """The batch files went to the paying banks and the post office under this SP2D (treasury payment order)."""

    sp2d_number = fields.String(
        required=True, validate=[validate.Length(min=3, max=60), validate.Regexp(r"^[A-Za-z0-9/.\-]+$")]
    )
    sp2d_date = fields.Date(required=True)

    @post_load
    def _text_date(self, data, **kwargs):
        data["sp2d_date"] = data["sp2d_date"].isoformat()  # task data stays JSON
        return data


class PaymentReviewForm(_Strict):
    """A caseworker's decision on a payment that failed on the family's data (name or NIK mismatch, not found)."""

    payment_review_decision = fields.String(
        required=True, validate=validate.OneOf(["retry_next_cycle", "switch_to_pos", "no_repeat"])
    )
    payment_review_notes = fields.String(required=True, validate=validate.Length(min=3, max=NOTES_MAX))


class GraduationConfirmForm(_Strict):
    """A caseworker's confirmation that a family meeting the graduation criteria leaves the programme."""

    graduation_decision = fields.String(required=True, validate=validate.OneOf(["graduate", "keep"]))
    graduation_message = fields.String(load_default="", validate=validate.Length(max=MESSAGE_MAX))
    graduation_notes = fields.String(required=True, validate=validate.Length(min=3, max=NOTES_MAX))


FORMS = {
    "payment_review": PaymentReviewForm,
    "cycle_prepare": CyclePrepareForm,
    "cycle_approval": CycleApprovalForm,
    "cycle_dispatch": CycleDispatchForm,
    "case_review": CaseReviewForm,
    "graduation_confirm": GraduationConfirmForm,
    "approval": ApprovalForm,
    "appeal_review": AppealReviewForm,
    "removal_review": RemovalReviewForm,
    "objection_review": ObjectionReviewForm,
}

# For each form that records a decision on a case: (decision, reason codes, message to the applicant,
# internal notes) field names; older tasks may carry a single `*_reason_code` instead of the list.
DECISION_FIELDS = {
    "case_review": ("review_decision", "review_reason_codes", "review_message", "review_notes"),
    "approval": ("approval_decision", "approval_reason_codes", "approval_message", "approval_notes"),
    "appeal_review": ("appeal_outcome", "appeal_reason_codes", "appeal_message", "appeal_notes"),
    "removal_review": ("removal_decision", None, "removal_message", "removal_notes"),
    "graduation_confirm": ("graduation_decision", None, "graduation_message", "graduation_notes"),
}
