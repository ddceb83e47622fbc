"""The sources' answers as officers read them: labelled fields, grouped per household member.

Each evidence record (EvidenceRecord: source, checked_at, value) becomes a card of (label, value)
fields in the officer's language; answers about one person (BPJS, civil-service register, company
roles) sit under that household member with their name and relationship. The raw answer, NIKs
masked, stays beside each card for specialists. Unknown sources or fields still show, labelled by
their key, so a source that adds a field is never hidden.
"""

import json
from datetime import date, datetime

from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l

from cases.privacy import mask_identifiers
from integrations.nik import mask_nik

from .labels import relation_label, source_label
from .portal import rupiah

# Sources answering about one person (their "nik"), shown under that household member.
PERSON_SOURCES = ("bpjs_health", "bpjs_employment", "civil_service")
# The order of the household-wide answers.
HOUSEHOLD_ORDER = ("civil_registry", "dtsen", "assets", "face", "face_index")

FIELD_LABELS = {
    "nik": _l("NIK"),
    "name": _l("Name"),
    "sex": _l("Sex"),
    "birth_date": _l("Date of birth"),
    "kk_number": _l("Family card (KK)"),
    "district_code": _l("District code"),
    "district_name": _l("District"),
    "village": _l("Village"),
    "address": _l("Address"),
    "relation": _l("Relationship"),
    "alive": _l("Alive"),
    "death_date": _l("Date of death"),
    "photo_ref": _l("Registry photo"),
    "disability": _l("Disability"),
    "pregnant": _l("Pregnant"),
    "school_level": _l("School level"),
    "decile": _l("Welfare decile"),
    "updated_at": _l("Last updated"),
    "member": _l("Member"),
    "segment": _l("Membership segment"),
    "active": _l("Active"),
    "monthly_wage": _l("Monthly wage"),
    "employer": _l("Employer"),
    "category": _l("Civil-service category"),
    "four_wheel_vehicles": _l("Four-wheeled vehicles"),
    "electricity_va": _l("Electricity connection"),
    "electricity_subsidised": _l("Subsidised electricity"),
    "company_roles": _l("Company roles"),
    "outcome": _l("Result"),
    "distance": _l("Distance"),
    "threshold": _l("Threshold"),
    "reason_code": _l("Reason code"),
    "model": _l("Model"),
    "checked_templates": _l("Faces compared"),
    "suspected_duplicates": _l("Suspected duplicates"),
    "reference_quality": _l("Registry photo quality"),
    "selfie_quality": _l("Selfie quality"),
}
# Fields kept out of the readable card (they stay in the raw answer): hashes and internal references.
HIDDEN_FIELDS = {"household", "selfie_sha256", "reference_sha256"}

SEX_LABELS = {"F": _l("female"), "M": _l("male")}
SEGMENT_LABELS = {
    "PBI": _l("PBI (premium paid by the state)"),
    "PBPU": _l("PBPU (self-paying worker)"),
    "PPU": _l("PPU (wage earner)"),
    "BP": _l("BP (not working)"),
}
CATEGORY_LABELS = {
    None: _l("not registered"),
    "ASN": _l("civil servant (ASN)"),
    "TNI": _l("soldier (TNI)"),
    "POLRI": _l("police officer (Polri)"),
    "PENSIUNAN": _l("retired civil servant"),
    "PERANGKAT_DESA": _l("village official"),
    "GURU_SERTIFIKASI": _l("certified teacher"),
    "NAKES_SERTIFIKASI": _l("certified health worker"),
    "PEGAWAI_BUMN_BUMD": _l("state-company employee"),
}
OUTCOME_LABELS = {
    "match": _l("match"),
    "no_match": _l("no match"),
    "cannot_decide": _l("could not decide"),
    "clear": _l("no duplicate found"),
    "suspected": _l("duplicate suspected"),
    "not_checked": _l("not checked"),
}
ROLE_LABELS = {"OWNER": _l("owner"), "DIRECTOR": _l("director")}
MONEY_FIELDS = {"monthly_wage"}


def _yes_no(value):
    return gettext("yes") if value else gettext("no")


def _date(value):
    if isinstance(value, (date, datetime)):
        return format_date(value, "medium")
    try:
        return format_date(date.fromisoformat(str(value)), "medium")
    except ValueError:
        return str(value)


