"""HTTP payment gateway and notifier (wire format: docs/integrations-http.md)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC

import httpx
from marshmallow import fields, validate

from integrations.base import DisbursementConflict, MalformedResponse, validate_nik
from integrations.digits import Digits
from integrations.http.client import HttpAdapter, error_code, json_body, require_success
from integrations.notify import NOTIFY_CHANNELS, Notifier
from integrations.parsing import AnswerSchema, load_answer, parse_disbursement_receipt
from integrations.payments import DisbursementReceipt, PaymentGateway, check_disbursement

_SIXTEEN_DIGITS = re.compile(r"\d{16}")


class _AcceptedSchema(AnswerSchema):
    accepted_at = fields.AwareDateTime(required=True)


class _SentSchema(AnswerSchema):
    message_id = fields.String(required=True, validate=validate.Length(min=1))


class _MessageSchema(AnswerSchema):
    message_id = fields.String(required=True, validate=validate.Length(min=1))
    recipient_nik = fields.String(required=True, validate=Digits(16))
    channel = fields.String(required=True, validate=validate.OneOf(NOTIFY_CHANNELS))
    template = fields.String(required=True, validate=validate.Length(min=1))
    params = fields.Dict(required=True)
    sent_at = fields.AwareDateTime(required=True)


class _OutboxSchema(AnswerSchema):
    messages = fields.List(fields.Nested(_MessageSchema), required=True)


_ACCEPTED, _SENT, _OUTBOX = _AcceptedSchema(), _SentSchema(), _OutboxSchema()


class HttpPaymentGateway(HttpAdapter, PaymentGateway):
    """Payment provider over HTTP: ``POST /disbursements`` with the reference as Idempotency-Key."""

    source = PaymentGateway.source

    def request_disbursement(
        self, reference: str, nik: str, amount: int, channel: str, account: str | None
    ) -> DisbursementReceipt:
        """Ask the provider to pay ``amount`` rupiah to this person; return its receipt."""
        check_disbursement(reference, amount, channel, account)
        body = {
            "reference": reference,
            "nik": validate_nik(nik),
            "amount": amount,
            "channel": channel,
            "account": account or None,
        }

        def handle(response: httpx.Response) -> DisbursementReceipt:
            if response.status_code == 409 and error_code(response) == "REFERENCE_CONFLICT":
                raise DisbursementConflict(self.source, f"reference {reference!r} was already used for another payment")
            require_success(response, self.source)
            raw = json_body(response, self.source)
            # The evidence time is when the provider accepted the request, also on a repeated ask.
            accepted_at = load_answer(_ACCEPTED, self.source, raw)["accepted_at"]
            receipt = parse_disbursement_receipt(raw, accepted_at, self.source)
            if receipt.reference != reference:
                raise MalformedResponse(self.source, "receipt is for another reference")
            return receipt

        # The same key on every retry: the provider pays once however often a timeout makes us ask.
        return self.http.call("POST", "/disbursements", handle, json=body, headers={"Idempotency-Key": reference})


class HttpNotifier(HttpAdapter, Notifier):
    """Notification provider over HTTP: ``POST /messages`` and ``GET /messages?recipient_nik=``."""

    source = Notifier.source

    def send(
        self, recipient_nik: str, channel: str, template: str, params: dict, idempotency_key: str | None = None
    ) -> str:
        """Send one templated message and return its id."""
        recipient_nik, params = self.checked(recipient_nik, channel, template, params)
        body = {"recipient_nik": recipient_nik, "channel": channel, "template": template, "params": params}

        def handle(response: httpx.Response) -> str:
            require_success(response, self.source)
            return load_answer(_SENT, self.source, json_body(response, self.source))["message_id"]

        # One key per message, kept across retries, so a retry after a lost answer sends nothing twice;
        # the engine's key (instance, step) also covers a step run again after a crash.
        key = idempotency_key or str(uuid.uuid4())
        return self.http.call("POST", "/messages", handle, json=body, headers={"Idempotency-Key": key})

    def outbox(self, recipient_nik: str) -> list[dict]:
        """Return the messages sent to this person, oldest first."""
        nik = str(recipient_nik).strip()
        if not _SIXTEEN_DIGITS.fullmatch(nik):
            return []  # nothing can have been sent to a number that is no NIK

        def handle(response: httpx.Response) -> list[dict]:
            require_success(response, self.source)
            messages = load_answer(_OUTBOX, self.source, json_body(response, self.source))["messages"]
            if any(m["recipient_nik"] != nik for m in messages):
                raise MalformedResponse(self.source, "outbox lists messages to someone else")
            return [{**m, "sent_at": m["sent_at"].astimezone(UTC)} for m in messages]

        return self.http.call("GET", "/messages", handle, params={"recipient_nik": nik})
