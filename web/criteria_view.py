"""The decision's criteria and reasons as officers read them: each rule once, in plain words.

A row states what a rule looks for ("The household owns a four-wheeled vehicle") and answers
whether it applies to this family ("No", "Yes: a ground for rejection", ...), so nothing reads as a
double negative. Review grounds ("the face check could not decide") never appear as reasons of a
rejection: on a rejected case they are answered "not used".
"""

from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l

from cases.explanation import NOT_CHECKED_TEXT, PASS_TEXT, SET_ASIDE_TEXT

from .portal import rupiah

ANSWERS = {
    "pass": _l("No"),
    "reject": _l("Yes: a ground for rejection"),
    "review": _l("Yes: an officer must check"),
    "review_unused": _l("Yes, but not used: the case was rejected on other grounds"),
    "not_checked": _l("Not checked (no answer from the source)"),
    "set_aside": _l("Yes, but set aside on appeal"),
    "met": _l("Criterion met"),
    "eligible": _l("Eligible"),
    "not_eligible": _l("Not eligible"),
}
FACT_LABELS = {
    "alive": _l("Alive"),
    "civil_service": _l("Civil-service categories in the household"),
    "max_wage": _l("Highest wage at BPJS Employment"),
    "umk": _l("Regional minimum wage (UMK)"),
    "four_wheel_vehicles": _l("Four-wheeled vehicles"),
    "electricity_va": _l("Electricity connection"),
    "electricity_subsidised": _l("Subsidised electricity"),
    "company_roles": _l("Company roles"),
    "decile": _l("DTSEN welfare decile"),
    "face_outcome": _l("Face check"),
    "suspected_duplicates": _l("Suspected duplicate faces"),
}
FACE_OUTCOMES = {
    "match": _l("match"),
    "no_match": _l("no match"),
    "cannot_decide": _l("could not decide"),
    "not_checked": _l("not checked"),
}


def _english():
    return str(get_locale() or "id") != "id"


def _fact(key, value):
    if value is None:
        return gettext("no data")
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if key in ("max_wage", "umk") and isinstance(value, int):
        return rupiah(value)
    if key == "electricity_va":
        return f"{value} VA"
    if key == "face_outcome":
        return str(FACE_OUTCOMES.get(value, value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or gettext("none")
    return str(value)


def _condition(entry):
    """What the rule looks for, in plain words (the reason text up to its first ';')."""
    en = _english()
    text = entry.get("rule_text_en" if en else "rule_text_id")
    if not text and entry.get("outcome") in ("fail", "review"):
        text = entry.get("text_en" if en else "text_id")
    if not text:
        return None
    return text.split(";")[0].strip().rstrip(".")


def _strip(text, prefixes):
    for prefix in prefixes:
        if text and text.startswith(prefix + ": "):
            return text[len(prefix) + 2 :]
    return text


def criteria_rows(explanation, decision):
    """One row per criterion: {"code", "rule", "answer", "kind", "facts": [(label, value)]}."""
    rows, seen = [], {}
    for entry in explanation or []:
        code = entry.get("criterion")
        outcome, effect = entry.get("outcome"), entry.get("effect")
        text = entry.get("text_en" if _english() else "text_id") or ""
        if code and code.startswith("PROGRAMME_"):
            rule = gettext("Programme %(name)s", name=code.removeprefix("PROGRAMME_"))
            kind = "eligible" if outcome == "eligible" else "not_eligible"
        else:
            rule = _condition(entry)
            if outcome == "fail" or (outcome == "review" and effect == "reject"):
                kind = "reject"
            elif outcome == "review":
                kind = "review_unused" if decision == "reject" else "review"
            elif outcome in ("not_checked", "set_aside"):
                kind = outcome
                rule = rule or _strip(text, NOT_CHECKED_TEXT + SET_ASIDE_TEXT)
            else:
                kind = "pass" if rule else "met"  # an older explanation kept no wording for a met rule
                rule = rule or _strip(text, PASS_TEXT)
        row = {
            "code": code,
            "rule": rule,
            "kind": kind,
            "answer": str(ANSWERS[kind]),
            "facts": [(str(FACT_LABELS.get(k, k)), _fact(k, v)) for k, v in (entry.get("facts") or {}).items()],
        }
        if code in seen:  # the same criterion twice (two tables): keep the one that applies
            if kind in ("reject", "review", "review_unused") and seen[code]["kind"] not in ("reject",):
                rows[rows.index(seen[code])] = row
                seen[code] = row
            continue
        seen[code] = row
        rows.append(row)
    return rows


def decision_reasons(reasons, decision):
    """The reasons to list under the decision: on a rejection, only the grounds that reject."""
    if decision != "reject":
        return list(reasons or [])
    return [r for r in reasons or [] if r.get("effect") != "review"]
