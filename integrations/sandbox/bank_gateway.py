"""A sandbox paying bank / post office over HTTP: takes batches, later posts signed result callbacks.

A small werkzeug server on a loopback port (port 0: the system picks one), speaking the API of
docs/payments.md ("Dispatch over HTTP"). It pays once per payment reference: a part sent again gets
its first receipt again, and a reference reused with another amount, account or NIK is refused with
409 REFERENCE_CONFLICT (nothing of that part is taken). Results are the deterministic ones of the
file sandbox (`paying_bank.outcome` and `draws`), posted as callbacks signed with each channel's own secret.
Failure modes ("slow": take the part, then answer too late; "error500") let tests try retries.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from integrations.http.paying_bank import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from integrations.sandbox.paying_bank import draws, outcome


def _json(body, status=200):
    return Response(json.dumps(body), status=status, content_type="application/json")


class BankSimulator:
    """Every paying channel on one loopback port: base URL ``http://127.0.0.1:<port>/<channel>``."""

    def __init__(self, secrets=None, slow_seconds=1.0) -> None:
        self.secrets = dict(secrets or {})  # channel -> the secret its bank signs callbacks with
        self.slow_seconds = slow_seconds
        self.accepted: dict[str, dict] = {}  # payment reference -> the payment as first taken
        self.received_at: dict[str, str] = {}  # payment reference -> when it was taken (the receipt's time)
        self.requests: Counter = Counter()
        self.payouts: Counter = Counter()  # payment reference -> times money was moved for it (never above 1)
        self._failure: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> BankSimulator:
        server = self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self.port = server.server_port
        thread = self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(5)
            self._server = None

    def url(self, channel: str) -> str:
        return f"http://127.0.0.1:{self.port}/{channel}"

    def fail(self, mode: str, times: int = 1) -> None:
        """Misbehave on the next `times` requests: "slow" (take the part, answer late) or "error500"."""
        if mode not in ("slow", "error500"):
            raise ValueError(mode)
        with self._lock:
            self._failure = (mode, times)

    def paid(self, batch: str | None = None) -> list[dict]:
        """The payments taken (each once), optionally of one batch."""
        with self._lock:
            return [p for p in self.accepted.values() if batch is None or p["batch"] == batch]

    # --- serving ---------------------------------------------------------------------------

    def _take_failure(self):
        with self._lock:
            if self._failure is None:
                return None
            mode, times = self._failure
            self._failure = (mode, times - 1) if times > 1 else None
            return mode

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 2 or parts[1] != "batches":
            return _json({"error": "NOT_FOUND", "message": "no such path"}, 404)(environ, start_response)
        with self._lock:
            self.requests[parts[0]] += 1
        failure = self._take_failure()
        if failure == "error500":
            return _json({"error": "INTERNAL", "message": "simulated failure"}, 500)(environ, start_response)
        response = self._batch(parts[0], request)
        if failure == "slow":
            time.sleep(self.slow_seconds)  # the part is taken; the answer comes after the caller gave up
        return response(environ, start_response)

    def _batch(self, channel, request):
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("payments"), list) or not body["payments"]:
            return _json({"error": "INVALID_REQUEST", "message": "a JSON body with payments is required"}, 422)
        if not request.headers.get("Idempotency-Key") or body.get("channel") != channel:
            return _json({"error": "INVALID_REQUEST", "message": "Idempotency-Key and the channel are required"}, 422)
        payments = body["payments"]
        if not all(isinstance(p, dict) and isinstance(p.get("amount"), int) and p.get("reference") for p in payments):
            return _json({"error": "INVALID_REQUEST", "message": "every payment needs a reference and an amount"}, 422)
        if (body.get("count"), body.get("total")) != (len(payments), sum(p["amount"] for p in payments)):
            return _json({"error": "CONTROL_TOTALS", "message": "count or total does not match the payments"}, 422)
        now = datetime.now(UTC).isoformat()
        with self._lock:
            conflicts = [
                p["reference"]
                for p in payments
                if p["reference"] in self.accepted
                and any(self.accepted[p["reference"]][k] != p.get(k) for k in ("amount", "account", "nik"))
            ]
            if conflicts:
                return _json(
                    {
                        "error": "REFERENCE_CONFLICT",
                        "references": conflicts,
                        "message": "references used before for another amount, account or NIK",
                    },
                    409,
                )
            new = 0
            for p in payments:
                if p["reference"] not in self.accepted:
                    self.accepted[p["reference"]] = {
                        **p,
                        "batch": body.get("batch"),
                        "channel": channel,
                        "callback_url": body.get("callback_url"),
                    }
                    self.received_at[p["reference"]] = now
                    self.payouts[p["reference"]] += 1
                    new += 1
            first = min(self.received_at[p["reference"]] for p in payments)
        return _json(
            {
                "batch": body.get("batch"),
                "accepted": len(payments),
                "new": new,
                "received_at": first,
                "references": [p["reference"] for p in payments],
            },
            201 if new else 200,
        )

    # --- callbacks -------------------------------------------------------------------------

    def results(self, batch: str, day: date, stage: str = "credit", only=None) -> list[dict]:
        """The results of a batch's payments taken so far, as the bank reports them (see paying_bank)."""
        out = []
        for p in sorted(self.paid(batch), key=lambda p: p["reference"]):
            failure = outcome(p["nik"], p["channel"])
            if stage == "credit":
                status = "FAILED" if failure else ("PAID" if p["channel"] == "POS" else "CREDITED")
            elif failure is None and p["channel"] != "POS" and draws(p["nik"]):
                status = "DRAWN"
            else:
                continue
            out.append(
                {
                    "reference": p["reference"],
                    "amount": p["amount"],
                    "status": status,
                    "failure_code": failure,
                    "date": day.isoformat(),
                }
            )
            if only is not None and len(out) >= only:
                break
        return out

    def callback(
        self,
        batch: str,
        results: list[dict],
        callback_id: str,
        timestamp: int | None = None,
        secret: str | None = None,
        channel: str | None = None,
    ) -> tuple[bytes, dict]:
        """A signed callback: (body, headers) to POST to Tepat's callback URL.

        Signed with the secret of the batch's channel (`<cycle>-<channel>`, or `channel`), or with `secret`.
        """
        body = json.dumps({"callback_id": callback_id, "batch": batch, "results": results}).encode()
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        if secret is None:
            secret = self.secrets.get(channel or batch.rsplit("-", 1)[-1], "")
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(secret, stamp, body),
        }
        return body, headers

    def post_callbacks(self, batch: str, day: date, stage: str = "credit", chunk: int = 1000, post=None) -> list:
        """Post a batch's results to the callback URL it was sent with, `chunk` results per callback.

        `post(url, body, headers)` sends one (default: httpx); returns what each post returned.
        """
        import httpx

        results = self.results(batch, day, stage)
        urls = {p["callback_url"] for p in self.paid(batch)}
        if len(urls) != 1 or not next(iter(urls)):
            raise ValueError(f"batch {batch} has no single callback URL: {urls}")
        url = urls.pop()
        post = post or (lambda u, b, h: httpx.post(u, content=b, headers=h, timeout=10))
        answers = []
        for n, start in enumerate(range(0, len(results), chunk)):
            body, headers = self.callback(batch, results[start : start + chunk], f"{batch}-{stage}-{n}")
            answers.append(post(url, body, headers))
        return answers
