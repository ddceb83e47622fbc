"""Translated texts for the portal's refusal codes (sign-in, registration, appeals)."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

SIGN_IN = {
    "NIK_INVALID": _l("The NIK is not valid: it has 16 digits, as on your identity card (KTP)."),
    "NO_MATCH": _l("The NIK and date of birth do not match the civil registry."),
    "UNKNOWN_CHALLENGE": _l("This code request is not known. Start again."),
    "CODE_EXPIRED": _l("The code has expired. Ask for a new code."),
    "CODE_USED": _l("This code was already used. Ask for a new code."),
    "TOO_MANY_ATTEMPTS": _l("Too many wrong codes. Ask for a new code."),
    "STATE_MISMATCH": _l("The sign-in expired or was started in another window. Please sign in again."),
    "PROVIDER_DENIED": _l("The sign-in was cancelled."),
    "TOKEN_EXCHANGE_FAILED": _l("The digital ID service did not confirm the sign-in. Please try again."),
    "ID_TOKEN_INVALID": _l("The digital ID service's answer could not be verified, so you were not signed in."),
    "NIK_MISSING": _l("The digital ID service did not give a valid NIK, so you were not signed in."),
    "PROVIDER_UNAVAILABLE": _l("The digital ID service cannot be reached right now. Please try again later."),
}


def minutes(seconds):
    """Whole minutes, at least one, for a wait in seconds."""
    return max(1, -(-int(seconds or 0) // 60))


def sign_in_text(exc):
    """Return the text for a ChallengeRefused or SignInFailed."""
    code = exc.code
    if code == "LOCKED":
        return _(
            "Too many failed attempts. Sign-in is locked for %(minutes)d minutes.", minutes=minutes(exc.retry_after)
        )
    if code == "RATE_LIMITED":
        return _(
            "Too many codes were requested. Wait %(minutes)d minutes before asking again.",
            minutes=minutes(exc.retry_after),
        )
    if code == "CODE_WRONG":
        return _("The code is wrong. %(left)d attempt(s) left.", left=exc.attempts_left or 0)
    return str(SIGN_IN.get(code, SIGN_IN["PROVIDER_UNAVAILABLE"]))


def evidence_text(exc, max_files=None):
    """Return the text for an EvidenceRefused, naming the file."""
    name = exc.filename or "?"
    if exc.code == "EVIDENCE_TOO_LARGE":
        return _("%(name)s is too large: at most %(mb)d MB per file.", name=name, mb=exc.details.get("max_mb", 5))
    if exc.code == "EVIDENCE_TYPE":
        return _("%(name)s is not a PDF, JPEG or PNG file (its content was checked, not its name).", name=name)
    if exc.code == "EVIDENCE_DAMAGED":
        return _("%(name)s is damaged or incomplete and cannot be opened.", name=name)
    if exc.code == "EVIDENCE_TOO_MANY":
        return _(
            "%(name)s was not added: at most %(n)d files per appeal.",
            name=name,
            n=exc.details.get("max_files", max_files or 5),
        )
    return _("%(name)s is empty.", name=name)
