"""Graduation by criteria: the newest N checks must all be over both thresholds (cases/graduation.py)."""

from cases.graduation import _Check, meets_criteria

T = {"min_decile": 4, "min_monthly_income": 2_000_000, "consecutive_checks": 2}


def check(decile, wage):
    return _Check([{"facts": {"decile": decile}}, {"facts": {"max_wage": wage, "umk": 2_810_000}}])


def test_two_consecutive_checks_over_both_thresholds():
    assert meets_criteria([check(4, 2_000_000), check(5, 2_500_000)], T)


def test_the_newest_checks_count_and_an_older_good_one_does_not_make_up_for_a_newer_bad_one():
    assert not meets_criteria([check(3, 2_500_000), check(4, 2_500_000), check(4, 2_500_000)], T)
    assert meets_criteria([check(4, 2_500_000), check(4, 2_500_000), check(2, 0)], T)


def test_too_few_checks_or_a_missing_fact_or_one_threshold_only():
    assert not meets_criteria([check(5, 3_000_000)], T)
    assert not meets_criteria([check(None, 3_000_000), check(5, 3_000_000)], T)
    assert not meets_criteria([check(5, 1_999_999), check(5, 3_000_000)], T)
    assert not meets_criteria([check(6, 3_000_000), check(6, 3_000_000)], {**T, "consecutive_checks": 0})
