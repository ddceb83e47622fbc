"""Benefit amounts per programme, from the household and the settings' amounts (integer rupiah)."""

from datetime import date

from .base import handler


def _age(birth, today):
    born = date.fromisoformat(birth) if isinstance(birth, str) else birth
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def pkh_components(household, amounts, today):
    """Return the PKH components of a family, capped per category, as [{category, nik, amount}]."""
    caps = amounts.get("caps", {})
    found = []
    for member in household:
        if not member.get("alive", True):
            continue
        age = _age(member["birth_date"], today) if member.get("birth_date") else None
        if member.get("pregnant"):
            found.append("pregnant")
        if age is not None and age <= 6:
            found.append("child_0_6")
        if member.get("school_level") in ("SD", "SMP", "SMA"):
            found.append(member["school_level"])
        if member.get("disability"):
            found.append("disability")
        if age is not None and age >= 70:
            found.append("elderly_70")
    components, used = [], {}
    for category in found:
        if category in caps and used.get(category, 0) >= caps[category]:
            continue
        used[category] = used.get(category, 0) + 1
        components.append({"programme": "PKH", "category": category, "annual": amounts[category]})
    return components


def calculate(household, programmes, benefits, today=None):
    """Return components, the annual total and the first quarterly payment."""
    today = today or date.today()
    components = []
    if "PKH" in programmes:
        components += pkh_components(household, benefits["PKH"], today)
    if "BPNT" in programmes:
        components.append({"programme": "BPNT", "category": "food", "annual": benefits["BPNT"]["monthly"] * 12})
    stages = benefits["PKH"].get("stages_per_year", 4)
    pkh_annual = sum(c["annual"] for c in components if c["programme"] == "PKH")
    first = pkh_annual // stages + (benefits["BPNT"]["per_stage"] if "BPNT" in programmes else 0)
    living = sum(1 for m in household if m.get("alive", True))
    pbi = benefits["PBI"]["premium_per_person_monthly"] * living if "PBI" in programmes else 0
    return {
        "programmes": list(programmes),
        "components": components,
        "annual_cash_total": sum(c["annual"] for c in components),
        "first_payment": first,
        "pbi_premium_monthly": pbi,
    }


@handler("benefits.calculate")
def calculate_benefits(ctx, household, programmes):
    """Compute the family's benefits for the programmes it qualifies for."""
    return calculate(household or [], programmes or [], ctx.settings["BANSOS_BENEFITS"])
