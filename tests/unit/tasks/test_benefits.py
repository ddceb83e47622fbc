"""Benefit amounts per the programme rules: PKH components with caps, BPNT, PBI, in integer rupiah."""

from datetime import date

from settings import DefaultSettings
from tasks.benefits import calculate

TODAY = date(2026, 1, 15)
AMOUNTS = DefaultSettings.BANSOS_BENEFITS


def member(born, **kw):
    return {"nik": "x", "birth_date": born, "alive": True, **kw}


def test_pkh_components_are_capped_per_category():
    household = [
        member("1990-01-01", pregnant=True),
        member("1992-01-01", pregnant=True),
        member("1994-01-01", pregnant=True),
        member("2022-01-01"),
        member("2023-01-01"),
        member("2024-01-01"),  # three children 0-6: cap 2
        member("2014-01-01", school_level="SD"),
        member("2011-01-01", school_level="SMP"),
        member("2008-01-01", school_level="SMA"),
        member("1950-01-01"),
        member("1949-01-01"),  # two elderly 70+: cap 1
        member("1980-01-01", disability=True),
        member("1981-01-01", disability=True),  # cap 1
    ]
    result = calculate(household, ["PKH"], AMOUNTS, today=TODAY)
    by_category = {}
    for c in result["components"]:
        by_category[c["category"]] = by_category.get(c["category"], 0) + 1
    assert by_category == {"pregnant": 2, "child_0_6": 2, "SD": 1, "SMP": 1, "SMA": 1, "elderly_70": 1, "disability": 1}
    expected = 2 * 3_000_000 + 2 * 3_000_000 + 900_000 + 1_500_000 + 2_000_000 + 2_400_000 + 2_400_000
    assert result["annual_cash_total"] == expected
    assert result["first_payment"] == expected // 4
    assert all(isinstance(c["annual"], int) for c in result["components"])


def test_bpnt_and_pbi():
    household = [member("1980-01-01"), member("1982-01-01"), member("2010-01-01", alive=False)]
    result = calculate(household, ["BPNT", "PBI"], AMOUNTS, today=TODAY)
    assert result["annual_cash_total"] == 200_000 * 12
    assert result["first_payment"] == 600_000
    assert result["pbi_premium_monthly"] == 2 * 42_000  # living members only


def test_no_programme_no_money():
    result = calculate([member("1980-01-01", pregnant=True)], [], AMOUNTS, today=TODAY)
    assert result["annual_cash_total"] == 0 and result["first_payment"] == 0 and result["components"] == []


def test_age_counts_from_the_birthday():
    just_70 = member("1956-01-15")
    almost_70 = member("1956-01-16")
    assert [c["category"] for c in calculate([just_70], ["PKH"], AMOUNTS, today=TODAY)["components"]] == ["elderly_70"]
    assert calculate([almost_70], ["PKH"], AMOUNTS, today=TODAY)["components"] == []
