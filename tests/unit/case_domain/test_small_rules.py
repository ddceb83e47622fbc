"""Small rules of the case domain, each on plain values: search queries, quarters, CSV cells, reason codes,
targeting grounds."""

from datetime import date
from decimal import Decimal

import pytest

from cases.csvcells import neutralise, restore
from cases.decisions import reason_codes_of
from cases.programme import QuarterInvalid, parse_quarter, quarter_of
from cases.search import parse
from cases.targeting import enrolled_benefit, grounds_of


@pytest.mark.parametrize(
    "typed, kind, value",
    [
        ("3510 2412 0981 0001", "nik", "3510241209810001"),
        ("3510.2412.0981.0001", "nik", "3510241209810001"),
        ("tpt-2026-0000064", "case", "TPT-2026-0000064"),
        ("TPT20260000064", "case", "TPT-2026-0000064"),
        ("  Siti   Aminah ", "name", "siti aminah"),
        ("si", "too_short", "si"),
        ("siti 12", "invalid", "siti 12"),
        ("", "invalid", ""),
    ],
)
def test_what_an_officer_typed_in_the_search_box(typed, kind, value):
    query = parse(typed)
    assert (query.kind, query.value) == (kind, value)


def test_quarters():
    assert [quarter_of(date(2026, m, 1)) for m in (1, 3, 4, 7, 12)] == [
        "2026Q1",
        "2026Q1",
        "2026Q2",
        "2026Q3",
        "2026Q4",
    ]
    assert parse_quarter(" 2026q4 ") == "2026Q4"
    for bad in ("2026Q5", "26Q1", "2026-Q1", None):
        with pytest.raises(QuarterInvalid):
            parse_quarter(bad)


@pytest.mark.parametrize("value", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tx", "'quoted", "plain"])
def test_csv_cells_are_never_formulas_and_restore_exactly(value):
    cell = neutralise(value)
    assert not str(cell).startswith(("=", "+", "-", "@", "\t")) and restore(cell) == value


def test_numbers_stay_numbers_in_csv_cells():
    assert neutralise(-5) == -5 and neutralise(Decimal("1.5")) == Decimal("1.5") and neutralise(None) == ""
    assert neutralise(True) == "True"


def test_reason_codes_from_forms_old_and_new():
    assert reason_codes_of({"review_reason_codes": ["ASSETS", ""]}, "review_reason_codes") == ["ASSETS"]
    assert reason_codes_of({"review_reason_code": "DECILE"}, "review_reason_codes") == ["DECILE"]
    assert reason_codes_of({}, "review_reason_codes") == [] and reason_codes_of({"x": 1}, None) == []


def test_targeting_grounds_each_once_and_other_when_unknown():
    grounds = grounds_of([{"code": "DECEASED"}, {"code": "DECEASED"}, "DECILE_ABOVE_CUTOFF"])
    assert grounds == ["deceased", "decile"]
    assert grounds_of([]) == ["other"] and grounds_of([{"code": "SOMETHING_NEW"}]) == ["other"]
    assert enrolled_benefit({"annual_cash_total": 3_000_000, "pbi_premium_monthly": 42_000}) == (3_000_000, 504_000)
    assert enrolled_benefit(None) == (0, 0)
