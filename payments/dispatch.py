"""Dispatch over HTTP: send a cycle's batches to the banks that take them by API; take their callbacks.

A channel is dispatched by file (the officer downloads the batch file) unless
`BANSOS_PAYMENT_CHANNELS` names it with a base URL: then the cycle's `record_dispatch` step sends its
batch over HTTP (`integrations/http/paying_bank.py`), in parts, each payment under its own reference.
Sending again is always safe: the bank pays each reference once. Results come back as signed
callbacks (`POST /api/payments/callback`), matched, refused line by line and reconciled by the same
code as results files (`results.check_result`, `results.take_results`).
"""

from __future__ import annotations

import hashlib
import json
import time

from sqlalchemy import select, update

from engine.errors import EngineError

from .bankfile import bank_name, batch_of
from .models import BatchStatus, CycleMember, Payment, PaymentBatch, PaymentResultImport
from .results import advance_if_reconciled, check_result, take_results

MAX_CALLBACK_BYTES = 10 * 1024 * 1024
MAX_CALLBACK_RESULTS = 20000


MIN_SECRET_LENGTH = 16


class CallbackRefused(EngineError):
    """A callback not taken at all: unsigned, badly signed, stale, replayed, or not about a sent batch."""

    code = "PAYMENT_CALLBACK_REFUSED"

    def __init__(self, message, reason, status, detail=None):
        super().__init__(message, reason=reason)
        self.reason, self.status, self.detail = reason, status, detail or {}


def http_channels(settings):
    """{channel: base URL} of the channels dispatched over HTTP; raise ValueError on a bad setting."""
    value = settings.get("BANSOS_PAYMENT_CHANNELS") or {}
    if not isinstance(value, dict):
        raise ValueError("BANSOS_PAYMENT_CHANNELS must map a channel to 'file' or to its API base URL")
    from .cycles import BANK_CHANNELS, POS

    out = {}
    for channel, target in value.items():
        if channel not in (*BANK_CHANNELS, POS):
            raise ValueError(f"BANSOS_PAYMENT_CHANNELS names an unknown channel {channel!r}")
        if target == "file":
            continue
        if not isinstance(target, str) or not target.startswith(("http://", "https://")):
            raise ValueError(f"BANSOS_PAYMENT_CHANNELS[{channel!r}] must be 'file' or an http(s) URL, got {target!r}")
        out[channel] = target
    return out


def callback_secrets(settings):
    """{channel: (current secret, previous secret or None)} of the callbacks' signatures; ValueError on a bad setting.

    `BANSOS_PAYMENT_CALLBACK_SECRETS`: {"BRI": "<secret>", "BNI": {"current": "<new>", "previous": "<old>"}}.
    Each paying channel signs with its own secret (the previous one is still taken while the bank rotates);
    no two channels may share one, so a signature always tells which channel's bank made it.
    """
    if settings.get("BANSOS_PAYMENT_CALLBACK_SECRET"):
        raise ValueError(
            "BANSOS_PAYMENT_CALLBACK_SECRET (one secret for every bank) is replaced by "
            "BANSOS_PAYMENT_CALLBACK_SECRETS, one secret per paying channel (docs/payments.md)"
        )
    value = settings.get("BANSOS_PAYMENT_CALLBACK_SECRETS") or {}
    if not isinstance(value, dict):
        raise ValueError("BANSOS_PAYMENT_CALLBACK_SECRETS must map a paying channel to its secret")
    from .cycles import BANK_CHANNELS, POS

    out, seen = {}, set()
    for channel, entry in value.items():
        if channel not in (*BANK_CHANNELS, POS):
            raise ValueError(f"BANSOS_PAYMENT_CALLBACK_SECRETS names an unknown channel {channel!r}")
        if isinstance(entry, str):
            entry = {"current": entry}
        if not isinstance(entry, dict) or set(entry) - {"current", "previous"}:
            raise ValueError(
                f'BANSOS_PAYMENT_CALLBACK_SECRETS[{channel!r}] must be a secret or {{"current": ..., "previous": ...}}'
            )
        current, previous = entry.get("current") or "", entry.get("previous") or None
        for secret in (current, previous):
            if secret is None:
                continue
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"BANSOS_PAYMENT_CALLBACK_SECRETS[{channel!r}]: a secret needs at least "
                    f"{MIN_SECRET_LENGTH} characters"
                )
            if secret in seen:
                raise ValueError(
                    "BANSOS_PAYMENT_CALLBACK_SECRETS: each channel needs its own secret "
                    f"({channel!r} shares one with another channel or with itself)"
                )
            seen.add(secret)
        out[channel] = (current, previous)
    return out


