"""Community objections (usul/sanggah): what a resident files, and the officer's verification form."""

from marshmallow import Schema, fields, validate

from .reason_codes import OBJECTION_GROUNDS as GROUND_CODES

# The exclusion grounds of the programme a resident can point to (domain.md), and "other": each one's
# reason code and texts are in the catalogue (forms/reason_codes.py).
OBJECTION_GROUNDS = tuple(GROUND_CODES)


class ObjectionSchema(Schema):
    """A resident's objection to an enrolled family of their own village."""

    class Meta:
        unknown = "raise"

    # A case id: beyond the id column's range (bigint) it is no case, not a database error.
    recipient = fields.Integer(required=True, strict=False, validate=validate.Range(min=1, max=2**63 - 1))
    ground = fields.String(required=True, validate=validate.OneOf(OBJECTION_GROUNDS))
    reason = fields.String(required=True, validate=validate.Length(min=10, max=2000))


class ObjectionReviewForm(Schema):
    """An officer's verification of a community objection (the notes stay with the officers)."""

    class Meta:
        unknown = "raise"

    objection_outcome = fields.String(required=True, validate=validate.OneOf(["upheld", "dismissed"]))
    objection_notes = fields.String(required=True, validate=validate.Length(min=3, max=2000))
