"""Payloads of the applicant portal's registration steps (the final submission is ApplicationSubmissionSchema)."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from integrations.digits import Digits
from integrations.payments import CHANNELS, PaymentChannel

PAYMENT_CHANNELS = CHANNELS


class ConsentStepSchema(Schema):
    """Consent to the data look-ups; a facilitator also types the applicant's name as they say it."""

    agree = fields.Boolean(required=True, validate=validate.Equal(True))
    applicant_name = fields.String(load_default=None, validate=validate.Length(max=200))


class HouseholdStepSchema(Schema):
    """The applicant confirms the civil registry's details and may give a phone number."""

    confirmed = fields.Boolean(required=True, validate=validate.Equal(True))
    phone = fields.String(load_default=None, allow_none=True, validate=Digits(8, 15, plus=True))


class PaymentStepSchema(Schema):
    """How the benefit is paid: a bank account (KKS), or cash at the post office."""

    payment_channel = fields.String(required=True, validate=validate.OneOf(PAYMENT_CHANNELS))
    bank_account = fields.String(load_default=None, allow_none=True, validate=Digits(6, 20))

    @validates_schema
    def _account_for_banks(self, data, **kwargs):
        if data.get("payment_channel") != PaymentChannel.POS and not data.get("bank_account"):
            raise ValidationError("a bank account number is required unless paid by PT Pos", "bank_account")


class AppealStepSchema(Schema):
    """The reason of an appeal, as typed in the portal."""

    reason = fields.String(required=True, validate=validate.Length(min=10, max=4000))
