"""Payloads from applicants and facilitators."""

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from integrations.digits import Digits, is_ascii_digits
from integrations.payments import CHANNELS, PaymentChannel


class ApplicationSubmissionSchema(Schema):
    """A new application: who, how to pay, consent, and the selfie already stored."""

    class Meta:
        unknown = "raise"

    nik = fields.String(required=True)
    channel = fields.String(load_default="self", validate=validate.OneOf(["self", "facilitator"]))
    facilitator_id = fields.String(load_default=None, allow_none=True)
    payment_channel = fields.String(load_default=PaymentChannel.BRI.value, validate=validate.OneOf(CHANNELS))
    bank_account = fields.String(
        load_default=None, allow_none=True, validate=Digits(6, 20, error="account number: 6-20 digits")
    )
    phone = fields.String(
        load_default=None, allow_none=True, validate=Digits(8, 15, plus=True, error="phone number: 8-15 digits")
    )
    consent = fields.Boolean(required=True)
    consent_version = fields.String(load_default="2025-01")
    selfie_ref = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _account_for_bank_channels(self, data, **kwargs):
        # Banks pay into an account (KKS); only the post office pays out in cash.
        if data.get("payment_channel", PaymentChannel.BRI) != PaymentChannel.POS and not data.get("bank_account"):
            raise ValidationError("a bank account number is required unless paid by PT Pos", "bank_account")

    @validates("consent")
    def _consent_given(self, value, **kwargs):
        if not value:
            raise ValidationError("consent to the data look-ups is required")

    @validates("nik")
    def _nik_shape(self, value, **kwargs):
        if not is_ascii_digits(value, 16, 16):
            raise ValidationError("NIK must be 16 digits")


class AppealSchema(Schema):
    """An applicant's appeal (sanggah) against the decision on their own case."""

    class Meta:
        unknown = "raise"

    reason = fields.String(required=True, validate=validate.Length(min=10, max=4000))
    evidence_refs = fields.List(fields.String(), load_default=list)
