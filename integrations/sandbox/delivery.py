"""Sandbox payment gateway and notifier: requests are kept in tables instead of sent."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import cast

from sqlalchemy import String, any_, bindparam, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult

from integrations.base import DisbursementConflict, MalformedResponse, validate_nik
from integrations.notify import Notifier
from integrations.parsing import parse_disbursement_receipt
from integrations.payments import DisbursementReceipt, PaymentGateway, check_disbursement
from integrations.sandbox import tables as t
from integrations.sandbox.common import SandboxAdapter, as_utc
from integrations.sandbox.faults import malform

# Built once and reused with their values as parameters (no statement construction per call).
_DISBURSEMENT_BY_REFERENCE = select(t.disbursements).where(t.disbursements.c.reference == bindparam("reference"))
_INSERT_DISBURSEMENT = insert(t.disbursements)
_OUTBOX_BY_KEY = select(t.outbox.c.id).where(t.outbox.c.idempotency_key == bindparam("key"))
_INSERT_OUTBOX = insert(t.outbox)
_OUTBOX_IDS_BY_KEYS = select(t.outbox.c.idempotency_key, t.outbox.c.id).where(
    t.outbox.c.idempotency_key == any_(bindparam("keys", type_=ARRAY(String)))
)
# A message with an idempotency key already used is not stored again (uq_sandbox_outbox_idempotency_key).
_UPSERTS = {
    name: dialect_insert(t.outbox)
    .on_conflict_do_nothing(index_elements=[t.outbox.c.idempotency_key])
    .returning(t.outbox.c.id)
    for name, dialect_insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_SKIP_USED_KEYS = {  # the same, for many messages at once (no ids back: read by key afterwards)
    name: dialect_insert(t.outbox).on_conflict_do_nothing(index_elements=[t.outbox.c.idempotency_key])
    for name, dialect_insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


class SandboxPaymentGateway(SandboxAdapter, PaymentGateway):
    """Payment provider that records each request in ``sandbox_disbursements``."""

    source = PaymentGateway.source

    def _receipt(self, row, malformed: bool) -> DisbursementReceipt:
        raw = {"reference": row.reference, "status": "ACCEPTED", "provider_ref": row.provider_ref}
        if malformed:
            raw = malform(raw, "provider_ref")
        # The evidence time is when the provider accepted the request, also on a repeated ask.
        return parse_disbursement_receipt(raw, as_utc(row.requested_at), self.source)

    def request_disbursement(
        self, reference: str, nik: str, amount: int, channel: str, account: str | None
    ) -> DisbursementReceipt:
        """Ask the provider to pay ``amount`` rupiah to this person; return its receipt."""
        check_disbursement(reference, amount, channel, account)
        nik = validate_nik(nik)
        account = account or None
        malformed = self._faults.before_call(self.source, reference)
        session = self._session
        row = session.execute(_DISBURSEMENT_BY_REFERENCE, {"reference": reference}).first()
        if row is not None:
            if (row.nik, row.amount, row.channel, row.account) != (nik, amount, channel, account):
                raise DisbursementConflict(self.source, f"reference {reference!r} was already used for another payment")
            return self._receipt(row, malformed)
        digest = hashlib.sha256(reference.encode()).hexdigest()[:12].upper()
        values = {
            "reference": reference,
            "nik": nik,
            "amount": amount,
            "channel": channel,
            "account": account,
            "provider_ref": f"{channel}-{digest}",
            "requested_at": self._clock(),
        }
        # A Core insert goes to the database as it is; no flush of the caller's session (that
        # would write its half-built rows early), and the receipt comes from the values sent.
        session.execute(_INSERT_DISBURSEMENT, values)
        return self._receipt(SimpleNamespace(**values), malformed)


class SandboxNotifier(SandboxAdapter, Notifier):
    """Notifier that keeps every message in ``sandbox_outbox``."""

    source = Notifier.source

    def send(
        self, recipient_nik: str, channel: str, template: str, params: dict, idempotency_key: str | None = None
    ) -> str:
        """Send one templated message and return its id (the first one's, for a key already used)."""
        recipient_nik, params = self.checked(recipient_nik, channel, template, params)
        session = self._session
        dialect = session.get_bind().dialect.name
        if idempotency_key and dialect in _UPSERTS and self._faults.quiet(self.source, recipient_nik):
            # No fault can apply: one round trip for a new key (the INSERT that skips a used key);
            # a used key is then read, as below.
            inserted = session.execute(
                _UPSERTS[dialect],
                {
                    "recipient_nik": recipient_nik,
                    "channel": channel,
                    "template": template,
                    "params": params,
                    "sent_at": self._clock(),
                    "idempotency_key": idempotency_key,
                },
            ).scalar()
            if inserted is None:
                inserted = session.execute(_OUTBOX_BY_KEY, {"key": idempotency_key}).scalar()
            return str(inserted)
        if idempotency_key:
            known = self._session.execute(_OUTBOX_BY_KEY, {"key": idempotency_key}).scalar()
            if known is not None:
                return str(known)
        if self._faults.before_call(self.source, recipient_nik):
            # A garbled acknowledgement: the message may or may not have gone; nothing is stored.
            raise MalformedResponse(self.source, "sandbox: acknowledgement without a message id")
        result = cast(
            CursorResult,
            session.execute(
                _INSERT_OUTBOX,
                {
                    "recipient_nik": recipient_nik,
                    "channel": channel,
                    "template": template,
                    "params": params,
                    "sent_at": self._clock(),
                    "idempotency_key": idempotency_key or None,
                },
            ),
        )
        key = result.inserted_primary_key
        assert key is not None  # a single-row INSERT has one
        return str(key[0])

    def send_many(self, messages: list[tuple]) -> list[str]:
        """Send many messages; when every one has a key and no fault can apply, with one multi-row INSERT
        that skips the keys already used (and one query for the ids), else one by one as ``send``."""
        session = self._session
        dialect = session.get_bind().dialect.name
        if not messages:
            return []
        if dialect not in _UPSERTS or not all(
            m[4] and self._faults.quiet(self.source, str(m[0]).strip()) for m in messages
        ):
            return super().send_many(messages)
        rows, keys = [], []
        # Checked as `send` checks each message, once per distinct recipient and parameters object: a cycle's
        # notices repeat both (two channels per family, one parameters dict per amount and channel).
        niks: dict[str, str] = {}
        params_seen: dict[int, tuple] = {}
        now = self._clock()
        for nik, channel, template, params, key in messages:
            seen = params_seen.get(id(params))
            if seen is None or seen[0] is not params:
                _nik, kept = self.checked(nik, channel, template, params)
                niks.setdefault(str(nik), _nik)
                seen = params_seen[id(params)] = (params, kept)
            else:
                Notifier.checked_head(channel, template)
            valid = niks.get(str(nik))
            if valid is None:
                valid = niks[str(nik)] = validate_nik(nik)
            rows.append(
                {
                    "recipient_nik": valid,
                    "channel": channel,
                    "template": template,
                    "params": seen[1],
                    "sent_at": now,
                    "idempotency_key": key,
                }
            )
            keys.append(key)
        session.execute(_SKIP_USED_KEYS[dialect], rows)
        ids: dict[str, int] = {}
        if dialect == "postgresql":  # one statement for every key (an array parameter: no query per 1,000 keys)
            ids.update(session.execute(_OUTBOX_IDS_BY_KEYS, {"keys": keys}).all())
        else:
            for start in range(0, len(keys), 1000):
                ids.update(
                    session.execute(
                        select(t.outbox.c.idempotency_key, t.outbox.c.id).where(
                            t.outbox.c.idempotency_key.in_(keys[start : start + 1000])
                        )
                    ).all()
                )
        return [str(ids[key]) for key in keys]

    def outbox(self, recipient_nik: str) -> list[dict]:
        """Return the messages sent to this person, oldest first."""
        rows = self._session.execute(
            select(t.outbox).where(t.outbox.c.recipient_nik == str(recipient_nik).strip()).order_by(t.outbox.c.id)
        ).all()
        return [
            {
                "message_id": str(r.id),
                "recipient_nik": r.recipient_nik,
                "channel": r.channel,
                "template": r.template,
                "params": r.params,
                "sent_at": as_utc(r.sent_at),
            }
            for r in rows
        ]