def build_bank(settings, url):
    """The HTTP client of one channel, with the shared BANSOS_HTTP_* policy."""
    from integrations.http.client import HttpPolicy
    from integrations.http.paying_bank import HttpPayingBank

    return HttpPayingBank(url, HttpPolicy.from_settings(settings))


def _parts(session, batch_id, size, after=None):
    query = (
        select(Payment.reference, CycleMember.nik, CycleMember.name, Payment.account, Payment.amount)
        .join(CycleMember, CycleMember.id == Payment.member_id)
        .where(Payment.batch_id == batch_id, Payment.attempt == 1)
        .order_by(Payment.reference)
        .execution_options(yield_per=5000)
    )
    if after is not None:
        query = query.where(Payment.reference > after)
    part = []
    result = session.execute(query)
    try:
        for reference, nik, name, account, amount in result:
            part.append(
                {
                    "reference": reference,
                    "nik": nik,
                    "name": bank_name(name),
                    "account": account or None,
                    "amount": int(amount),
                }
            )
            if len(part) >= size:
                yield part
                part = []
        if part:
            yield part
    finally:
        result.close()  # a server-side cursor on PostgreSQL: closed even when a part fails


def _part_taken(session, batch_id, parts, through):
    """Remember that the bank took the batch's parts through payment reference `through`, committed now.

    On PostgreSQL on a connection of its own, so the mark outlives a crash of the step (whose own transaction
    is lost): the step run again goes on after it. On SQLite (one writer: the step's transaction) in the
    step's transaction; the step run again sends the parts again, which the bank answers with its receipts.
    """
    statement = (
        update(PaymentBatch)
        .where(PaymentBatch.id == batch_id)
        .values(sent_parts=parts, sent_through=through)
        .execution_options(synchronize_session=False)
    )
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        from sqlalchemy import text
        from sqlalchemy.exc import OperationalError

        with bind.engine.connect() as conn:
            try:
                # The step's own transaction may hold the row (it wrote the batch before): never wait for it.
                conn.execute(text("SET LOCAL lock_timeout = '500ms'"))
                conn.execute(statement)
                conn.commit()
                return
            except OperationalError:
                conn.rollback()
    session.execute(statement)


def send_batches(session, cycle_id, settings, banks=None):
    """Send every batch of the cycle whose channel takes HTTP; return [{channel, sent, parts, resumed_after}].

    In parts of SEND_CHUNK payments in reference order, each part's receipt committed as it comes
    (`sent_parts`, `sent_through`): run again (the step retried after a timeout, or after its worker was
    killed) it goes on after the last part taken. Sending a part again is safe anyway: each part carries
    the same references, and the bank answers a part it has with the first receipt (pays nobody twice).
    `banks` maps a channel to a client (tests); by default one is built from the settings.
    """
    from cases.audit import record
    from integrations.http.paying_bank import SEND_CHUNK

    channels = http_channels(settings)
    callback_url = settings.get("BANSOS_PAYMENT_CALLBACK_URL") or None
    out = []
    batches = session.execute(
        select(
            PaymentBatch.id,
            PaymentBatch.channel,
            PaymentBatch.reference,
            PaymentBatch.sent_parts,
            PaymentBatch.sent_through,
        )
        .where(PaymentBatch.cycle_id == cycle_id)
        .order_by(PaymentBatch.channel)
    ).all()
    for batch_id, channel, reference, done_parts, through in batches:
        if channel not in channels:
            continue
        bank = (banks or {}).get(channel) or build_bank(settings, channels[channel])
        resumed_after = done_parts or 0
        try:
            sent = parts = 0
            pending = _parts(session, batch_id, SEND_CHUNK, after=through)
            try:
                for part in pending:
                    receipt = bank.send_part({"reference": reference, "channel": channel}, part, callback_url)
                    sent += receipt.accepted
                    parts += 1
                    _part_taken(session, batch_id, resumed_after + parts, part[-1]["reference"])
            finally:
                pending.close()
        finally:
            if not banks:
                bank.close()
        batch = session.get(PaymentBatch, batch_id)
        session.refresh(batch)
        batch.downloaded_by = "http"  # how the batch left: by API, not as a downloaded file
        record(
            session,
            "system",
            "cycle.batch_sent",
            "payment_batch",
            reference,
            detail={
                "channel": channel,
                "sent": sent,
                "parts": parts,
                "resumed_after_parts": resumed_after,
                "count": batch.count,
                "total": batch.total,
            },
        )
        out.append({"channel": channel, "sent": sent, "parts": parts, "resumed_after": resumed_after})
    session.flush()
    return out


