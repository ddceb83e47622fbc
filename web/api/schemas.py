"""Request and response schemas of the JSON API (task forms themselves are in forms/)."""

from marshmallow import Schema, fields, validate

from cases.officers import district_name
from integrations.nik import mask_nik
from integrations.payments import CHANNELS


class _Out(Schema):
    """A response schema (ordered as declared)."""


class _Strict(Schema):
    class Meta:
        unknown = "raise"


# --- requests --------------------------------------------------------------------------------


class CaseListQuery(Schema):
    status = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^[A-Z_]{3,40}$"),
        metadata={"description": "Case status, e.g. IN_REVIEW"},
    )
    district = fields.String(
        load_default=None, validate=validate.Regexp(r"^\d{2}$"), metadata={"description": "District code (two digits)"}
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class CaseSearchSchema(_Strict):
    """A case search, sent in the body so a NIK stays out of addresses and logs."""

    q = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "A NIK or family-card number (16 digits), a case number "
            "(TPT-YYYY-NNNNNNN, any case, spaces allowed) or the start of "
            "a name (3 letters or more, any case)"
        },
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))


class ReassignSchema(_Strict):
    """Whom to give the task to."""

    to = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Username of an active officer who may work the task"},
    )


class ApiApplicationSchema(_Strict):
    """The `application` part of POST /api/v1/applications (the selfie is the `selfie` file part)."""

    nik = fields.String(required=True, metadata={"description": "The applicant's NIK (16 digits)"})
    applicant_name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "The applicant's full name as they say it; it must match the civil registry's record"},
    )
    consent = fields.Boolean(
        required=True, metadata={"description": "The applicant agreed to the data look-ups (must be true)"}
    )
    consent_at = fields.AwareDateTime(
        load_default=None,
        metadata={
            "description": "When the applicant agreed (ISO 8601 with zone), for registrations queued offline; "
            "not in the future, at most BANSOS_API_OFFLINE_MAX_DAYS old"
        },
    )
    phone = fields.String(load_default=None, allow_none=True)
    payment_channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    bank_account = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "6-20 digits; required unless payment_channel is POS"},
    )


# --- responses -------------------------------------------------------------------------------


class PageMeta(_Out):
    total = fields.Integer()
    page = fields.Integer()
    pages = fields.Integer()
    per_page = fields.Integer()


class CaseSummarySchema(_Out):
    case_number = fields.String()
    status = fields.String()
    decision = fields.String(allow_none=True)
    district = fields.String(attribute="district_code", allow_none=True)
    channel = fields.String()
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    updated_at = fields.DateTime()


class CasePageSchema(PageMeta):
    items = fields.List(fields.Nested(CaseSummarySchema))


class CaseHitSchema(_Out):
    case_number = fields.String()
    name = fields.String(attribute="applicant_name", allow_none=True)
    nik = fields.Function(lambda app: mask_nik(app.nik), metadata={"description": "Masked"})
    village = fields.String(allow_none=True)
    district = fields.String(attribute="district_code", allow_none=True)
    district_name = fields.Function(lambda app: district_name(app.district_code) or app.district_name)
    status = fields.String()
    created_at = fields.DateTime()


class CaseSearchResultSchema(PageMeta):
    kind = fields.String(metadata={"description": "nik | case | name | too_short | invalid (nothing searched)"})
    more = fields.Boolean(metadata={"description": "More cases than `total` matched (the count stops there)"})
    items = fields.List(fields.Nested(CaseHitSchema))


class TaskSchema(_Out):
    id = fields.Integer()
    case_number = fields.String(attribute="business_key")
    bpmn_id = fields.String()
    name = fields.String(allow_none=True)
    queue = fields.String()
    district = fields.String(attribute="region", allow_none=True)
    form_name = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "open | claimed | completed | cancelled"})
    assignee = fields.String(allow_none=True)
    priority = fields.Integer()
    due_at = fields.DateTime(allow_none=True)
    overdue = fields.Boolean()
    flags = fields.List(fields.String())
    created_at = fields.DateTime()
    claimed_at = fields.DateTime(allow_none=True)


class ApplicantSchema(_Out):
    name = fields.String(allow_none=True)
    nik = fields.String(metadata={"description": "Masked NIK (first and last digits hidden)"})
    district = fields.String(allow_none=True)
    channel = fields.String()
    submitted_at = fields.DateTime()


class EventSchema(_Out):
    at = fields.DateTime()
    actor = fields.String()
    kind = fields.String()
    summary = fields.String(metadata={"description": "As stored (English); `text` is for people"})
    text = fields.String(metadata={"description": "The entry in the caller's language (Accept-Language)"})


class EvidenceSchema(_Out):
    id = fields.Integer()
    source = fields.String()
    operator = fields.String(allow_none=True)
    checked_at = fields.DateTime()
    value = fields.Dict(metadata={"description": "The source's answer, identifiers masked"})


class AppealFileSchema(_Out):
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    url = fields.String(metadata={"description": "The officers' download address (each download audited)"})


class AppealOutSchema(_Out):
    reason = fields.String(metadata={"description": "The applicant's reason for the appeal"})
    filed_at = fields.DateTime()
    outcome = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    files = fields.List(fields.Nested(AppealFileSchema))


class HumanDecisionSchema(_Out):
    task = fields.String()
    form_name = fields.String()
    officer = fields.String()
    officer_name = fields.String()
    officer_roles = fields.List(fields.String())
    at = fields.DateTime()
    decision = fields.String(allow_none=True)
    reason_codes = fields.List(fields.String(), metadata={"description": "Codes of forms/reason_codes.py"})
    notes = fields.String(metadata={"description": "Internal note (officers only)"})
    message = fields.String(metadata={"description": "The message written for the applicant"})


