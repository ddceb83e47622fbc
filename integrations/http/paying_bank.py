"""A paying bank (or the post office) over HTTP: send a cycle's batch, results come back as callbacks.

Wire format (docs/payments.md, "Dispatch over HTTP"): ``POST /batches`` with the batch's reference as
``Idempotency-Key`` and part of its lines; the bank pays once per payment reference. The same part
sent again (a retry after a lost answer) gets the first receipt again; a reference reused with another
amount, account or NIK is refused whole with ``409 {"error": "REFERENCE_CONFLICT", "references": [...]}``.
Results arrive later, signed, at Tepat's callback (``POST /api/payments/callback``).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import httpx
from marshmallow import fields, validate

from integrations.base import DisbursementConflict, MalformedResponse
from integrations.http.client import HttpAdapter, error_code, json_body, require_success
from integrations.parsing import AnswerSchema, load_answer

SEND_CHUNK = 1000  # payments per request: a regency's batch is sent in parts, each idempotent
SIGNATURE_HEADER = "X-Tepat-Signature"
TIMESTAMP_HEADER = "X-Tepat-Timestamp"


class BatchConflict(DisbursementConflict):
    """The bank refused a part: some of its references were used before for another payment."""

    def __init__(self, source, message, references=()):
        super().__init__(source, message)
        self.references = list(references)


class _ReceiptSchema(AnswerSchema):
    batch = fields.String(required=True)
    accepted = fields.Integer(required=True, validate=validate.Range(min=0))
    received_at = fields.AwareDateTime(required=True)
    references = fields.List(fields.String(), required=True)


_RECEIPT = _ReceiptSchema()


@dataclass(frozen=True)
class BatchReceipt:
    """The bank's acknowledgement of one part of a batch."""

    batch: str
    accepted: int
    references: tuple[str, ...]
    received_at: object


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature of a callback: ``sha256=`` and the HMAC-SHA256 hex of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_ok(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """True when `signature` is this body's signature at this timestamp (compared in constant time)."""
    return bool(secret) and hmac.compare_digest(sign(secret, timestamp, body), signature or "")


class HttpPayingBank(HttpAdapter):
    """One paying channel's HTTP gateway (a Himbara bank or PT Pos)."""

    source = "paying_bank"

    def send_part(self, batch: dict, payments: list[dict], callback_url: str | None = None) -> BatchReceipt:
        """Send part of a batch; return the bank's receipt (the same one again for a part sent before).

        `batch`: {"reference", "channel"}; `payments`: [{"reference", "nik", "name", "account", "amount"}].
        """
        if not payments:
            raise ValueError("a batch part needs at least one payment")
        for p in payments:
            amount = p.get("amount")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0 or not p.get("reference"):
                raise ValueError(f"payment {p.get('reference')!r}: a reference and a positive whole amount are needed")
        body = {
            "batch": batch["reference"],
            "channel": batch["channel"],
            "count": len(payments),
            "total": sum(p["amount"] for p in payments),
            "callback_url": callback_url,
            "payments": [{k: p.get(k) for k in ("reference", "nik", "name", "account", "amount")} for p in payments],
        }
        wanted = {p["reference"] for p in payments}

        def handle(response: httpx.Response) -> BatchReceipt:
            if response.status_code == 409 and error_code(response) == "REFERENCE_CONFLICT":
                refs = json_body(response, self.source).get("references") or []
                raise BatchConflict(self.source, f"references used before for another payment: {refs[:10]}", refs)
            require_success(response, self.source)
            answer = load_answer(_RECEIPT, self.source, json_body(response, self.source))
            if answer["batch"] != batch["reference"] or set(answer["references"]) != wanted:
                raise MalformedResponse(self.source, "the receipt is for other payments")
            return BatchReceipt(answer["batch"], answer["accepted"], tuple(answer["references"]), answer["received_at"])

        # The same key and body on every retry: the bank pays each reference once, however often we ask.
        key = f"{batch['reference']}:{payments[0]['reference']}:{len(payments)}"
        return self.http.call("POST", "/batches", handle, json=body, headers={"Idempotency-Key": key})
