"""The reasons an officer gives an applicant: one catalogue of codes for the task forms (only listed
codes are accepted), the officers' form labels, the applicant's portal page, notices, the CLI and the API.

Each code has an English source text, translated to Indonesian through gettext (web/translations).
An officer's free-text note never reaches the applicant: the applicant sees these texts, plus the
message the officer wrote *for the applicant* in the field labelled as such.
"""

from flask_babel import force_locale, gettext


def N_(text):
    """Mark an English source text for translation (babel extracts N_); translated where it is shown."""
    return text


# Why an officer rejects an application (case review, approval).
REJECTION_REASONS = {
    "IDENTITY_NOT_CONFIRMED": N_("The applicant's identity could not be confirmed in the civil registry."),
    "FACE_NOT_MATCHED": N_("The photo does not match the civil registry's photo of the applicant."),
    "DECEASED": N_("The applicant is recorded as deceased in the civil registry."),
    "DECILE_ABOVE_CUTOFF": N_("The household's welfare rank in DTSEN is above the programme's limit."),
    "CIVIL_SERVANT_HOUSEHOLD": N_(
        "A household member is a civil servant, soldier or police officer (active or retired)."
    ),
    "WAGE_ABOVE_MINIMUM": N_("A household member earns more than the regional minimum wage."),
    "ASSETS_ABOVE_LIMIT": N_("The household's assets are above the programme's limits."),
    "COMPANY_OWNER": N_("A household member owns or manages a company."),
    "DUPLICATE": N_("The family already has another application or already receives this assistance."),
    "OTHER": N_("Another reason, explained in the officer's message."),
}

# Why an appeals officer upholds a decision (the appeal is not accepted).
APPEAL_REASONS = {
    "APPEAL_EVIDENCE_INSUFFICIENT": N_(
        "The evidence sent does not show that the reasons for the decision no longer apply."
    ),
    "APPEAL_REGISTRY_CONFIRMS": N_("The registers still confirm the reasons for the decision."),
    "APPEAL_UPDATE_REGISTRY_FIRST": N_(
        "The change you describe must first be recorded in the registers (at "
        "the village office or the civil registry); then you may apply again."
    ),
    "OTHER": REJECTION_REASONS["OTHER"],
}

# Why the rules leave a family out even though an officer approved it (processes/application.bpmn,
# check_enrolment). Not an officer's choice on a form; the applicant reads this text, with what to do next.
RULE_REASONS = {
    "NO_PROGRAMME": N_(
        "The family qualifies for no assistance programme (PKH, BPNT or PBI): it is not registered "
        "in DTSEN, or its DTSEN welfare decile is above the cut-off of every programme, so no "
        "programme can pay. What to do: ask your village office to register your family in DTSEN "
        "or to update its data, then apply again."
    ),
}

# Shown instead of any text an officer wrote before reasons had codes, or for a code not listed.
GENERIC_TEXT = N_(
    "An officer decided after checking your application. Ask the social affairs office of "
    "your district if you need more detail."
)

CATALOGUE = {**REJECTION_REASONS, **APPEAL_REASONS}
OTHER = "OTHER"


def reason_label(code):
    """The code's text in the current language (the generic text for a code not listed)."""
    return gettext(CATALOGUE.get(code) or RULE_REASONS.get(code, GENERIC_TEXT))


def reason_text(code, locale):
    """The code's text in `locale` ("id" or "en")."""
    with force_locale(locale):
        return reason_label(code)


def officer_written(reason):
    """True if a stored reason came from an officer (its text, if any, is the officer's own words).

    Reasons from the rules carry an Indonesian and an English text from the DMN table, which differ;
    an officer's reason is marked `by: officer` (since codes) or, before codes, carried the officer's
    free-text note as both texts.
    """
    return (
        reason.get("by") == "officer"
        or not (reason.get("id") or reason.get("en"))
        or reason.get("id") == reason.get("en")
    )


def applicant_reason_text(reason, locale):
    """What the applicant reads for one stored reason: the rule's text, or the code's catalogue text.

    Never an officer's free text: a reason written before codes had texts shows the catalogue text
    of its code ("OTHER" and unknown codes show the generic text). A rules reason with a catalogue
    text of its own (RULE_REASONS) shows that text, which says what to do next.
    """
    if reason.get("code") in RULE_REASONS:
        return reason_text(reason["code"], locale)
    if not officer_written(reason):
        return reason.get("id") if locale == "id" else reason.get("en")
    code = reason.get("code")
    if code == OTHER and reason.get("by") != "officer":
        code = None  # "other" used to mean "see my note"; the note is not the applicant's to read
    return reason_text(code, locale)


def applicant_reason_texts(reasons, locale):
    """The applicant's texts for a list of stored reasons, each once, in order."""
    texts = []
    for reason in reasons or []:
        text = applicant_reason_text(reason, locale)
        if text not in texts:
            texts.append(text)
    return texts