def verify_callback(settings, body, timestamp, signature, now=None):
    """Check a callback's signature and age; return (channel, "current" | "previous"): whose secret signed it.

    Raises CallbackRefused: 403 no secret configured, 401 unsigned or signed by no channel's secret, 403 stale.
    """
    from integrations.http.paying_bank import signature_ok

    secrets = callback_secrets(settings)
    if not secrets:
        raise CallbackRefused("callbacks are not configured (no channel has a secret)", "NOT_CONFIGURED", 403)
    if not timestamp or not signature or not timestamp.isdigit() or len(timestamp) > 12:
        raise CallbackRefused("the callback is not signed", "UNSIGNED", 401)
    signer = None
    for channel, (current, previous) in sorted(secrets.items()):  # every secret is tried: no early answer
        for kind, secret in (("current", current), ("previous", previous)):
            if secret and signature_ok(secret, timestamp, body, signature):
                signer = (channel, kind)
    if signer is None:
        raise CallbackRefused("the signature does not match", "BAD_SIGNATURE", 401)
    window = float(settings.get("BANSOS_PAYMENT_CALLBACK_WINDOW_SECONDS") or 300)
    if abs((now or time.time()) - int(timestamp)) > window:
        raise CallbackRefused(
            "the callback is older (or newer) than the replay window", "STALE", 403, {"signed_by": signer[0]}
        )
    return signer


def take_callback(engine, settings, body, timestamp, signature, now=None):
    """Verify and apply one bank callback; return its PaymentResultImport (lines taken or refused one by one).

    Raises CallbackRefused when nothing is taken: bad or missing signature, outside the replay window,
    the same signed callback again (a replay), not JSON of the documented shape, an unknown batch, a
    batch not sent. Each result line goes through the same checks as a results file's R line.
    """
    session = engine.session
    if len(body) > MAX_CALLBACK_BYTES:
        raise CallbackRefused("the callback is too large", "TOO_LARGE", 413)
    signer, secret_kind = verify_callback(settings, body, timestamp, signature, now)
    # A signed callback is taken once: the same timestamp and body again is a replay.
    digest = hashlib.sha256(timestamp.encode() + b"." + body).hexdigest()
    if session.scalar(select(PaymentResultImport.id).where(PaymentResultImport.file_sha256 == digest).limit(1)):
        raise CallbackRefused("this callback was received before", "REPLAY", 403)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CallbackRefused("the body is not JSON", "MALFORMED", 400) from exc
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("results"), list)
        or not isinstance(payload.get("batch"), str)
        or len(payload["results"]) > MAX_CALLBACK_RESULTS
    ):
        raise CallbackRefused("the body is not a results callback", "MALFORMED", 400)
    batch = batch_of(session, payload["batch"][:60])
    if batch is None:
        raise CallbackRefused("no such batch", "WRONG_BATCH", 404)
    if batch.channel != signer:  # one bank's secret never speaks for another bank's batch
        raise CallbackRefused(
            "the callback is signed with another channel's secret",
            "WRONG_CHANNEL",
            403,
            {"signed_by": signer, "batch": batch.reference, "batch_channel": batch.channel},
        )
    if batch.status not in (BatchStatus.DISPATCHED, BatchStatus.PARTIAL, BatchStatus.RECONCILED):
        raise CallbackRefused("the batch has not been sent", "NOT_DISPATCHED", 409)
    if secret_kind == "previous":  # the bank still signs with the secret being rotated out
        from cases.audit import record

        record(
            session,
            f"bank:{signer}",
            "cycle.callback_previous_secret",
            "payment_batch",
            batch.reference,
            detail={"channel": signer},
        )
    lines, refusals = [], []
    for number, item in enumerate(payload["results"], start=1):
        item = item if isinstance(item, dict) else {}
        amount = item.get("amount")
        fields = [
            item.get("reference"),
            str(amount) if isinstance(amount, int) and not isinstance(amount, bool) else "",
            item.get("status"),
            item.get("failure_code") or "",
            item.get("date"),
        ]
        fields = [f if isinstance(f, str) else "" for f in fields]
        checked = check_result(number, *fields)
        (refusals if isinstance(checked, dict) else lines).append(checked)
    callback_id = str(payload.get("callback_id") or "")[:100]
    row = PaymentResultImport(
        batch_id=batch.id,
        file_name=f"callback {callback_id}"[:200],
        file_sha256=digest,
        uploaded_by=f"bank:{batch.channel}",
        status="applied",
        refusals=[],
    )
    session.add(row)
    take_results(session, batch, row, lines, refusals, f"bank:{batch.channel}", "cycle.callback_taken")
    advance_if_reconciled(engine, batch)
    return row
