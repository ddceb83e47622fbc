"""The form officers use to create an API token."""

from marshmallow import Schema, fields, validate

EXPIRY_CHOICES = (7, 30, 90, 180, 365)  # days; every token expires


class ApiTokenForm(Schema):
    """A new API token: what it is for and how long it lasts."""

    class Meta:
        unknown = "exclude"  # the page also posts its CSRF token

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    days = fields.Integer(load_default=90, validate=validate.OneOf(EXPIRY_CHOICES))
