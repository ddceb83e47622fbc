"""A loopback HTTP server speaking the registry API of docs/integrations-http.md, for tests.

Answers come from the sandbox adapters over a sandbox database, so the HTTP adapters can be
compared with the sandbox ones on the same data. Failure modes make it misbehave on purpose.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from integrations.base import DisbursementConflict, PersonNotFound
from integrations.sandbox.delivery import SandboxNotifier, SandboxPaymentGateway
from integrations.sandbox.registries import (
    SandboxAssetRegistry,
    SandboxBpjsEmployment,
    SandboxBpjsHealth,
    SandboxCivilRegistry,
    SandboxCivilServiceRegistry,
    SandboxDtsen,
)

SYSTEMS = ("civil_registry", "dtsen", "bpjs_health", "bpjs_employment", "assets", "civil_service", "payments", "notify")
FAILURE_MODES = (
    "slow",
    "error500",
    "throttled",
    "throttled_briefly",
    "throttled_for_an_hour",
    "not_json",
    "wrong_shape",
    "bad_request",
)
_LOOKUPS = {  # endpoint -> (sandbox class, method name)
    "person": (SandboxCivilRegistry, "lookup_person"),
    "dtsen": (SandboxDtsen, "lookup_household"),
    "bpjs_health": (SandboxBpjsHealth, "lookup"),
    "bpjs_employment": (SandboxBpjsEmployment, "lookup"),
    "assets": (SandboxAssetRegistry, "lookup_household"),
    "civil_service": (SandboxCivilServiceRegistry, "lookup"),
}
_URLS = Map(
    [
        Rule("/civil_registry/people/<key>", endpoint="person", methods=["GET"]),
        Rule("/civil_registry/people/<key>/photo", endpoint="photo", methods=["GET"]),
        Rule("/dtsen/households/<key>", endpoint="dtsen", methods=["GET"]),
        Rule("/bpjs_health/members/<key>", endpoint="bpjs_health", methods=["GET"]),
        Rule("/bpjs_employment/members/<key>", endpoint="bpjs_employment", methods=["GET"]),
        Rule("/assets/households/<key>", endpoint="assets", methods=["GET"]),
        Rule("/civil_service/people/<key>", endpoint="civil_service", methods=["GET"]),
        Rule("/payments/disbursements", endpoint="disburse", methods=["POST"]),
        Rule("/notify/messages", endpoint="send", methods=["POST"]),
        Rule("/notify/messages", endpoint="outbox", methods=["GET"]),
    ]
)


def copy_sqlite(engine, path):
    """Copy a SQLite database (WAL included) to ``path`` and return an engine over the copy."""
    source = sqlite3.connect(engine.url.database)
    target = sqlite3.connect(path)
    with target:
        source.backup(target)
    source.close()
    target.close()
    return create_engine(f"sqlite:///{path}")


def _json(body, status=200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _with_header(response: Response, name: str, value: str) -> Response:
    response.headers[name] = value
    return response


def _error(status, code, message="") -> Response:
    return _json({"error": code, "message": message}, status)


class RegistrySimulator:
    """Every outside system on one loopback port, one path prefix per system."""

    def __init__(self, engine, photo_dir=None, slow_seconds=2.0):
        self._engine = engine
        self._photo_dir = photo_dir
        self.slow_seconds = slow_seconds
        self.requests: Counter = Counter()  # system -> requests received
        self._lock = threading.Lock()
        self._failure: tuple[str, int | None, str | None] | None = None
        self._healed = threading.Event()
        self._sent_keys: dict[str, str] = {}  # Idempotency-Key -> message id, as a provider keeps it
        self._server = None
        self._thread = None
        self.port = 0

    # --- control ---------------------------------------------------------------------------

    def start(self) -> RegistrySimulator:
        """Listen on 127.0.0.1 (the same port again after stop())."""
        self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self.port = self._server.server_port
        # A short poll interval keeps stop() quick; the tests stop and start servers often.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port: connections are refused until start()."""
        if self._server is not None:
            self._healed.set()  # release slow answers so their threads end
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def url(self, system: str) -> str:
        """Return the base URL of one system."""
        return f"http://127.0.0.1:{self.port}/{system}"

    def fail(self, mode: str, times: int | None = None, system: str | None = None) -> None:
        """Misbehave (``mode``) for the next ``times`` requests (None: until heal), optionally on one system."""
        if mode not in FAILURE_MODES:
            raise ValueError(f"unknown failure mode {mode!r}")
        with self._lock:
            self._healed.clear()
            self._failure = (mode, times, system)

    def heal(self) -> None:
        """Answer normally again."""
        with self._lock:
            self._failure = None
            self._healed.set()

    def count(self, system: str | None = None) -> int:
        """Return how many requests reached the server (for one system, or all)."""
        with self._lock:
            return self.requests[system] if system else sum(self.requests.values())

    # --- serving ---------------------------------------------------------------------------

    def _take_failure(self, system: str) -> str | None:
        with self._lock:
            self.requests[system] += 1
            if self._failure is None:
                return None
            mode, times, only = self._failure
            if only is not None and only != system:
                return None
            if times is not None:
                self._failure = (mode, times - 1, only) if times > 1 else None
            return mode

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = _URLS.bind_to_environ(environ).match()
        except HTTPException as exc:
            return exc(environ, start_response)
        failure = self._take_failure(request.path.split("/")[1])
        response = self._misbehave(failure) if failure else None
        if response is None:
            with Session(self._engine) as session:
                response = self._answer(session, endpoint, request, args.get("key"))
                session.commit()
        return response(environ, start_response)

    def _misbehave(self, mode: str) -> Response | None:
        if mode == "slow":
            # Late but right, as a loaded registry is; heal() or stop() cut the wait short.
            self._healed.wait(self.slow_seconds)
            return None
        return {
            "error500": lambda: _error(500, "INTERNAL", "simulated failure"),
            "throttled": lambda: _error(429, "TOO_MANY_REQUESTS", "simulated throttling"),
            "throttled_briefly": lambda: _with_header(
                _error(429, "TOO_MANY_REQUESTS", "wait a moment"), "Retry-After", "2"
            ),
            "throttled_for_an_hour": lambda: _with_header(
                _error(503, "MAINTENANCE", "back in an hour"), "Retry-After", "3600"
            ),
            "not_json": lambda: Response("<html>maintenance</html>", content_type="text/html"),
            "wrong_shape": lambda: _json({"status": "ok", "data": []}),
            "bad_request": lambda: _error(400, "BAD_REQUEST", "simulated rejection"),
        }[mode]()

    def _answer(self, session, endpoint, request, key) -> Response:
        factory = lambda: session  # noqa: E731 - the sandbox adapters take a session factory
        if endpoint in _LOOKUPS:
            cls, method = _LOOKUPS[endpoint]
            adapter = cls(factory, photo_dir=self._photo_dir) if cls is SandboxCivilRegistry else cls(factory)
            try:
                return _json(getattr(adapter, method)(key).evidence.value)
            except PersonNotFound:
                return _error(404, "NOT_FOUND", "no record for this key")
        if endpoint == "photo":
            photo = SandboxCivilRegistry(factory, photo_dir=self._photo_dir).reference_photo(key)
            if photo is None:
                return _error(404, "NO_PHOTO", "no usable photo")
            kind = "image/png" if photo.startswith(b"\x89PNG") else "image/jpeg"
            return Response(photo, content_type=kind)
        body = request.get_json(silent=True)
        if endpoint == "disburse":
            return self._disburse(factory, request, body)
        if endpoint == "send":
            return self._send(factory, request, body)
        messages = SandboxNotifier(factory).outbox(request.args.get("recipient_nik", ""))
        return _json({"messages": [{**m, "sent_at": m["sent_at"].isoformat()} for m in messages]})

    def _disburse(self, factory, request, body) -> Response:
        if not isinstance(body, dict) or request.headers.get("Idempotency-Key") != body.get("reference"):
            return _error(422, "INVALID_REQUEST", "Idempotency-Key must equal the reference")
        try:
            receipt = SandboxPaymentGateway(factory).request_disbursement(
                body.get("reference"),
                body.get("nik"),
                body.get("amount"),
                body.get("channel"),
                body.get("account"),
            )
        except DisbursementConflict as exc:
            return _error(409, "REFERENCE_CONFLICT", str(exc))
        except ValueError as exc:
            return _error(422, "INVALID_REQUEST", str(exc))
        return _json({**receipt.evidence.value, "accepted_at": receipt.evidence.checked_at.isoformat()})

    def _send(self, factory, request, body) -> Response:
        key = request.headers.get("Idempotency-Key")
        if not key or not isinstance(body, dict):
            return _error(422, "INVALID_REQUEST", "an Idempotency-Key and a JSON body are required")
        with self._lock:
            known = self._sent_keys.get(key)
        if known is not None:
            return _json({"message_id": known})
        try:
            message_id = SandboxNotifier(factory).send(
                body.get("recipient_nik"), body.get("channel"), body.get("template"), body.get("params")
            )
        except ValueError as exc:
            return _error(422, "INVALID_REQUEST", str(exc))
        with self._lock:
            self._sent_keys[key] = message_id
        return _json({"message_id": message_id}, status=201)
