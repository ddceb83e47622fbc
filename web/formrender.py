"""Describe a marshmallow form schema for the task-form template (fields, choices, errors)."""

from marshmallow import fields, validate

from forms.reason_codes import ReasonCode, reason_label

# Field and choice labels, as msgids: the template translates them.
# What the applicant will read is labelled as such; the notes are labelled internal.
APPLICANT_REASONS = "Reasons the applicant will see (when refusing)"
APPLICANT_MESSAGE = "Message to the applicant (the applicant will read it)"
INTERNAL_NOTE = "Internal note (officers only)"
LABELS = {
    "review_decision": "Decision",
    "review_reason_codes": APPLICANT_REASONS,
    "review_message": APPLICANT_MESSAGE,
    "review_notes": INTERNAL_NOTE,
    "approval_decision": "Decision",
    "approval_reason_codes": APPLICANT_REASONS,
    "approval_message": APPLICANT_MESSAGE,
    "approval_notes": INTERNAL_NOTE,
    "appeal_outcome": "Appeal outcome",
    "appeal_reason_codes": "Reasons the applicant will see (when not accepted)",
    "appeal_message": APPLICANT_MESSAGE,
    "appeal_notes": INTERNAL_NOTE,
    "removal_decision": "Decision",
    "removal_message": APPLICANT_MESSAGE,
    "removal_notes": INTERNAL_NOTE,
    "graduation_decision": "Decision",
    "graduation_message": APPLICANT_MESSAGE,
    "graduation_notes": INTERNAL_NOTE,
    "appeal_overturned_ground": "Ground judged wrong (when overturning)",
    "objection_outcome": "Outcome of the verification",
    "objection_notes": "Findings (seen by officers only)",
    "prepare_decision": "Decision",
    "prepare_notes": INTERNAL_NOTE,
    "cycle_approval_decision": "Decision",
    "cycle_approval_notes": INTERNAL_NOTE,
    "sp2d_number": "SP2D number",
    "sp2d_date": "SP2D date (YYYY-MM-DD)",
    "payment_review_decision": "Decision",
    "payment_review_notes": INTERNAL_NOTE,
}


class _ChoiceLabels(dict):
    """Choice labels by value: msgids the caller translates; a reason code is worded by the catalogue
    (forms/reason_codes.py) in the current language (translating that text again leaves it as it is)."""

    def get(self, key, default=None):
        if key in ReasonCode.__members__ and key not in self:
            return reason_label(key)
        return super().get(key, default)


CHOICE_LABELS = _ChoiceLabels(
    {
        "approve": "Approve",
        "reject": "Reject",
        "overturn": "Overturn the decision",
        "uphold": "Uphold the decision",
        "remove": "Remove from the programme",
        "keep": "Keep enrolled",
        "graduate": "Graduate: the family leaves the programme self-sufficient",
        "upheld": "Upheld: re-check the family's enrolment",
        "dismissed": "Dismissed: no ground found",
        "ALL": "Every ground of the rejection",
        "submit": "Submit for approval",
        "cancel": "Cancel the cycle",
        "return": "Return to the maker",
        "retry_next_cycle": "Pay it again in the next cycle (the data is right now)",
        "switch_to_pos": "Pay it through PT Pos in the next cycle",
        "no_repeat": "Do not pay it again",
    }
)


def describe(schema_cls):
    """Return the fields of a form schema as dicts the template can render."""
    described = []
    for name, field in schema_cls().fields.items():
        choices = None
        max_length = None
        inner = getattr(field, "inner", None)
        for validator in list(field.validators) + list(getattr(inner, "validators", [])):
            if isinstance(validator, validate.OneOf):
                choices = list(validator.choices)
            if isinstance(validator, validate.Length):
                max_length = validator.max
        if choices:
            kind = "checkboxes" if inner is not None else "select"
        else:
            kind = "textarea" if isinstance(field, fields.String) and (max_length or 0) > 200 else "text"
        described.append(
            {
                "name": name,
                "label": LABELS.get(name, name.replace("_", " ").capitalize()),
                "required": field.required,
                "choices": choices,
                "kind": kind,
                "max_length": max_length,
            }
        )
    return described
