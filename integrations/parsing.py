"""Parse and validate source answers (JSON-like dicts) into records.

Every implementation, sandbox or HTTP, passes the raw answer through these functions, so a
malformed answer is caught the same way whatever produced it. The raw dict becomes the evidence.
"""

from __future__ import annotations

from datetime import datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from integrations.base import Evidence, MalformedResponse
from integrations.digits import Digits
from integrations.identity import RELATIONS, SCHOOL_LEVELS, CivilRecord
from integrations.payments import DisbursementReceipt
from integrations.registries import (
    CIVIL_SERVICE_CATEGORIES,
    COMPANY_ROLES,
    HEALTH_SEGMENTS,
    AssetRecord,
    CivilServiceRecord,
    DtsenRecord,
    EmploymentRecord,
    HealthRecord,
)

_DIGITS16 = Digits(16, error="must be 16 digits")


def _strict_bool(**kwargs):
    # marshmallow's default Boolean accepts "yes", 1, "on"...; a schema change should be noticed.
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class AnswerSchema(Schema):
    """Base of every answer schema: fields a source adds later are ignored, not errors."""

    class Meta:
        unknown = EXCLUDE  # sources add fields over time; ignoring them is not an error


class _MemberSchema(AnswerSchema):
    nik = fields.String(required=True, validate=_DIGITS16)
    name = fields.String(required=True, validate=validate.Length(min=1))
    relation = fields.String(required=True, validate=validate.OneOf(RELATIONS))
    sex = fields.String(required=True, validate=validate.OneOf(("F", "M")))
    birth_date = fields.Date(required=True)
    alive = _strict_bool(required=True)
    disability = _strict_bool(required=True)
    pregnant = _strict_bool(required=True)
    school_level = fields.String(required=True, allow_none=True, validate=validate.OneOf(SCHOOL_LEVELS))


class _CivilSchema(AnswerSchema):
    nik = fields.String(required=True, validate=_DIGITS16)
    name = fields.String(required=True, validate=validate.Length(min=1))
    sex = fields.String(required=True, validate=validate.OneOf(("F", "M")))
    birth_date = fields.Date(required=True)
    kk_number = fields.String(required=True, validate=_DIGITS16)
    district_code = fields.String(required=True, validate=Digits(2))
    district_name = fields.String(required=True)
    village = fields.String(required=True)
    address = fields.String(required=True)
    relation = fields.String(required=True, validate=validate.OneOf(RELATIONS))
    alive = _strict_bool(required=True)
    death_date = fields.Date(required=True, allow_none=True)
    photo_ref = fields.String(required=True, allow_none=True)
    household = fields.List(fields.Nested(_MemberSchema), required=True)

    @validates_schema
    def _death_consistent(self, data, **kwargs):
        if data["alive"] and data["death_date"] is not None:
            raise ValidationError("a living person has no death date", "death_date")


class _DtsenSchema(AnswerSchema):
    kk_number = fields.String(required=True, validate=_DIGITS16)
    decile = fields.Integer(required=True, strict=True, allow_none=True, validate=validate.Range(1, 10))
    updated_at = fields.Date(required=True, allow_none=True)


class _HealthSchema(AnswerSchema):
    nik = fields.String(required=True, validate=_DIGITS16)
    member = _strict_bool(required=True)
    segment = fields.String(required=True, allow_none=True, validate=validate.OneOf(HEALTH_SEGMENTS))
    active = _strict_bool(required=True)

    @validates_schema
    def _segment_consistent(self, data, **kwargs):
        if data["member"] != (data["segment"] is not None):
            raise ValidationError("members have a segment and non-members none", "segment")


class _EmploymentSchema(AnswerSchema):
    nik = fields.String(required=True, validate=_DIGITS16)
    member = _strict_bool(required=True)
    monthly_wage = fields.Integer(required=True, strict=True, allow_none=True, validate=validate.Range(0))
    employer = fields.String(required=True, allow_none=True)


class _CompanyRoleSchema(AnswerSchema):
    nik = fields.String(required=True, validate=_DIGITS16)
    role = fields.String(required=True, validate=validate.OneOf(COMPANY_ROLES))
    company = fields.String(required=True, validate=validate.Length(min=1))


