"""Working-day arithmetic in Jakarta local time (Mon-Fri, minus public holidays).

Used for user-task SLAs (``add_working_days``; ``add_calendar_days`` for deadlines counted in calendar
days) and, inside scripts, for timer durations (``working_days_duration`` returns an ISO-8601 duration
a BPMN timer can use).
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Jakarta"

__all__ = ["DEFAULT_TZ", "add_calendar_days", "add_working_days", "working_days_duration", "is_working_day"]


def _as_date(value):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip()[:10])
    raise TypeError(f"holiday must be a date or an ISO date string, not {type(value).__name__}")


def _holiday_set(holidays):
    return frozenset(_as_date(h) for h in (holidays or ()))


def is_working_day(day: date, holidays=()) -> bool:
    """Monday to Friday and not a holiday (``holidays`` already normalised or raw)."""
    hs = holidays if isinstance(holidays, frozenset) else _holiday_set(holidays)
    return day.weekday() < 5 and day not in hs


def add_working_days(start: datetime, n: int, holidays=(), tz: str = DEFAULT_TZ) -> datetime:
    """``start`` plus ``n`` working days, keeping the local time of day.

    Days are counted in ``tz`` local time: each following Monday-Friday that is not in
    ``holidays`` (dates or ISO date strings) counts as one. A naive ``start`` is taken as UTC.
    The result is timezone-aware UTC. Negative ``n`` counts backwards.
    """
    if isinstance(n, bool) or int(n) != n:
        raise ValueError(f"n must be a whole number of working days, got {n!r}")
    n = int(n)
    zone = ZoneInfo(tz)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    local = start.astimezone(zone)
    hs = _holiday_set(holidays)
    day = local.date()
    step = timedelta(days=1 if n >= 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        if day.weekday() < 5 and day not in hs:
            remaining -= 1
    result = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
    return result.astimezone(UTC)


def add_calendar_days(start: datetime, n: int, tz: str = DEFAULT_TZ) -> datetime:
    """``start`` plus ``n`` calendar days (weekends and holidays count), same local time in ``tz``; UTC result."""
    if isinstance(n, bool) or int(n) != n:
        raise ValueError(f"n must be a whole number of days, got {n!r}")
    zone = ZoneInfo(tz)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    local = start.astimezone(zone)
    day = local.date() + timedelta(days=int(n))
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone).astimezone(UTC)


def _iso_duration(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total < 0:
        raise ValueError("negative durations cannot be expressed in ISO-8601")
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"PT{hours}H"
    if minutes or seconds:
        out += f"{minutes}M"
    if seconds:
        out += f"{seconds}S"
    return out


def working_days_duration(n, now=None, holidays=()) -> str:
    """ISO-8601 duration (hours precision, e.g. 'PT72H') from ``now`` to ``now`` + ``n`` working days.

    ``now`` defaults to the current UTC time; a naive ``now`` is taken as UTC.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if int(n) < 0:
        raise ValueError("working_days_duration needs n >= 0")
    target = add_working_days(now, n, holidays)
    return _iso_duration(target - now)