class CaseDetailSchema(_Out):
    case_number = fields.String()
    status = fields.String()
    decision = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    rule_version = fields.String(allow_none=True)
    applicant = fields.Nested(ApplicantSchema)
    household = fields.List(fields.Dict(), metadata={"description": "Household members, NIKs masked"})
    reasons = fields.List(fields.Dict())
    applicant_message = fields.String(
        allow_none=True, metadata={"description": "The officer's message to the applicant with the decision"}
    )
    review_flags = fields.List(fields.String())
    programmes = fields.List(fields.String())
    benefits = fields.Dict(allow_none=True)
    explanation = fields.List(
        fields.Dict(), metadata={"description": "One entry per rule: facts, evidence, outcome, texts (id, en)"}
    )
    timeline = fields.List(fields.Nested(EventSchema))
    evidence = fields.List(fields.Nested(EvidenceSchema))
    tasks = fields.List(fields.Nested(TaskSchema))
    appeals = fields.List(fields.Nested(AppealOutSchema))
    decisions = fields.List(
        fields.Nested(HumanDecisionSchema),
        metadata={"description": "The officers' decisions on the case, oldest first"},
    )


class DiagramSchema(_Out):
    process_id = fields.String()
    xml = fields.String(metadata={"description": "BPMN XML of the case's process"})
    active = fields.List(fields.String(), metadata={"description": "Element ids where the case stands"})
    done = fields.List(fields.String(), metadata={"description": "Element ids already passed"})


class QueueCountSchema(_Out):
    queue = fields.String()
    district = fields.String(allow_none=True)
    open = fields.Integer()


class TaskPageSchema(PageMeta):
    items = fields.List(fields.Nested(TaskSchema))
    queues = fields.List(fields.Nested(QueueCountSchema))


class FormFieldSchema(_Out):
    name = fields.String()
    label = fields.String()
    required = fields.Boolean()
    kind = fields.String(metadata={"description": "select | textarea | text"})
    max_length = fields.Integer(allow_none=True)
    choices = fields.List(fields.Dict(), allow_none=True, metadata={"description": "[{value, label}]"})


class TaskFormSchema(_Out):
    name = fields.String()
    fields_ = fields.List(fields.Nested(FormFieldSchema), attribute="fields", data_key="fields")
    schema = fields.Dict(metadata={"description": "JSON schema of the body POST .../complete accepts"})
    schema_ref = fields.String(metadata={"description": "The same schema in the OpenAPI document"})


class EnrolmentBlockerSchema(_Out):
    code = fields.String(metadata={"description": "An exclusion code of the rules, or NO_PROGRAMME"})
    id = fields.String(metadata={"description": "Indonesian text"})
    en = fields.String(metadata={"description": "English text"})


class ApprovalWarningSchema(_Out):
    blockers = fields.List(
        fields.Nested(EnrolmentBlockerSchema),
        metadata={"description": "Why the family cannot be enrolled: approving rejects the case with these reasons"},
    )
    overturned = fields.List(fields.String(), metadata={"description": "Grounds the appeals officer set aside"})
    legacy = fields.Boolean(
        metadata={
            "description": "The case runs an older process version without the check: "
            "approving would enrol the family with no benefit"
        }
    )


class TaskDetailSchema(TaskSchema):
    form = fields.Nested(TaskFormSchema, allow_none=True)
    approval_warning = fields.Nested(
        ApprovalWarningSchema,
        allow_none=True,
        metadata={
            "description": "On an approval task whose family qualifies for no programme or still fails a "
            "ground: what the approver must know before approving (else null)"
        },
    )


class CaseStateSchema(_Out):
    case_number = fields.String()
    status = fields.String()
    decision = fields.String(allow_none=True)


class TaskActionSchema(_Out):
    task = fields.Nested(TaskSchema)
    case = fields.Nested(
        CaseStateSchema,
        allow_none=True,
        metadata={"description": "The case after the action (null for tasks of other processes)"},
    )


class VersionSchema(_Out):
    id = fields.Integer()
    number = fields.Integer(metadata={"description": "version number within its process: 1, 2, 3..."})
    process_id = fields.String()
    name = fields.String(allow_none=True)
    content_hash = fields.String()
    deployed_at = fields.DateTime()
    deployed_by = fields.String(allow_none=True)
    latest = fields.Boolean()
    instances = fields.Dict(
        keys=fields.String(), values=fields.Integer(), metadata={"description": "Instances on this version by status"}
    )


class FileInfoSchema(_Out):
    name = fields.String()
    kind = fields.String(metadata={"description": "bpmn | dmn"})
    size = fields.Integer(metadata={"description": "Characters of XML"})
    url = fields.String()


class VersionDetailSchema(VersionSchema):
    files = fields.List(fields.Nested(FileInfoSchema))


class ProcessSchema(_Out):
    process_id = fields.String()
    latest_version = fields.Integer(metadata={"description": "id of the current version"})
    latest_number = fields.Integer(metadata={"description": "number of the current version within the process"})
    versions = fields.List(fields.Nested(VersionSchema))


class SubmittedSchema(_Out):
    case_number = fields.String()
    status = fields.String()
    decision = fields.String(allow_none=True)
    replayed = fields.Boolean(
        metadata={"description": "True when this Idempotency-Key made the case earlier: nothing new was created"}
    )
