"""The payment plan enrolment records: which cycle pays a newly enrolled family first, and an estimate."""

from datetime import date

from payments.plan import build_plan, effective_channel, first_cycles
from payments.schedule import parse_schedule
from tests.integration.payment_support import SCHEDULE

# PKH-TEST-T1 (Oct-Dec 2026) cut-off 2026-12-10, its susulan PKH-TEST-T1-S1 cut-off 2026-12-24,
# PKH-TEST-T2 (Jan-Mar 2027) and T3 cut-off 2026-12-10 too in the test schedule: use distinct dates here.
TEXT = (
    SCHEDULE.format(cut_off="2026-12-10", later="2026-12-24")
    .replace(
        'months = ["2027-01", "2027-02", "2027-03"]\ncut_off = "2026-12-10"',
        'months = ["2027-01", "2027-02", "2027-03"]\ncut_off = "2027-03-10"',
    )
    .replace(
        'months = ["2027-04", "2027-05", "2027-06"]\ncut_off = "2026-12-10"',
        'months = ["2027-04", "2027-05", "2027-06"]\ncut_off = "2027-06-10"',
    )
)
SCHEDULE_2026 = parse_schedule(TEXT)
BENEFITS = {
    "components": [{"programme": "PKH", "category": "child_0_6"}] * 3
    + [{"programme": "PKH", "category": "SD"}, {"programme": "BPNT", "category": "food"}]
}


def codes(today, closed=()):
    return {p: s.code for p, s in first_cycles(SCHEDULE_2026, {"PKH", "BPNT"}, today, closed).items()}


def test_the_next_regular_cycle_pays_first_until_its_cut_off():
    assert codes(date(2026, 11, 1)) == {"PKH": "PKH-TEST-T1", "BPNT": "BPNT-TEST-T1"}
    assert codes(date(2026, 12, 10)) == {"PKH": "PKH-TEST-T1", "BPNT": "BPNT-TEST-T1"}  # the cut-off day counts


def test_after_the_cut_off_the_susulan_pays_the_stage_and_without_one_the_next_stage():
    # The main list's cut-off passed: the supplementary cycle of the same stage (BPNT has none: its next stage,
    # none in this schedule).
    assert codes(date(2026, 12, 11)) == {"PKH": "PKH-TEST-T1-S1"}
    # A list frozen early (before its cut-off day) is closed too: the susulan takes the family.
    assert codes(date(2026, 12, 5), closed={"PKH-TEST-T1"}) == {"PKH": "PKH-TEST-T1-S1", "BPNT": "BPNT-TEST-T1"}
    # The susulan's own cut-off passed: the next regular stage.
    assert codes(date(2026, 12, 25)) == {"PKH": "PKH-TEST-T2"}
    assert codes(date(2026, 12, 20), closed={"PKH-TEST-T1-S1"}) == {"PKH": "PKH-TEST-T2"}


def test_the_plan_records_the_channel_and_an_estimate_at_the_rates_and_caps():
    plan = build_plan(SCHEDULE_2026, BENEFITS, ["PKH", "BPNT"], "BRI", "0012345678", date(2026, 11, 1))
    assert plan["channel"] == "BRI" and plan["account_on_file"] is True and plan["programmes"] == ["BPNT", "PKH"]
    by = {c["programme"]: c for c in plan["cycles"]}
    # PKH: 3 toddlers capped at 2 x 750,000 + SD 225,000; BPNT: 2 months x 200,000.
    assert by["PKH"]["estimated"] == 1_725_000 and by["BPNT"]["estimated"] == 400_000
    assert by["PKH"]["months"] == ["2026-10", "2026-11", "2026-12"] and by["PKH"]["supplementary"] is False
    assert plan["unscheduled"] == []
    late = build_plan(SCHEDULE_2026, BENEFITS, ["PKH", "BPNT"], "BNI", "", date(2026, 12, 20))
    assert late["channel"] == "POS" and late["account_on_file"] is False  # no account: the post office pays
    assert [c["cycle"] for c in late["cycles"]] == ["PKH-TEST-T1-S1"] and late["unscheduled"] == ["BPNT"]
    assert build_plan(None, BENEFITS, ["PKH"], "POS", None, date(2026, 11, 1))["unscheduled"] == ["PKH"]


def test_a_bank_channel_without_an_account_is_paid_by_the_post_office():
    assert effective_channel("BRI", "123") == ("BRI", True)
    assert effective_channel("BRI", None) == ("POS", False)
    assert effective_channel(None, "123") == ("POS", False)
    assert effective_channel("POS", None) == ("POS", False)