class _AssetSchema(AnswerSchema):
    kk_number = fields.String(required=True, validate=_DIGITS16)
    four_wheel_vehicles = fields.Integer(required=True, strict=True, validate=validate.Range(0))
    electricity_va = fields.Integer(required=True, strict=True, validate=validate.Range(0))
    electricity_subsidised = _strict_bool(required=True)
    company_roles = fields.List(fields.Nested(_CompanyRoleSchema), required=True)


class _CivilServiceSchema(AnswerSchema):
    nik = fields.String(required=True, validate=_DIGITS16)
    category = fields.String(required=True, allow_none=True, validate=validate.OneOf(CIVIL_SERVICE_CATEGORIES))


class _ReceiptSchema(AnswerSchema):
    reference = fields.String(required=True, validate=validate.Length(min=1))
    status = fields.String(required=True, validate=validate.OneOf(("ACCEPTED",)))
    provider_ref = fields.String(required=True, validate=validate.Length(min=1))


def load_answer(schema: Schema, source: str, raw) -> dict:
    """Validate a source's raw answer with `schema`; anything else raises MalformedResponse."""
    if not isinstance(raw, dict):
        raise MalformedResponse(source, f"expected an object, got {type(raw).__name__}")
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise MalformedResponse(source, f"answer failed validation: {exc.messages}") from exc


_CIVIL, _DTSEN, _HEALTH = _CivilSchema(), _DtsenSchema(), _HealthSchema()
_EMPLOYMENT, _ASSETS, _CIVIL_SERVICE, _RECEIPT = (
    _EmploymentSchema(),
    _AssetSchema(),
    _CivilServiceSchema(),
    _ReceiptSchema(),
)


def parse_civil_record(raw: dict, checked_at: datetime, source: str = "civil_registry") -> CivilRecord:
    """Validate a civil-registry answer and return it as a CivilRecord."""
    data = load_answer(_CIVIL, source, raw)
    return CivilRecord(**data, evidence=Evidence(source, checked_at, raw))


def parse_dtsen_record(raw: dict, checked_at: datetime, source: str = "dtsen") -> DtsenRecord:
    """Validate a DTSEN answer and return it as a DtsenRecord."""
    return DtsenRecord(**load_answer(_DTSEN, source, raw), evidence=Evidence(source, checked_at, raw))


def parse_health_record(raw: dict, checked_at: datetime, source: str = "bpjs_health") -> HealthRecord:
    """Validate a BPJS Kesehatan answer and return it as a HealthRecord."""
    return HealthRecord(**load_answer(_HEALTH, source, raw), evidence=Evidence(source, checked_at, raw))


def parse_employment_record(raw: dict, checked_at: datetime, source: str = "bpjs_employment") -> EmploymentRecord:
    """Validate a BPJS Ketenagakerjaan answer and return it as an EmploymentRecord."""
    data = load_answer(_EMPLOYMENT, source, raw)
    return EmploymentRecord(**data, evidence=Evidence(source, checked_at, raw))


def parse_asset_record(raw: dict, checked_at: datetime, source: str = "assets") -> AssetRecord:
    """Validate an asset-registry answer and return it as an AssetRecord."""
    return AssetRecord(**load_answer(_ASSETS, source, raw), evidence=Evidence(source, checked_at, raw))


def parse_civil_service_record(raw: dict, checked_at: datetime, source: str = "civil_service") -> CivilServiceRecord:
    """Validate a civil-service answer and return it as a CivilServiceRecord."""
    data = load_answer(_CIVIL_SERVICE, source, raw)
    return CivilServiceRecord(**data, evidence=Evidence(source, checked_at, raw))


def parse_disbursement_receipt(raw: dict, checked_at: datetime, source: str = "payments") -> DisbursementReceipt:
    """Validate a payment provider's acknowledgement and return it as a receipt."""
    data = load_answer(_RECEIPT, source, raw)
    return DisbursementReceipt(**data, evidence=Evidence(source, checked_at, raw))
