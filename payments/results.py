"""Results files from the paying banks and the post office: match, refuse line by line, reconcile.

Every line is matched to its payment by our reference. A line is refused, with its reason, when its
reference is unknown or belongs to another batch, when it repeats a reference of the same file, when
its amount is not the payment's amount, when it is malformed, or when it contradicts a result taken
before. Nothing is dropped silently: the refusals are kept with the import and can be downloaded as a
workbook. A file whose own control header disagrees with its lines, or that names another batch, is
refused whole. Partial results are normal; a batch is reconciled only when every payment has a result
and the results' count and total equal the batch's control totals.

The whole import is one transaction: a crash leaves nothing of it, and importing the same file again
changes nothing (a result already taken counts as repeated).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import func, select, update

from engine.db import utcnow
from engine.errors import EngineError

from .resultfile import REASONS as WORKBOOK_REASONS
from .resultfile import ResultsUnreadable, result_lines
from .models import Payment, PaymentBatch, PaymentCycle, PaymentResultImport

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_LISTED = 5000  # refusals kept with an import (all are counted)
CHUNK = 2000
FAILURE_CODES = ("ACCOUNT_CLOSED", "DORMANT", "NAME_MISMATCH", "NIK_MISMATCH", "OVER_LIMIT", "NOT_FOUND")
# Result status in the file -> payment status.
RESULT_STATUSES = {"CREDITED": "credited", "FAILED": "failed", "DRAWN": "drawn", "PAID": "drawn"}
# Which results may follow which payment status (a repeat of the same result is "repeated").
ALLOWED_FROM = {"sent": {"credited", "failed", "drawn"}, "credited": {"drawn"}}
REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,59}$")
AMOUNT = re.compile(r"^[0-9]{1,15}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Why a line or a file is refused: (Indonesian, English), shown in the error workbook and on the page.
REASONS = {
    "UNKNOWN_REFERENCE": ("Referensi tidak dikenal", "Unknown reference"),
    "OTHER_BATCH": ("Referensi milik batch lain", "The reference belongs to another batch"),
    "DUPLICATE": ("Referensi muncul lebih dari sekali dalam berkas", "The reference appears more than once in the file"),
    "AMOUNT_MISMATCH": ("Jumlah tidak sama dengan pembayaran", "The amount differs from the payment"),
    "MALFORMED": ("Baris tidak sesuai format", "The line does not follow the layout"),
    "BAD_STATUS": ("Status hasil tidak dikenal", "Unknown result status"),
    "BAD_FAILURE_CODE": ("Kode kegagalan tidak dikenal", "Unknown failure code"),
    "CONFLICT": ("Bertentangan dengan hasil yang sudah dicatat", "Contradicts a result recorded before"),
    "NOT_DISPATCHED": ("Batch belum dikirim", "The batch has not been sent"),
    "WRONG_BATCH": ("Berkas untuk batch lain", "The file is for another batch"),
    "NO_HEADER": ("Baris kontrol (H) tidak ada", "The control line (H) is missing"),
    "CONTROL_TOTALS": ("Jumlah baris atau total di baris kontrol tidak sesuai isi berkas",
                       "The control line's count or total does not match the file's lines"),
    "NOT_TEXT": ("Berkas bukan teks UTF-8", "The file is not UTF-8 text"),
    "TOO_LARGE": ("Berkas terlalu besar", "The file is too large"),
}
REASONS.update(WORKBOOK_REASONS)  # an Excel results file's own refusals


class ResultFileRefused(EngineError):
    """The results file itself is wrong (nothing taken); `import_row` records it."""

    code = "RESULT_FILE_REFUSED"


@dataclass
class _Line:
    number: int
    reference: str
    amount: int
    status: str
    failure: str | None
    day: str


def _refusal(number, reference, code):
    return {"line": number, "reference": (reference or "")[:60], "code": code}


def check_result(number, reference, amount, status, failure, day):
    """One result (from a file's R line or a bank's callback) as a _Line, or its refusal.

    The fields are text as in the file: `amount` digits, `failure` empty when there is none.
    """
    if not REFERENCE.match(reference) or not AMOUNT.match(amount) or not DAY.match(day):
        return _refusal(number, reference, "MALFORMED")
    taken = RESULT_STATUSES.get(status)
    if taken is None:
        return _refusal(number, reference, "BAD_STATUS")
    failure = failure or None
    if (taken == "failed") != (failure is not None) or (failure and failure not in FAILURE_CODES):
        return _refusal(number, reference, "BAD_FAILURE_CODE")
    return _Line(number, reference, int(amount), taken, failure, day)


def _parse(text):
    """(header fields, [_Line], [refusal]) of a results text; raise ResultFileRefused without a header."""
    lines, refusals = [], []
    header = None
    seen_count = seen_total = 0  # every result line and every readable amount: what the control line counts
    for number, raw in enumerate(text, start=1):
        raw = raw.rstrip("\r\n")
        if not raw.strip():
            continue
        parts = raw.split(",")
        if header is not None:
            seen_count += 1
            if len(parts) > 2 and AMOUNT.match(parts[2]):
                seen_total += int(parts[2])
        if header is None:
            if len(parts) != 4 or parts[0] != "H" or not AMOUNT.match(parts[2]) or not AMOUNT.match(parts[3]):
                raise ResultFileRefused("the first line is not a results control header", reason="NO_HEADER")
            header = {"batch": parts[1], "count": int(parts[2]), "total": int(parts[3])}
            continue
        if len(parts) != 6 or parts[0] != "R":
            refusals.append(_refusal(number, parts[1] if len(parts) > 1 else raw[:60], "MALFORMED"))
            continue
        checked = check_result(number, *parts[1:])
        (lines if isinstance(checked, _Line) else refusals).append(checked)
    if header is None:
        raise ResultFileRefused("the file has no control header", reason="NO_HEADER")
    return header, lines, refusals, seen_count, seen_total


def import_results(session, batch, data, file_name, actor):
    """Read a results file for `batch`; return the PaymentResultImport (refused whole, or applied line by line)."""
    from cases.audit import record

    digest = hashlib.sha256(data).hexdigest()
    row = PaymentResultImport(batch_id=batch.id, file_name=(file_name or "")[:200], file_sha256=digest,
                              uploaded_by=actor.id, status="applied", refusals=[])
    session.add(row)
    try:
        if len(data) > MAX_FILE_BYTES:
            raise ResultFileRefused("the file is too large", reason="TOO_LARGE")
        if batch.status not in ("dispatched", "partial", "reconciled"):
            raise ResultFileRefused("the batch has not been sent", reason="NOT_DISPATCHED")
        try:  # CSV text, or an Excel workbook's rows as the same lines (payments/resultfile.py)
            text = result_lines(data, file_name)
        except ResultsUnreadable as exc:
            raise ResultFileRefused(str(exc), reason=exc.reason) from exc
        header, lines, refusals, seen_count, seen_total = _parse(text)
        if header["batch"] != batch.reference:
            raise ResultFileRefused(f"the file is for batch {header['batch'][:60]}", reason="WRONG_BATCH")
        # The file's own control line must agree with its lines (every result line, good or refused).
        if (header["count"], header["total"]) != (seen_count, seen_total):
            raise ResultFileRefused("the control line does not match the file's lines", reason="CONTROL_TOTALS")
    except ResultFileRefused as exc:
        row.status = "refused"
        row.refusals = [{"line": 0, "reference": "", "code": exc.details.get("reason", "MALFORMED")}]
        row.refused = 1
        session.flush()
        record(session, actor, "cycle.results_refused", "payment_batch", batch.reference,
               detail={"file": row.file_name, "sha256": digest, "reason": row.refusals[0]["code"]})
        return row
    take_results(session, batch, row, lines, refusals, actor, "cycle.results_imported")
    return row


def take_results(session, batch, row, lines, refusals, actor, action):
    """Match checked result lines to the batch's payments, take the good ones, reconcile, audit.

    The one path for results files and bank callbacks: `lines` are _Line (from `check_result`),
    `refusals` the lines already refused; `row` (a PaymentResultImport) gets the counts and refusals.
    """
    from cases.audit import record

    accepted, repeated = _apply(session, batch, lines, refusals)
    row.lines = len(lines) + len(refusals)
    row.accepted, row.repeated, row.refused = accepted, repeated, len(refusals)
    row.refusals = sorted(refusals, key=lambda r: r["line"])[:MAX_LISTED]
    reconciled = reconcile(session, batch)
    session.flush()
    record(session, actor, action, "payment_batch", batch.reference,
           detail={"file": row.file_name, "sha256": row.file_sha256, "accepted": accepted, "repeated": repeated,
                   "refused": len(refusals), "batch_status": batch.status, "reconciled": reconciled})
    return row


def _apply(session, batch, lines, refusals):
    """Match lines to payments in chunks; take the good ones; return (accepted, repeated)."""
    seen, accepted, repeated = set(), 0, 0
    now = utcnow()
    for start in range(0, len(lines), CHUNK):
        chunk = lines[start:start + CHUNK]
        found = {p.reference: p for p in session.execute(
            select(Payment.id, Payment.reference, Payment.batch_id, Payment.amount, Payment.status)
            .where(Payment.reference.in_({x.reference for x in chunk})))}
        changes = []
        for line in chunk:
            payment = found.get(line.reference)
            if line.reference in seen:
                refusals.append(_refusal(line.number, line.reference, "DUPLICATE"))
                continue
            seen.add(line.reference)
            if payment is None:
                refusals.append(_refusal(line.number, line.reference, "UNKNOWN_REFERENCE"))
            elif payment.batch_id != batch.id:
                refusals.append(_refusal(line.number, line.reference, "OTHER_BATCH"))
            elif payment.amount != line.amount:
                refusals.append(_refusal(line.number, line.reference, "AMOUNT_MISMATCH"))
            elif payment.status == line.status:
                repeated += 1
            elif line.status not in ALLOWED_FROM.get(payment.status, ()):
                refusals.append(_refusal(line.number, line.reference, "CONFLICT"))
            else:
                values = {"id": payment.id, "status": line.status, "result_at": now}
                if line.status == "failed":
                    values["result_code"] = line.failure
                if line.status == "drawn":
                    values["drawn_at"] = now
                changes.append(values)
                accepted += 1
        if changes:
            for values in changes:  # one statement per shape (executemany)
                values.setdefault("result_code", None)
                values.setdefault("drawn_at", None)
            session.execute(update(Payment), changes)
    return accepted, repeated


def reconcile(session, batch):
    """Mark the batch partial or reconciled; True when this import reconciled it.

    Reconciled: no payment of the batch is still waiting for a result, and the count and sum of the
    payments with a result equal the batch's control count and total.
    """
    waiting = session.scalar(select(func.count()).where(Payment.batch_id == batch.id, Payment.status == "sent"))
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(Payment.amount), 0))
                                   .where(Payment.batch_id == batch.id,
                                          Payment.status.in_(("credited", "failed", "drawn")))).one()
    batch.results_count = int(count)
    if batch.status == "reconciled":
        return False
    if waiting == 0 and int(count) == batch.count and int(total) == batch.total:
        batch.status, batch.reconciled_at = "reconciled", utcnow()
        return True
    if count:
        batch.status = "partial"
    return False


def cycle_reconciled(session, cycle_id):
    """True when every batch of the cycle is reconciled."""
    open_batches = session.scalar(select(func.count()).where(PaymentBatch.cycle_id == cycle_id,
                                                             PaymentBatch.status != "reconciled"))
    return open_batches == 0


def _rupiah(amount):
    return "Rp " + f"{int(amount):,}".replace(",", ".")


def notify_paid(session, notifier, cycle_id):
    """Tell each family of the cycle whose money was credited or paid out (SMS and portal), once; return how many.

    A step of the cycle's process (on a worker in celery mode), not of the results upload: one message
    per family would make an upload of 150,000 lines take minutes. The idempotency key is the payment's
    reference: the step run again after a crash sends nothing twice.
    """
    from .models import CycleMember

    cycle = session.get(PaymentCycle, cycle_id)
    query = (select(Payment.id, Payment.reference, Payment.amount, Payment.channel, CycleMember.nik)
             .join(CycleMember, CycleMember.id == Payment.member_id)
             .where(Payment.cycle_id == cycle.id, Payment.status.in_(("credited", "drawn")),
                    Payment.notified_at.is_(None)))
    told = []
    for payment_id, reference, amount, channel, nik in session.execute(query).all():
        params = {"programme": cycle.programme, "cycle": cycle.code, "amount": _rupiah(amount), "channel": channel}
        for medium in ("SMS", "PORTAL"):
            notifier.send(nik, medium, "payment_paid", params, idempotency_key=f"payment:{reference}:paid:{medium}")
        told.append(payment_id)
    now = utcnow()
    for start in range(0, len(told), CHUNK):
        session.execute(update(Payment).where(Payment.id.in_(told[start:start + CHUNK])).values(notified_at=now)
                        .execution_options(synchronize_session=False))
    return len(told)


def import_and_advance(engine, batch, data, file_name, actor):
    """Import a results file; when it completes the cycle's reconciliation, the cycle's process moves on (and
    its next step tells the families paid)."""
    row = import_results(engine.session, batch, data, file_name, actor)
    if row.status == "applied":
        advance_if_reconciled(engine, batch)
    return row


def advance_if_reconciled(engine, batch):
    """When the batch's results complete the cycle's reconciliation, the cycle's process moves on."""
    from .cycles import business_key

    session = engine.session
    cycle = session.get(PaymentCycle, batch.cycle_id)
    if cycle.status == "dispatched" and cycle_reconciled(session, cycle.id):
        engine.send_message(business_key(cycle.code), "cycle_reconciled", {"cycle_id": cycle.id})
        return True
    return False


def error_workbook(row, out):
    """Write the refused lines of an import as an Excel workbook (Indonesian, then English)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Ditolak")
    sheet.append(["baris / line", "referensi / reference", "kode / code", "alasan", "reason"])
    for refusal in row.refusals or []:
        text_id, text_en = REASONS.get(refusal["code"], (refusal["code"], refusal["code"]))
        # A reference from an outside file is data, never a formula: written as text with a leading quote off.
        reference = refusal["reference"]
        if reference[:1] in ("=", "+", "-", "@"):
            reference = "'" + reference
        sheet.append([refusal["line"], reference, refusal["code"], text_id, text_en])
    if row.refused > len(row.refusals or []):
        sheet.append(["", "", "", f"... dan {row.refused - len(row.refusals)} baris lain",
                      f"... and {row.refused - len(row.refusals)} more lines"])
    book.save(out)
