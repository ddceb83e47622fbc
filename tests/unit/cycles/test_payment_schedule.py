"""The payment schedule file: the shipped one loads; every broken rule is named."""

from datetime import date
from pathlib import Path

import pytest

from payments.schedule import ScheduleInvalid, load_schedule, parse_schedule

ROOT = Path(__file__).resolve().parents[3]


def test_the_shipped_schedule_loads_with_the_domain_amounts():
    schedule = load_schedule(ROOT / "processes")
    assert schedule.return_after_days == 105
    pkh = dict(((c, (a, cap)) for _p, c, a, cap in schedule.rates("PKH-2026-T1")))
    # A quarter of the yearly amounts; caps as in the domain notes.
    assert pkh["pregnant"] == (750_000, 2) and pkh["SD"] == (225_000, None) and pkh["elderly_70"] == (600_000, 1)
    assert schedule.rates("BPNT-2026-T4") == [("BPNT", "food", 600_000, None)]


GOOD = """
[programmes.PKH]
kind = "annual"
[programmes.PKH.components]
SD = 900000
[[cycles]]
code = "PKH-X"
programme = "PKH"
months = ["2026-01", "2026-02", "2026-03"]
cut_off = "2026-03-10"
"""


@pytest.mark.parametrize(
    "change, finding",
    [
        (('kind = "annual"', 'kind = "weekly"'), "kind must be one of"),
        (("SD = 900000", "SD = -5"), "positive whole number of rupiah"),
        (("SD = 900000", "SD = 900001"), "does not divide into whole rupiah"),
        (('programme = "PKH"', 'programme = "PKHX"'), "unknown programme"),
        (('"2026-03"]', '"2026-13"]'), "is not a month"),
        (('"2026-03"]', '"2026-01"]'), "1 to 12 different months"),
        (('cut_off = "2026-03-10"', 'cut_off = "soon"'), "cut_off must be a date"),
        (('code = "PKH-X"', 'code = "pkh x"'), "the code must be capitals"),
        (
            ("[programmes.PKH.components]", "[programmes.PKH.caps]\nXX = 1\n[programmes.PKH.components]"),
            "cap for unknown",
        ),
        (("[programmes.PKH]", "return_after_days = 0\n[programmes.PKH]"), "return_after_days"),
        (('cut_off = "2026-03-10"', 'cut_off = "2026-03-10"\nsupplements = "PKH-NONE"'), "not a regular cycle"),
        (("kind", "kind = = "), "not valid TOML"),
        (
            ("[programmes.PKH.components]", "arrears = true\narrears_max_stages = 0\n[programmes.PKH.components]"),
            "arrears_max_stages",
        ),
        (("[programmes.PKH.components]", 'arrears = "yes"\n[programmes.PKH.components]'), "arrears must be true"),
    ],
)
def test_a_broken_schedule_is_refused_with_what_is_wrong(change, finding):
    assert parse_schedule(GOOD).cycles["PKH-X"].months == ("2026-01", "2026-02", "2026-03")
    with pytest.raises(ScheduleInvalid) as refused:
        parse_schedule(GOOD.replace(*change, 1))
    assert any(finding in p for p in refused.value.problems), refused.value.problems


def test_a_supplementary_cycle_pays_the_same_stage_later():
    text = (
        GOOD
        + """
[[cycles]]
code = "PKH-X-S1"
programme = "PKH"
months = ["2026-01", "2026-02", "2026-03"]
cut_off = "2026-03-25"
supplements = "PKH-X"
"""
    )
    assert parse_schedule(text).cycles["PKH-X-S1"].supplements == "PKH-X"
    with pytest.raises(ScheduleInvalid) as refused:
        parse_schedule(text.replace('cut_off = "2026-03-25"', 'cut_off = "2026-03-01"'))
    assert "must be after" in refused.value.problems[0]
    with pytest.raises(ScheduleInvalid) as refused:
        parse_schedule(text.replace('"2026-03"]\ncut_off = "2026-03-25"', '"2026-04"]\ncut_off = "2026-03-25"'))
    assert "same programme and months" in refused.value.problems[0]


