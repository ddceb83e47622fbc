"""The duplicate-face review: the other cases the 1:N search matched, as one officer may see them.

The dedup evidence (tasks/biometric.py, source ``face_index``) names each other case, its masked NIK
and the face distance. The NIK itself is not stored there, only its mask of the day: answers stored
before the mask changed (``3510********0001``, now ``3510**·201178·0001``) would show the old one, so
every display re-masks it from the other case's NIK (`as_shown`).
An officer sees the other case's name, masked NIK, status and selfie only if
that case is in their districts; otherwise only the fact that it exists elsewhere, without personal
data. Every other case shown with its personal data is audited as a view of that case.
"""

from dataclasses import dataclass

from sqlalchemy import select

from integrations.face_messages import officer_message
from integrations.nik import mask_nik

from .audit import record
from .models import Application, EvidenceRecord

DEDUP_SOURCE = "face_index"
FLAG = "DUPLICATE_FACE_SUSPECTED"


@dataclass(frozen=True)
class ShownEvidence:
    """An evidence record as officers see it (a copy: the stored answer is never changed)."""

    id: int
    source: str
    operator: str | None
    checked_at: object
    value: object


def as_shown(session, records, actor=None):
    """The records (EvidenceRecord rows) as shown: each 1:N search answer names every other case with
    its NIK masked in today's format, from that case's NIK (the stored mask is kept for a case that
    cannot be found).

    ``actor``: the officer who reads them. For an officer limited to some districts, another case outside
    them (or one not found) is named by its case number only, its masked NIK left out (``nik_masked``
    None, ``elsewhere`` True), as the duplicate panel shows it; None (the command line of the
    deployment's operators) shows every mask.
    """
    numbers = {
        match.get("case_number")
        for r in records
        if r.source == DEDUP_SOURCE and isinstance(r.value, dict)
        for match in (r.value.get("suspected_duplicates") or [])
        if isinstance(match, dict)
    } - {None}
    found = (
        {
            number: (nik, district)
            for number, nik, district in session.execute(
                select(Application.case_number, Application.nik, Application.district_code).where(
                    Application.case_number.in_(numbers)
                )
            ).all()
        }
        if numbers
        else {}
    )

    def one(match):
        if not isinstance(match, dict):
            return match
        nik, district = found.get(match.get("case_number"), (None, None))
        if actor is not None and actor.regions is not None and (nik is None or not actor.in_region(district)):
            return {**match, "nik_masked": None, "elsewhere": True}
        return {**match, "nik_masked": mask_nik(nik)} if nik else match

    shown = []
    for r in records:
        value = r.value
        if r.source == DEDUP_SOURCE and isinstance(value, dict) and value.get("suspected_duplicates"):
            value = {**value, "suspected_duplicates": [one(m) for m in value["suspected_duplicates"]]}
        shown.append(ShownEvidence(r.id, r.source, r.operator, r.checked_at, value))
    return shown


def latest_dedup(session, app):
    """Return the value of the case's newest 1:N search evidence, or None."""
    return session.execute(
        select(EvidenceRecord.value)
        .where(EvidenceRecord.application_id == app.id, EvidenceRecord.source == DEDUP_SOURCE)
        .order_by(EvidenceRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def duplicate_review(session, app, actor):
    """Return the panel's data for an officer, or None when the search matched nobody.

    {"threshold": float, "others": [{"case_number", "distance", "visible": bool, and when visible
    "name", "nik_masked", "status", "has_selfie"; when not, "district_code"}]}
    """
    dedup = latest_dedup(session, app)
    matches = (dedup or {}).get("suspected_duplicates") or []
    if not matches:
        return None
    numbers = [m["case_number"] for m in matches]
    found = {
        a.case_number: a
        for a in session.execute(select(Application).where(Application.case_number.in_(numbers))).scalars()
    }
    others = []
    for match in sorted(matches, key=lambda m: m.get("distance") or 0):
        other = found.get(match["case_number"])
        entry = {
            "case_number": match["case_number"],
            "distance": match.get("distance"),
            "visible": False,
            "district_code": other.district_code if other is not None else None,
        }
        if other is not None and actor.in_region(other.district_code):
            entry.update(
                visible=True,
                name=other.applicant_name,
                nik_masked=mask_nik(other.nik),
                status=other.status,
                has_selfie=bool(other.selfie_ref),
            )
        others.append(entry)
    return {"threshold": dedup.get("threshold"), "others": others}


def audit_duplicate_views(session, actor, app, review, ip=None, user_agent=None):
    """Record a view of each other case whose personal data the panel showed."""
    for other in (review or {}).get("others", []):
        if other["visible"]:
            record(
                session,
                actor,
                "case.view",
                target_type="case",
                target_id=other["case_number"],
                ip=ip,
                user_agent=user_agent,
                detail={"via": "duplicate_review", "from": app.case_number},
            )


def officer_reasons(app, review):
    """The case's reasons worded for officers: the duplicate flag names the other cases."""
    reasons = []
    for reason in app.reasons or []:
        if reason.get("code") == FLAG and review:
            cases = ", ".join(o["case_number"] for o in review["others"])
            text_id, text_en = officer_message(FLAG, cases=cases)
            reason = {**reason, "id": text_id, "en": text_en}
        reasons.append(reason)
    return reasons
