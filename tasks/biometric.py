"""Face match of the applicant's selfie against the civil-registry reference photo."""
from integrations.face import ImageRejected

from .base import BpmnError, handler


@handler("biometric.face_match")
def face_match(ctx, nik, selfie_ref):
    """Compare the stored selfie with the registry photo: match, no match or cannot decide."""
    if not selfie_ref:
        return {"outcome": "cannot_decide", "distance": None, "threshold": None, "reason_code": "NO_SELFIE",
                "evidence": []}
    selfie = ctx.photos.read(selfie_ref)
    if selfie is None:
        return {"outcome": "cannot_decide", "distance": None, "threshold": None,
                "reason_code": "SELFIE_MISSING", "evidence": []}
    reference = ctx.integrations.civil_registry.reference_photo(nik)
    try:
        result = ctx.integrations.face.verify(selfie, reference)
    except ImageRejected as exc:
        raise BpmnError(exc.code, exc.message) from exc
    return {
        "outcome": result.outcome,
        "distance": None if result.distance is None else round(float(result.distance), 4),
        "threshold": result.threshold,
        "reason_code": result.reason_code,
        "evidence": [result.evidence.to_dict()] if result.evidence else [],
    }
