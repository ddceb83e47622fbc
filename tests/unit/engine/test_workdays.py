from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.workdays import add_working_days, working_days_duration

WIB = ZoneInfo("Asia/Jakarta")


def wib(*args):
    return datetime(*args, tzinfo=WIB)


def test_friday_plus_three_is_wednesday_same_time():
    start = wib(2025, 3, 7, 10, 0)  # Friday
    result = add_working_days(start, 3)
    assert result.tzinfo == UTC
    assert result == wib(2025, 3, 12, 10, 0)  # Wednesday
    assert result.astimezone(WIB).weekday() == 2


def test_holidays_are_skipped():
    start = wib(2025, 3, 7, 10, 0)
    holidays = {date(2025, 3, 10), date(2025, 3, 11)}  # Monday and Tuesday
    assert add_working_days(start, 3, holidays) == wib(2025, 3, 14, 10, 0)
    # ISO strings (as in settings.BANSOS_HOLIDAYS) work too
    assert add_working_days(start, 3, {"2025-03-10", "2025-03-11"}) == wib(2025, 3, 14, 10, 0)


def test_days_are_counted_in_jakarta_time():
    # Thursday 20:00 UTC is already Friday 03:00 in Jakarta: +1 working day -> Monday 03:00 WIB
    start = datetime(2025, 3, 6, 20, 0, tzinfo=UTC)
    assert add_working_days(start, 1) == wib(2025, 3, 10, 3, 0)
    assert add_working_days(start, 1) == datetime(2025, 3, 9, 20, 0, tzinfo=UTC)


def test_weekend_start_and_zero_and_naive():
    saturday = wib(2025, 3, 8, 9, 30)
    assert add_working_days(saturday, 1) == wib(2025, 3, 10, 9, 30)
    assert add_working_days(saturday, 0) == saturday
    naive_utc = datetime(2025, 3, 7, 3, 0)  # = Friday 10:00 WIB
    assert add_working_days(naive_utc, 3) == wib(2025, 3, 12, 10, 0)
    assert add_working_days(wib(2025, 3, 12, 10, 0), -3) == wib(2025, 3, 7, 10, 0)


def test_working_days_duration():
    friday = wib(2025, 3, 7, 10, 0)
    assert working_days_duration(3, now=friday) == "PT120H"  # Fri 10:00 -> Wed 10:00
    assert working_days_duration(1, now=wib(2025, 3, 10, 10, 0)) == "PT24H"
    assert working_days_duration(3, now=friday, holidays={date(2025, 3, 10)}) == "PT144H"
    assert working_days_duration(0, now=friday) == "PT0H"
    with pytest.raises(ValueError):
        working_days_duration(-1, now=friday)


def test_working_days_duration_defaults_to_now_and_is_a_valid_timer_duration():
    value = working_days_duration(5)
    assert value.startswith("PT") and value.endswith("H")
    parsed = TimerEventDefinition.parse_iso_duration(value)
    delta = TimerEventDefinition.get_timedelta_from_start(parsed)
    assert timedelta(days=5) <= delta <= timedelta(days=7)  # 7 from a weekday, 6 from Sat, 5 from Sun
