"""Face checks: 1:1 against the civil-registry photo, 1:N against every other applicant's face."""

import hashlib

from integrations.base import Evidence, mask_nik, utc_now
from integrations.face import ImageRejected

from .base import BpmnError, handler
from .prefetch import take

DEDUP_SOURCE = "face_index"


@handler("biometric.face_match")
def face_match(ctx, nik, selfie_ref):
    """Compare the stored selfie with the registry photo: match, no match or cannot decide."""
    if not selfie_ref:
        return {
            "outcome": "cannot_decide",
            "distance": None,
            "threshold": None,
            "reason_code": "NO_SELFIE",
            "evidence": [],
        }
    selfie = ctx.photos.read(selfie_ref)
    if selfie is None:
        return {
            "outcome": "cannot_decide",
            "distance": None,
            "threshold": None,
            "reason_code": "SELFIE_MISSING",
            "evidence": [],
        }
    _recall(ctx, selfie_ref)
    reference = take(
        "civil_registry.reference_photo", nik, lambda: ctx.integrations.civil_registry.reference_photo(nik)
    )
    try:
        # The registry photo's template is kept once encoded: only the selfie is encoded here.
        result = ctx.integrations.registry_faces.verify(nik, selfie, reference, matcher=ctx.integrations.face)
    except ImageRejected as exc:
        raise BpmnError(exc.code, exc.message, id=exc.message_id, en=exc.message) from exc
    return {
        "outcome": result.outcome,
        "distance": None if result.distance is None else round(float(result.distance), 4),
        "threshold": result.threshold,
        "reason_code": result.reason_code,
        "evidence": [result.evidence.to_dict()] if result.evidence else [],
    }


@handler("biometric.deduplicate")
def deduplicate(ctx, nik, case_number, selfie_ref):
    """Look for this face under other NIKs, then keep this applicant's template for later searches.

    outcome: 'suspected' (a caseworker must look), 'clear', or 'not_checked' (no usable selfie;
    reason_code says why, the 1:1 face check has already routed the photo problem).
    """
    index = ctx.integrations.face_index
    threshold = index.threshold
    if not selfie_ref:
        return _not_checked("NO_SELFIE", threshold)
    selfie = ctx.photos.read(selfie_ref)
    if selfie is None:
        return _not_checked("SELFIE_MISSING", threshold)
    _recall(ctx, selfie_ref)
    try:
        encoding = ctx.integrations.face.encode(selfie)  # cached: the 1:1 check encoded it already
    except ImageRejected as exc:
        return _not_checked(exc.code, threshold)
    # One entry per other application: a NIK may hold templates from several cases.
    # Search and store under the dedup lock, held until this transaction commits: an application
    # submitted at the same moment elsewhere searches after this template is committed, and finds it.
    candidates, checked = index.search_and_add(nik, case_number, encoding, k=10, threshold=threshold)
    duplicates = {}
    for c in candidates:
        if c.case_ref not in duplicates:
            duplicates[c.case_ref] = {
                "case_number": c.case_ref,
                "nik_masked": mask_nik(c.nik),
                "distance": round(c.distance, 4),
            }
    suspected = list(duplicates.values())
    outcome = "suspected" if suspected else "clear"
    reason = "DUPLICATE_FACE_SUSPECTED" if suspected else None
    value = {
        "outcome": outcome,
        "reason_code": reason,
        "threshold": threshold,
        "checked_templates": checked,
        "suspected_duplicates": suspected,
        "selfie_sha256": hashlib.sha256(selfie).hexdigest(),
    }
    return {
        "outcome": outcome,
        "reason_code": reason,
        "threshold": threshold,
        "suspected_duplicates": suspected,
        "checked_templates": checked,
        "evidence": [Evidence(DEDUP_SOURCE, utc_now(), value).to_dict()],
    }


def _recall(ctx, selfie_ref):
    """Take the template the upload check kept (integrations/selfie_faces.py) instead of encoding again."""
    kept = getattr(ctx.integrations, "selfie_faces", None)
    if kept is not None:
        kept.recall(selfie_ref, ctx.integrations.face)


def _not_checked(reason, threshold):
    return {
        "outcome": "not_checked",
        "reason_code": reason,
        "threshold": threshold,
        "suspected_duplicates": [],
        "checked_templates": 0,
        "evidence": [],
    }