def test_arrears_are_configured_per_programme():
    assert parse_schedule(GOOD).programmes["PKH"].arrears_max_stages == 0  # off unless the schedule says so
    on = parse_schedule(GOOD.replace("[programmes.PKH.components]", "arrears = true\n[programmes.PKH.components]", 1))
    assert on.programmes["PKH"].arrears_max_stages == 4


def test_the_shipped_schedule_pays_pkh_arrears_for_four_stages():
    from pathlib import Path

    from payments.schedule import load_schedule

    assert load_schedule(Path(__file__).resolve().parents[3] / "processes").programmes["PKH"].arrears_max_stages == 4


def test_with_arrears_a_cycle_code_fits_the_arrears_line():
    text = GOOD.replace("[programmes.PKH.components]", "arrears = true\n[programmes.PKH.components]", 1)
    assert parse_schedule(text).cycles["PKH-X"]
    with pytest.raises(ScheduleInvalid) as refused:
        parse_schedule(text.replace('code = "PKH-X"', f'code = "PKH-{"X" * 32}"', 1))
    assert any("at most 34 characters" in p for p in refused.value.problems), refused.value.problems


def test_commitments_are_configuration_checked_when_read():
    rule = load_schedule(ROOT / "processes").commitments
    assert (rule.school_attendance_min, rule.warn_after, rule.suspend_after) == (85, 1, 2)
    assert rule.compliant("SD", attendance=85) and not rule.compliant("SD", attendance=84)
    assert rule.compliant("child_0_6", checked=True) and not rule.compliant("pregnant", checked=False)
    text = (ROOT / "processes" / "payment_schedule.toml").read_text(encoding="utf-8")
    broken = (
        text.replace("suspend_after = 2", "suspend_after = 0")
        .replace('SD = "school"', 'SD = "exam"')
        .replace("school_attendance_min = 85", "school_attendance_min = 120")
    )
    with pytest.raises(ScheduleInvalid) as refused:
        parse_schedule(broken)
    problems = " | ".join(refused.value.problems)
    assert "school_attendance_min" in problems and "suspend_after" in problems and "SD must be checked" in problems


# --- the schedule must not run out (runway check) -------------------------------------------------------


def test_the_shipped_schedule_has_the_2027_stages_of_the_domain():
    schedule = load_schedule(ROOT / "processes")
    for programme in ("PKH", "BPNT"):
        stages = [schedule.cycles[f"{programme}-2027-T{n}"] for n in range(1, 5)]
        # Four quarterly stages covering every month of 2027 once, each cut off on the 10th of its last month.
        assert [m for s in stages for m in s.months] == [f"2027-{n:02d}" for n in range(1, 13)]
        assert [s.cut_off for s in stages] == [date(2027, 3 * n, 10) for n in range(1, 5)]
        assert all(s.supplements is None for s in stages)
    assert schedule.rates("BPNT-2027-T2") == [("BPNT", "food", 600_000, None)]  # Rp200,000 a month, a quarter at once
    pkh = dict((c, a) for _p, c, a, _cap in schedule.rates("PKH-2027-T3"))
    assert pkh["SMA"] == 500_000 and pkh["disability"] == 600_000
    assert schedule.runway_months == 3
    # Today (December 2026) nothing is missing up to three months ahead; in October 2027 January 2028 is.
    assert schedule.runway_gaps(date(2026, 12, 6)) == []
    assert schedule.runway_gaps(date(2027, 10, 1)) == [("BPNT", ["2028-01"]), ("PKH", ["2028-01"])]


