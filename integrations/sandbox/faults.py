"""Fault injection shared by every sandbox adapter."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict, deque

from integrations.base import IntegrationTimeout, IntegrationUnavailable, MalformedResponse

SOURCES = (
    "civil_registry",
    "dtsen",
    "bpjs_health",
    "bpjs_employment",
    "assets",
    "civil_service",
    "payments",
    "notify",
)
FAULT_KINDS = {
    "timeout": IntegrationTimeout,
    "unavailable": IntegrationUnavailable,
    "malformed": MalformedResponse,
}
_RATE_KEYS = ("timeout_rate", "unavailable_rate", "malformed_rate", "latency_ms")


def _normalise_kind(kind) -> str:
    if isinstance(kind, type):
        for name, exc in FAULT_KINDS.items():
            if kind is exc:
                return name
    if kind in FAULT_KINDS:
        return kind
    raise ValueError(f"Unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")


class SandboxFaults:
    """Decides, per source and key, whether a sandbox call fails and how.

    Rates give a fixed answer per (source, key) through a hash, the way a broken record keeps
    failing in a real registry until someone fixes it. ``inject`` queues one-off faults for tests.
    """

    def __init__(self, config: dict | None = None, sleep=time.sleep):
        self._rates: dict[str, dict] = {}
        for source, rates in (config or {}).items():
            if source not in SOURCES:
                raise ValueError(f"Unknown sandbox source {source!r}; use one of {SOURCES}")
            unknown = set(rates) - set(_RATE_KEYS)
            if unknown:
                raise ValueError(f"Unknown fault settings for {source}: {sorted(unknown)}")
            values = {k: float(rates.get(k, 0) or 0) for k in _RATE_KEYS}
            if sum(values[k] for k in _RATE_KEYS[:3]) > 1:
                raise ValueError(f"Fault rates for {source} add up to more than 1")
            self._rates[source] = values
        self._sleep = sleep
        self._lock = threading.Lock()
        self._injected: dict[tuple[str, str], deque] = defaultdict(deque)

    def inject(self, source: str, key: str, kind, times: int = 1) -> None:
        """Make the next ``times`` calls for this key fail with ``kind``, then recover."""
        if source not in SOURCES:
            raise ValueError(f"Unknown sandbox source {source!r}")
        name = _normalise_kind(kind)
        with self._lock:
            self._injected[(source, str(key))].extend([name] * int(times))

    def clear(self) -> None:
        """Forget every injected fault (configured rates stay)."""
        with self._lock:
            self._injected.clear()

    def quiet(self, source: str, key: str) -> bool:
        """True when ``before_call(source, key)`` would do nothing: no rates or latency configured for
        the source and no fault injected for the key."""
        if source in self._rates:
            return False
        with self._lock:
            return (source, str(key)) not in self._injected  # a defaultdict: `in` adds nothing

    def _rate_fault(self, source: str, key: str) -> str | None:
        rates = self._rates.get(source)
        if not rates:
            return None
        digest = hashlib.sha256(f"{source}:{key}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        threshold = 0.0
        for name in ("timeout", "unavailable", "malformed"):
            threshold += rates[f"{name}_rate"]
            if draw < threshold:
                return name
        return None

    def before_call(self, source: str, key: str) -> bool:
        """Apply latency, raise a transient fault if due; return True when the answer must be malformed."""
        key = str(key)
        latency = self._rates.get(source, {}).get("latency_ms", 0)
        if latency:
            self._sleep(latency / 1000)
        with self._lock:
            queue = self._injected.get((source, key))
            fault = queue.popleft() if queue else None
            if queue is not None and not queue:
                del self._injected[(source, key)]
        fault = fault or self._rate_fault(source, key)
        if fault == "timeout":
            raise IntegrationTimeout(source, "sandbox: no answer in time")
        if fault == "unavailable":
            raise IntegrationUnavailable(source, "sandbox: service unavailable")
        return fault == "malformed"


def malform(raw: dict, field: str) -> dict:
    """Return a copy of a raw answer with one required field missing."""
    broken = dict(raw)
    broken.pop(field, None)
    return broken
