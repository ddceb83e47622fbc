"""Human-task forms, by the formName the diagrams use."""
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .objection import ObjectionReviewForm

REJECTION_REASONS = (
    "IDENTITY_NOT_CONFIRMED",
    "FACE_NOT_MATCHED",
    "DECEASED",
    "DECILE_ABOVE_CUTOFF",
    "CIVIL_SERVANT_HOUSEHOLD",
    "WAGE_ABOVE_MINIMUM",
    "ASSETS_ABOVE_LIMIT",
    "COMPANY_OWNER",
    "DUPLICATE",
    "OTHER",
)


class _Strict(Schema):
    class Meta:
        unknown = "raise"


class CaseReviewForm(_Strict):
    """A caseworker's (or escalated supervisor's) review of a case the machine could not decide."""

    review_decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    review_reason_code = fields.String(load_default=None, allow_none=True,
                                       validate=validate.OneOf(REJECTION_REASONS))
    review_notes = fields.String(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    def _reason_when_rejecting(self, data, **kwargs):
        if data.get("review_decision") == "reject" and not data.get("review_reason_code"):
            raise ValidationError("a reason code is required to reject", "review_reason_code")


class ApprovalForm(_Strict):
    """A supervisor's approval of a reviewed or overturned case."""

    approval_decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    approval_reason_code = fields.String(load_default=None, allow_none=True,
                                         validate=validate.OneOf(REJECTION_REASONS))
    approval_notes = fields.String(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    def _reason_when_rejecting(self, data, **kwargs):
        if data.get("approval_decision") == "reject" and not data.get("approval_reason_code"):
            raise ValidationError("a reason code is required to reject", "approval_reason_code")


# The exclusion grounds of processes/eligibility.dmn that reject a family; an appeals officer who
# overturns names the one they judged wrong (ALL: every ground of the rejection). The rules then run
# again with that ground set aside: every other failing ground still counts (application.bpmn).
OVERTURNABLE_GROUNDS = (
    "ALL",
    "DECEASED",
    "CIVIL_SERVANT_HOUSEHOLD",
    "STATE_PAID_EMPLOYEE",
    "VILLAGE_OFFICIAL",
    "CERTIFIED_PROFESSIONAL",
    "WAGE_ABOVE_MINIMUM",
    "FOUR_WHEEL_VEHICLE",
    "ELECTRICITY_NON_SUBSIDISED",
    "COMPANY_OWNER",
    "DECILE_ABOVE_CUTOFF",
)


class AppealReviewForm(_Strict):
    """An appeals officer's judgement of an appeal."""

    appeal_outcome = fields.String(required=True, validate=validate.OneOf(["overturn", "uphold"]))
    appeal_overturned_ground = fields.String(load_default="ALL", validate=validate.OneOf(OVERTURNABLE_GROUNDS))
    appeal_notes = fields.String(required=True, validate=validate.Length(min=3, max=2000))


class RemovalReviewForm(_Strict):
    """A caseworker's review of an enrolled family whose re-check no longer passes the rules."""

    removal_decision = fields.String(required=True, validate=validate.OneOf(["remove", "keep"]))
    removal_notes = fields.String(required=True, validate=validate.Length(min=3, max=2000))


FORMS = {
    "case_review": CaseReviewForm,
    "approval": ApprovalForm,
    "appeal_review": AppealReviewForm,
    "removal_review": RemovalReviewForm,
    "objection_review": ObjectionReviewForm,
}