RUNS_OUT = (
    GOOD
    + """
[programmes.BPNT]
kind = "monthly"
[programmes.BPNT.components]
food = 200000
[[cycles]]
code = "PKH-Y"
programme = "PKH"
months = ["2026-04", "2026-05", "2026-06"]
cut_off = "2026-06-10"
[[cycles]]
code = "BPNT-X"
programme = "BPNT"
months = ["2026-01", "2026-02"]
cut_off = "2026-02-10"
"""
)


def test_a_schedule_that_runs_out_names_each_programme_and_month_missing():
    schedule = parse_schedule(RUNS_OUT)
    assert schedule.runway_months == 3  # the default
    # In January every programme is paid this month; three months ahead (April) BPNT has nothing, from March on.
    assert schedule.runway_gaps(date(2026, 1, 15)) == [("BPNT", ["2026-03", "2026-04"])]
    # In May the PKH schedule ends with June; BPNT has nothing at all in the window.
    assert schedule.runway_gaps(date(2026, 5, 31)) == [
        ("BPNT", ["2026-05", "2026-06", "2026-07", "2026-08"]),
        ("PKH", ["2026-07", "2026-08"]),
    ]
    # The window crosses the year; a programme without any cycle is missing every month.
    bare = parse_schedule(RUNS_OUT.split('[[cycles]]\ncode = "BPNT-X"')[0])
    assert "BPNT-X" not in bare.cycles and "BPNT" in bare.programmes
    assert bare.runway_gaps(date(2026, 12, 1), months=1) == [
        ("BPNT", ["2026-12", "2027-01"]),
        ("PKH", ["2026-12", "2027-01"]),
    ]


def test_the_warning_window_is_configurable():
    longer = parse_schedule("warn_months_ahead = 6\n" + RUNS_OUT)
    assert longer.runway_months == 6
    assert ("PKH", ["2026-07"]) in longer.runway_gaps(date(2026, 1, 15))
    assert parse_schedule("warn_months_ahead = 0\n" + RUNS_OUT).runway_gaps(date(2026, 6, 1)) == [("BPNT", ["2026-06"])]
    for bad in ("-1", "25", "true", '"3"'):
        with pytest.raises(ScheduleInvalid) as refused:
            parse_schedule(f"warn_months_ahead = {bad}\n" + RUNS_OUT)
        assert any("warn_months_ahead" in p for p in refused.value.problems)


def test_the_runway_check_reads_the_schedule_file_and_ignores_a_broken_one(tmp_path):
    from payments.schedule import FILE_NAME, runway_warnings

    (tmp_path / FILE_NAME).write_text(RUNS_OUT, encoding="utf-8")
    assert runway_warnings(tmp_path, date(2026, 6, 20), months=1) == [
        ("BPNT", ["2026-06", "2026-07"]),
        ("PKH", ["2026-07"]),
    ]
    (tmp_path / FILE_NAME).write_text("kind = = ", encoding="utf-8")
    assert runway_warnings(tmp_path, date(2026, 6, 20)) == []  # `tepat cycle check` reports the broken file


def test_the_schedule_is_parsed_once_per_text_and_an_edit_counts_at_once(tmp_path):
    # Every enrolment reads the schedule for its payment plan: the same file is parsed once, and an
    # administrator's edit of the file is seen by the next read.
    text = (ROOT / "processes" / "payment_schedule.toml").read_text(encoding="utf-8")
    (tmp_path / "payment_schedule.toml").write_text(text, encoding="utf-8")
    first = load_schedule(tmp_path)
    assert load_schedule(tmp_path) is first
    edited = text.replace("return_after_days = ", "return_after_days = 1", 1)
    assert edited != text
    (tmp_path / "payment_schedule.toml").write_text(edited, encoding="utf-8")
    again = load_schedule(tmp_path)
    assert again is not first and again.return_after_days == int(f"1{first.return_after_days}")
    (tmp_path / "payment_schedule.toml").write_text("not = [valid", encoding="utf-8")
    with pytest.raises(ScheduleInvalid):
        load_schedule(tmp_path)
