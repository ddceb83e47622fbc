"""Identity: the NIK against the civil registry (Dukcapil)."""

from integrations.base import PersonNotFound
from integrations.nik import NikInvalid, mask_nik, validate_nik

from .base import BpmnError, handler
from .prefetch import take

# Household fields kept in task data; names and addresses stay in the evidence, not in engine state.
MEMBER_FIELDS = ("nik", "relation", "sex", "birth_date", "alive", "disability", "pregnant", "school_level")


@handler("identity.verify")
def verify_identity(ctx, nik):
    """Confirm the NIK exists and return the person's family card and status."""
    try:
        validate_nik(nik)
    except NikInvalid as exc:
        raise BpmnError("NIK_INVALID", str(exc), nik=mask_nik(nik)) from exc
    try:
        record = take("civil_registry.lookup_person", nik, lambda: ctx.integrations.civil_registry.lookup_person(nik))
    except PersonNotFound as exc:
        raise BpmnError("NIK_UNKNOWN", "the NIK is not in the civil registry", nik=mask_nik(nik)) from exc
    return {
        "nik": record.nik,
        "kk_number": record.kk_number,
        "district_code": record.district_code,
        "alive": record.alive,
        "death_date": record.death_date,
        "has_reference_photo": bool(record.photo_ref),
        "household": [{k: m.get(k) for k in MEMBER_FIELDS} for m in record.household],
        "evidence": [record.evidence.to_dict()],
    }