def _value(key, value):
    """One answer field as text in the officer's language (NIKs masked)."""
    if value is None:
        if key == "category":
            return str(CATEGORY_LABELS[None])
        return "—"
    if isinstance(value, bool):
        return _yes_no(value)
    if key in ("nik", "kk_number"):
        return mask_nik(value)
    if key == "sex":
        return str(SEX_LABELS.get(value, value))
    if key == "relation":
        return relation_label(value)
    if key in ("birth_date", "death_date", "updated_at"):
        return _date(value)
    if key == "segment":
        return str(SEGMENT_LABELS.get(value, value))
    if key == "category":
        return str(CATEGORY_LABELS.get(value, value))
    if key == "outcome":
        return str(OUTCOME_LABELS.get(value, value))
    if key == "electricity_va":
        return f"{value} VA"
    if key == "photo_ref":
        return gettext("on file")
    if key in ("village", "district_name", "address", "employer", "name") and isinstance(value, str):
        return value.title() if value.isupper() else value
    if key in MONEY_FIELDS and isinstance(value, int):
        return rupiah(value)
    if key == "company_roles":
        return "; ".join(
            f"{ROLE_LABELS.get(r.get('role'), r.get('role'))} · {r.get('company')}" for r in value
        ) or gettext("none")
    if key == "suspected_duplicates":
        return ", ".join(
            f"{d.get('case_number')} ({d.get('nik_masked') or gettext('another district')})" for d in value
        ) or gettext("none")
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, dict)):
        return str(mask_identifiers(value))
    return str(mask_identifiers(value))


def _fields(value, skip=()):
    if not isinstance(value, dict):
        return [(gettext("Answer"), str(mask_identifiers(value)))]
    return [
        (str(FIELD_LABELS.get(k, k.replace("_", " "))), _value(k, v))
        for k, v in value.items()
        if k not in HIDDEN_FIELDS and k not in skip
    ]


def _card(record, skip=()):
    return {
        "source": record.source,
        "title": source_label(record.source),
        "checked_at": record.checked_at,
        "fields": _fields(record.value, skip),
        "raw": raw_json(record.value, indent=2),
    }


def evidence_view(records):
    """Group a case's evidence records (oldest first) for the case page.

    Returns {"household": [card], "members": [member], "history": n} where a member is
    {"name", "relation", "nik", "applicant", "cards": [card]}; only the latest answer of each source
    (per person) is shown, "history" counts the older answers kept in the raw list.
    """
    latest = {}
    for r in records:
        nik = r.value.get("nik") if r.source in PERSON_SOURCES and isinstance(r.value, dict) else None
        latest[(r.source, nik)] = r
    registry = latest.get(("civil_registry", None))
    people = (registry.value.get("household") or []) if registry and isinstance(registry.value, dict) else []
    applicant_nik = registry.value.get("nik") if registry else None
    members, by_nik = [], {}
    for person in people:
        member = {
            "name": _value("name", person.get("name")),
            "relation": relation_label(person.get("relation")),
            "nik": mask_nik(person.get("nik")),
            "applicant": person.get("nik") == applicant_nik,
            "facts": _fields(person, skip=("nik", "name", "relation")),
            "cards": [],
        }
        members.append(member)
        by_nik[person.get("nik")] = member
    household = []
    for (source, nik), record in sorted(latest.items(), key=lambda item: _order(item[0][0])):
        if source in PERSON_SOURCES:
            member = by_nik.get(nik)
            if member is None:  # a person not on the family card: shown on their own
                member = {
                    "name": "—",
                    "relation": "—",
                    "nik": mask_nik(nik),
                    "applicant": False,
                    "facts": [],
                    "cards": [],
                }
                members.append(member)
                by_nik[nik] = member
            member["cards"].append(_card(record, skip=("nik",)))
        else:
            household.append(_card(record))
    # Company roles of the assets register name people: show each under its member too.
    assets = latest.get(("assets", None))
    for role in (assets.value.get("company_roles") or []) if assets and isinstance(assets.value, dict) else []:
        member = by_nik.get(role.get("nik"))
        if member is not None:
            member["facts"].append((str(FIELD_LABELS["company_roles"]), _value("company_roles", [role])))
    return {"household": household, "members": members, "history": len(records) - len(latest)}


def raw_json(value, indent=None):
    """A source's answer as JSON text, NIKs masked (what specialists read under each card)."""
    return json.dumps(mask_identifiers(value), ensure_ascii=False, indent=indent, default=str)


def _order(source):
    return (HOUSEHOLD_ORDER.index(source) if source in HOUSEHOLD_ORDER else len(HOUSEHOLD_ORDER), source)
