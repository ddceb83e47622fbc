"""The consent texts applicants agree to, by version (BANSOS_CONSENT_VERSION names the one in force).

A new version is a new entry: the old text stays, because applications record the version they
agreed to.
"""

from flask_babel import lazy_gettext as _l

CONSENT_TEXTS = {
    "2026-01": (
        _l(
            "To decide on your application, the Social Affairs Office (Dinas Sosial) looks up your family's "
            "data in these registers: the civil registry (Dukcapil), DTSEN, BPJS Health and BPJS Employment, "
            "vehicle and electricity records, and the civil-service register."
        ),
        _l(
            "Your selfie is compared with your civil-registry photo and with other applicants' photos, to "
            "prevent one person registering twice. The photo is deleted after 90 days; the result of the "
            "check is kept with your application."
        ),
        _l(
            "Your data is used only for social assistance, is seen only by the officers who handle your "
            "case, and every look-up and view is recorded."
        ),
        _l("You can withdraw your consent by asking the village office; your application then stops."),
    ),
}


def consent_text(version):
    """Return the paragraphs of a consent version."""
    return CONSENT_TEXTS[version]
