"""Calling one outside system over HTTP: timeouts, retries with jittered backoff, a circuit breaker.

The wire format (paths, JSON bodies, error codes) is documented in docs/integrations-http.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pybreaker
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from integrations.base import (
    IntegrationError,
    IntegrationTimeout,
    IntegrationUnavailable,
    MalformedResponse,
    TransientIntegrationError,
    utc_now,
)
from integrations.digits import is_ascii_digits

log = logging.getLogger(__name__)


class RequestRejected(IntegrationError):
    """The source refused the request itself (a 4xx that is no business answer); never retried."""


class CircuitOpen(IntegrationUnavailable):
    """Recent calls to the source failed; calls fail fast without touching the network."""


@dataclass(frozen=True)
class HttpPolicy:
    """How patiently one outside system is called."""

    read_timeout: float = 5.0
    connect_timeout: float = 2.0
    retries: int = 2  # attempts after the first, within one call
    backoff: float = 0.5  # first wait in seconds; doubles, plus up to as much again of jitter
    breaker_failures: int = 5  # consecutive failed attempts that open the circuit
    breaker_reset: float = 30.0  # seconds the circuit stays open before one trial call
    # A Retry-After up to this long is waited out within the call; a longer one ends the call, and the
    # engine's own retry (which honours it too) comes back later.
    max_retry_after: float = 10.0

    @classmethod
    def from_settings(cls, settings: dict) -> HttpPolicy:
        """Build the policy from the shared BANSOS_HTTP_* settings (missing ones keep the defaults)."""
        keys = {
            "read_timeout": ("BANSOS_HTTP_TIMEOUT_SECONDS", float),
            "connect_timeout": ("BANSOS_HTTP_CONNECT_TIMEOUT_SECONDS", float),
            "retries": ("BANSOS_HTTP_RETRIES", int),
            "backoff": ("BANSOS_HTTP_BACKOFF_SECONDS", float),
            "breaker_failures": ("BANSOS_HTTP_BREAKER_FAILURES", int),
            "breaker_reset": ("BANSOS_HTTP_BREAKER_RESET_SECONDS", float),
            "max_retry_after": ("BANSOS_HTTP_MAX_RETRY_AFTER_SECONDS", float),
        }
        values = {name: kind(settings[key]) for name, (key, kind) in keys.items() if settings.get(key) is not None}
        policy = cls(**values)
        if (
            policy.retries < 0
            or policy.breaker_failures < 1
            or min(policy.read_timeout, policy.connect_timeout, policy.backoff, policy.breaker_reset) < 0
        ):
            raise ValueError(f"BANSOS_HTTP_* settings out of range: {policy}")
        return policy


def _counts_against_source(exc: BaseException) -> bool:
    # Business answers (not found, conflict, rejected request) come from a healthy source.
    return isinstance(exc, TransientIntegrationError)


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    """Log each circuit state change: an open circuit is an outage someone should hear about."""

    def state_change(self, cb, old_state, new_state):
        level = logging.WARNING if new_state.name == pybreaker.STATE_OPEN else logging.INFO
        log.log(level, "circuit for %s: %s -> %s", cb.name, old_state.name if old_state else None, new_state.name)


def _worth_retrying(exc: BaseException) -> bool:
    # An open circuit is the answer "stop calling for now": retrying it would only spin.
    return isinstance(exc, TransientIntegrationError) and not isinstance(exc, CircuitOpen)


def retry_after_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The server's Retry-After (delay seconds or an HTTP date) in seconds, or None when absent or bad."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if is_ascii_digits(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpSource:
    """One outside system at one base URL; every call goes through the same policy and breaker."""

    def __init__(
        self,
        source: str,
        base_url: str,
        policy: HttpPolicy,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{source}: base URL must start with http:// or https://, got {base_url!r}")
        self.source = source
        self.policy = policy
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "tepat"},
            # A redirect from a registry API means a wrong URL; following it could leak data elsewhere.
            follow_redirects=False,
        )
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=policy.breaker_failures,
            reset_timeout=policy.breaker_reset,
            exclude=[lambda exc: not _counts_against_source(exc)],
            # The call that trips the breaker reports its own failure (timeout, 5xx...), not "open".
            throw_new_error_on_trip=False,
            listeners=[_LogStateChanges()],
            name=source,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def call(self, method: str, path: str, handle: Callable[[httpx.Response], object], **request):
        """Send a request under the policy and return ``handle(response)`` for the first usable answer."""
        backoff = wait_exponential_jitter(multiplier=self.policy.backoff, jitter=self.policy.backoff)

        def wait(state):
            # The server's Retry-After, when it sent one, is the least we wait.
            asked = getattr(state.outcome.exception(), "retry_after", None) or 0.0
            return max(backoff(state), asked)

        def worth_retrying(exc):
            asked = getattr(exc, "retry_after", None)
            return _worth_retrying(exc) and (asked is None or asked <= self.policy.max_retry_after)

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.retries + 1),
            wait=wait,
            retry=retry_if_exception(worth_retrying),
            sleep=self._sleep,
            before_sleep=before_sleep_log(log, logging.INFO),
            reraise=True,
        )
        return retrying(self._attempt, method, path, handle, request)

    def _attempt(self, method, path, handle, request):
        try:
            # calling() runs the body outside pybreaker's lock, so calls to one source stay concurrent.
            with self.breaker.calling():
                return handle(self._send(method, path, request))
        except pybreaker.CircuitBreakerError as exc:
            raise CircuitOpen(self.source, "circuit open after repeated failures; not calling") from exc

    def _send(self, method, path, request) -> httpx.Response:
        try:
            response = self._client.request(method, path, **request)
        except httpx.TimeoutException as exc:
            raise IntegrationTimeout(self.source, f"no answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise IntegrationUnavailable(self.source, f"cannot reach the service ({type(exc).__name__})") from exc
        if response.status_code == 429 or response.status_code >= 500:
            error = IntegrationUnavailable(self.source, f"HTTP {response.status_code}")
            error.retry_after = retry_after_seconds(response)
            raise error
        return response


def json_body(response: httpx.Response, source: str):
    """Return the decoded JSON body, or raise MalformedResponse."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponse(source, f"HTTP {response.status_code} answer is not JSON") from exc


def error_code(response: httpx.Response) -> str | None:
    """Return the ``error`` code of an error answer, or None when the body carries none."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else None


def require_success(response: httpx.Response, source: str) -> None:
    """Raise RequestRejected unless the answer is a 2xx (5xx and 429 never get this far)."""
    if not 200 <= response.status_code < 300:
        code = error_code(response) or "no error code"
        raise RequestRejected(source, f"HTTP {response.status_code} ({code}) for {response.request.url.path}")


class HttpAdapter:
    """Base of the HTTP adapters: one HttpSource per system, a clock for evidence times."""

    source = ""

    def __init__(
        self,
        base_url: str,
        policy: HttpPolicy | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utc_now,
    ):
        self.http = HttpSource(self.source, base_url, policy or HttpPolicy(), transport=transport, sleep=sleep)
        self._clock = clock

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()
