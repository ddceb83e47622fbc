"""Describe a marshmallow form schema for the task-form template (fields, choices, errors)."""
from marshmallow import fields, validate

# Field and choice labels, as msgids: the template translates them.
LABELS = {
    "review_decision": "Decision", "review_reason_code": "Reason for rejection", "review_notes": "Notes",
    "approval_decision": "Decision", "approval_reason_code": "Reason for rejection", "approval_notes": "Notes",
    "appeal_outcome": "Appeal outcome", "appeal_notes": "Reasons for the outcome",
    "appeal_overturned_ground": "Ground judged wrong (when overturning)",
    "removal_decision": "Decision", "removal_notes": "Notes",
    "objection_outcome": "Outcome of the verification", "objection_notes": "Findings (seen by officers only)",
}
CHOICE_LABELS = {
    "approve": "Approve", "reject": "Reject", "overturn": "Overturn the decision", "uphold": "Uphold the decision",
    "remove": "Remove from the programme", "keep": "Keep enrolled",
    "upheld": "Upheld: re-check the family's enrolment", "dismissed": "Dismissed: no ground found",
    "ALL": "Every ground of the rejection",
}


def describe(schema_cls):
    """Return the fields of a form schema as dicts the template can render."""
    described = []
    for name, field in schema_cls().fields.items():
        choices = None
        max_length = None
        for validator in field.validators:
            if isinstance(validator, validate.OneOf):
                choices = list(validator.choices)
            if isinstance(validator, validate.Length):
                max_length = validator.max
        kind = "select" if choices else ("textarea" if isinstance(field, fields.String) and (max_length or 0) > 200
                                          else "text")
        described.append({
            "name": name, "label": LABELS.get(name, name.replace("_", " ").capitalize()),
            "required": field.required, "choices": choices, "kind": kind, "max_length": max_length,
        })
    return described
