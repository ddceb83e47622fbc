"""Plumbing shared by the sandbox adapters: session, clock, faults and answer parsing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from integrations.base import utc_now
from integrations.sandbox.faults import SandboxFaults, malform


def iso(value: date | None) -> str | None:
    """Return a date as ISO text the way a JSON API sends it, or None."""
    return value.isoformat() if value is not None else None


def as_utc(value: datetime) -> datetime:
    """Return a stored datetime as aware UTC (SQLite hands back naive values)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SandboxAdapter:
    """Base of every sandbox adapter: answers come from the sandbox tables."""

    source = ""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        faults: SandboxFaults | None = None,
        clock: Callable[[], datetime] = utc_now,
    ):
        self._session_factory = session_factory
        self._faults = faults or SandboxFaults()
        self._clock = clock

    @property
    def _session(self) -> Session:
        return self._session_factory()

    def _answer(self, key: str, build_raw: Callable[[], dict], parse, required_field: str):
        """Run one call: faults first (a real source can fail for any key), then build and parse."""
        malformed = self._faults.before_call(self.source, key)
        raw = build_raw()
        if malformed:
            raw = malform(raw, required_field)
        return parse(raw, self._clock(), self.source)
