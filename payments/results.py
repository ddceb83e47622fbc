"""Results files from the paying banks and the post office: match, refuse line by line, reconcile.

Every line is matched to its payment by our reference. A line is refused, with its reason, when its
reference is unknown or belongs to another batch, when it repeats a reference of the same file, when
its amount is not the payment's amount, when it is malformed, or when it contradicts a result taken
before. Nothing is dropped silently: the refusals are kept with the import and can be downloaded as a
workbook. A file whose own control header disagrees with its lines, or that names another batch, is
refused whole. Partial results are normal; a batch is reconciled only when every payment has a result
and the results' count and total equal the batch's control totals.

An upload is checked whole and staged, then taken in chunks of ITEM_LINES lines, each chunk one
transaction (a tracked run, payments/runs.py): a crash loses one chunk's work at most, and the run takes
that chunk again. Importing the same file again changes nothing (a result already taken counts as repeated).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, exists, func, insert, literal, null, or_, select, update

from engine.db import utcnow
from engine.errors import EngineError
from integrations.notify import APPLICANT_CHANNELS

from .models import (
    BatchStatus,
    CycleStatus,
    Payment,
    PaymentBatch,
    PaymentCycle,
    PaymentResultImport,
    PaymentStatus,
    ResultImportStatus,
)
from .resultfile import REASONS as WORKBOOK_REASONS
from .resultfile import ResultsUnreadable, result_lines

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_LISTED = 5000  # refusals kept with an import (all are counted)
CHUNK = 2000
FAILURE_CODES = ("ACCOUNT_CLOSED", "DORMANT", "NAME_MISMATCH", "NIK_MISMATCH", "OVER_LIMIT", "NOT_FOUND")
# Result status in the file -> payment status.
RESULT_STATUSES = {
    "CREDITED": PaymentStatus.CREDITED,
    "FAILED": PaymentStatus.FAILED,
    "DRAWN": PaymentStatus.DRAWN,
    "PAID": PaymentStatus.DRAWN,
}
# Which results may follow which payment status (a repeat of the same result is "repeated").
ALLOWED_FROM = {
    PaymentStatus.SENT: {PaymentStatus.CREDITED, PaymentStatus.FAILED, PaymentStatus.DRAWN},
    PaymentStatus.CREDITED: {PaymentStatus.DRAWN},
}
REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,59}$")
AMOUNT = re.compile(r"^[0-9]{1,15}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Why a line or a file is refused: (Indonesian, English), shown in the error workbook and on the page.
REASONS = {
    "UNKNOWN_REFERENCE": ("Referensi tidak dikenal", "Unknown reference"),
    "OTHER_BATCH": ("Referensi milik batch lain", "The reference belongs to another batch"),
    "DUPLICATE": (
        "Referensi muncul lebih dari sekali dalam berkas",
        "The reference appears more than once in the file",
    ),
    "AMOUNT_MISMATCH": ("Jumlah tidak sama dengan pembayaran", "The amount differs from the payment"),
    "MALFORMED": ("Baris tidak sesuai format", "The line does not follow the layout"),
    "BAD_STATUS": ("Status hasil tidak dikenal", "Unknown result status"),
    "BAD_FAILURE_CODE": ("Kode kegagalan tidak dikenal", "Unknown failure code"),
    "CONFLICT": ("Bertentangan dengan hasil yang sudah dicatat", "Contradicts a result recorded before"),
    "NOT_DISPATCHED": ("Batch belum dikirim", "The batch has not been sent"),
    "WRONG_BATCH": ("Berkas untuk batch lain", "The file is for another batch"),
    "NO_HEADER": ("Baris kontrol (H) tidak ada", "The control line (H) is missing"),
    "CONTROL_TOTALS": (
        "Jumlah baris atau total di baris kontrol tidak sesuai isi berkas",
        "The control line's count or total does not match the file's lines",
    ),
    "NOT_TEXT": ("Berkas bukan teks UTF-8", "The file is not UTF-8 text"),
    "TOO_LARGE": ("Berkas terlalu besar", "The file is too large"),
    "NOT_STORED": (
        "Berkas yang diunggah tidak ditemukan lagi di server; unggah kembali",
        "The uploaded file is no longer on the server; upload it again",
    ),
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


def read_results(text):
    """The row stream of a results text: yield ("header", fields) once, then (number, checked) per result line.

    `checked` is a _Line or a refusal dict. Raise ResultFileRefused when the first line is not a control header.
    Streamed: no list of every line is built (a results file may have 150,000 lines).
    """
    header = None
    for number, raw in enumerate(text, start=1):
        raw = raw.rstrip("\r\n")
        if not raw.strip():
            continue
        parts = raw.split(",")
        if header is None:
            if len(parts) != 4 or parts[0] != "H" or not AMOUNT.match(parts[2]) or not AMOUNT.match(parts[3]):
                raise ResultFileRefused("the first line is not a results control header", reason="NO_HEADER")
            header = {"batch": parts[1], "count": int(parts[2]), "total": int(parts[3])}
            yield "header", header
            continue
        # What the control line counts: every result line, and every readable amount.
        counted = int(parts[2]) if len(parts) > 2 and AMOUNT.match(parts[2]) else 0
        if len(parts) != 6 or parts[0] != "R":
            yield number, (_refusal(number, parts[1] if len(parts) > 1 else raw[:60], "MALFORMED"), counted)
            continue
        yield number, (check_result(number, *parts[1:]), counted)
    if header is None:
        raise ResultFileRefused("the file has no control header", reason="NO_HEADER")


def _parse(text):
    """(header fields, [_Line], [refusal], count, total) of a results text (small texts; see read_results)."""
    lines, refusals = [], []
    header, seen_count, seen_total = None, 0, 0
    for number, item in read_results(text):
        if number == "header":
            header = item
            continue
        checked, counted = item
        seen_count += 1
        seen_total += counted
        (lines if isinstance(checked, _Line) else refusals).append(checked)
    return header, lines, refusals, seen_count, seen_total


# --- staging and taking in chunks -------------------------------------------------------------------
#
# An import is staged first (payment_result_lines, one row per result line, in the request's transaction),
# then taken in chunks of ITEM_LINES lines, each chunk one transaction: a tracked run (engine/runs.py, kind
# "payment_results") on the workers in celery mode, in process otherwise. A chunk classifies its lines and
# updates the payments with two set-based statements; a chunk taken again finds its lines classified and
# does nothing. The last chunk taken (under the import row's lock) counts, reconciles and audits, once.

ITEM_LINES = 5000
STAGE_ROWS = 5000
STAGED = ("import_id", "line", "reference", "amount", "status", "failure", "outcome")
RUN_KIND = "payment_results"
TAKEN = ("ACCEPTED", "REPEATED")


class _Stager:
    """Writes staged lines in batches of STAGE_ROWS; DUPLICATE for a reference seen earlier in the import."""

    def __init__(self, session, import_id):
        self.session, self.import_id = session, import_id
        self.rows, self.seen, self.count = [], set(), 0

    def add(self, checked):
        from .models import PaymentResultLine  # noqa: F401

        if isinstance(checked, _Line):
            if checked.reference in self.seen:
                row = self._row(checked.number, checked.reference, "DUPLICATE")
            else:
                self.seen.add(checked.reference)
                row = {
                    "import_id": self.import_id,
                    "line": checked.number,
                    "reference": checked.reference,
                    "amount": checked.amount,
                    "status": checked.status,
                    "failure": checked.failure,
                    "outcome": None,
                }
        else:
            row = self._row(checked["line"], checked["reference"], checked["code"])
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= STAGE_ROWS:
            self.flush()

    def _row(self, number, reference, code):
        return {
            "import_id": self.import_id,
            "line": number,
            "reference": (reference or "")[:60],
            "amount": None,
            "status": None,
            "failure": None,
            "outcome": code,
        }

    def flush(self):
        from .models import PaymentResultLine

        if not self.rows:
            return
        connection = self.session.connection()
        if connection.dialect.name == "postgresql":
            # COPY, in the session's transaction: psycopg's executemany sends a statement per row and a multi-row
            # VALUES costs more to compile than to run (150,000 lines: minutes, against seconds).
            with connection.connection.driver_connection.cursor() as cursor:
                with cursor.copy(f"COPY {PaymentResultLine.__tablename__} ({', '.join(STAGED)}) FROM STDIN") as copy:
                    for row in self.rows:
                        copy.write_row([row[name] for name in STAGED])
        else:
            connection.execute(insert(PaymentResultLine.__table__), self.rows)
        self.rows = []


def stage_results(session, batch, data, file_name, actor, row=None, progress=None):
    """Check a results file whole and stage its lines; return the PaymentResultImport.

    Its status is "refused" (the file itself is wrong: nothing staged, audited) or "importing" (its lines
    are staged, none taken yet: `take_lines` and `finish_import` do that). `row`: the import of a file
    received before (status "received", `receive_results`); without it a new one. `progress(lines)` is
    told the lines read so far every STAGE_ROWS lines. The file's control line is kept on the row as
    `control` ({"count", "total"}; not a column) for whoever shows the outcome.
    """
    from cases.audit import record

    from .models import PaymentResultLine

    digest = hashlib.sha256(data).hexdigest()
    if row is None:
        row = PaymentResultImport(
            batch_id=batch.id,
            file_name=(file_name or "")[:200],
            file_sha256=digest,
            uploaded_by=getattr(actor, "id", actor),
            status=ResultImportStatus.IMPORTING,
            refusals=[],
        )
        session.add(row)
    row.status = ResultImportStatus.IMPORTING
    session.flush()
    try:
        if len(data) > MAX_FILE_BYTES:
            raise ResultFileRefused("the file is too large", reason="TOO_LARGE")
        if batch.status not in (BatchStatus.DISPATCHED, BatchStatus.PARTIAL, BatchStatus.RECONCILED):
            raise ResultFileRefused("the batch has not been sent", reason="NOT_DISPATCHED")
        try:  # CSV text, or an Excel workbook's rows as the same lines (payments/resultfile.py)
            text = result_lines(data, file_name)
        except ResultsUnreadable as exc:
            raise ResultFileRefused(str(exc), reason=exc.reason) from exc
        stager = _Stager(session, row.id)
        header, seen_count, seen_total = None, 0, 0
        try:
            for number, item in read_results(text):
                if number == "header":
                    header = item
                    if header["batch"] != batch.reference:
                        raise ResultFileRefused(f"the file is for batch {header['batch'][:60]}", reason="WRONG_BATCH")
                    continue
                checked, counted = item
                seen_count += 1
                seen_total += counted
                stager.add(checked)
                if progress is not None and seen_count % STAGE_ROWS == 0:
                    progress(seen_count)
            # The file's own control line must agree with its lines (every result line, good or refused).
            if (header["count"], header["total"]) != (seen_count, seen_total):
                raise ResultFileRefused("the control line does not match the file's lines", reason="CONTROL_TOTALS")
            stager.flush()
            row.control = {"count": header["count"], "total": header["total"]}
        except ResultFileRefused:
            stager.rows = []
            session.execute(delete(PaymentResultLine).where(PaymentResultLine.import_id == row.id))
            raise
    except ResultFileRefused as exc:
        row.status = ResultImportStatus.REFUSED
        row.refusals = [{"line": 0, "reference": "", "code": exc.details.get("reason", "MALFORMED")}]
        row.refused = 1
        session.flush()
        record(
            session,
            actor,
            "cycle.results_refused",
            "payment_batch",
            batch.reference,
            detail={"file": row.file_name, "sha256": digest, "reason": row.refusals[0]["code"]},
        )
        return row
    row.lines = stager.count
    session.flush()
    return row


def line_ranges(session, import_id, size=None):
    """[(first, last)] line numbers of the staged import, about `size` (ITEM_LINES) lines each."""
    from .models import PaymentResultLine

    size = size or ITEM_LINES
    first, last = session.execute(
        select(func.min(PaymentResultLine.line), func.max(PaymentResultLine.line)).where(
            PaymentResultLine.import_id == import_id
        )
    ).one()
    if first is None:
        return []
    return [(start, min(start + size - 1, last)) for start in range(first, last + 1, size)]


def take_lines(session, row, batch, first, last):
    """Take the staged lines first..last of an import: classify them and update their payments (two statements).

    Lines classified before (a chunk taken again) are left alone; a payment only moves along ALLOWED_FROM.
    """
    from .models import PaymentResultLine

    lines = PaymentResultLine.__table__
    payments = Payment.__table__

    def of_payment(column):
        return select(column).where(payments.c.reference == lines.c.reference).scalar_subquery()

    status = of_payment(payments.c.status)
    allowed = or_(
        *[and_(status == before, lines.c.status.in_(sorted(after))) for before, after in ALLOWED_FROM.items()]
    )
    outcome = case(
        (~exists().where(payments.c.reference == lines.c.reference), literal("UNKNOWN_REFERENCE")),
        (func.coalesce(of_payment(payments.c.batch_id), -1) != batch.id, literal("OTHER_BATCH")),
        (of_payment(payments.c.amount) != lines.c.amount, literal("AMOUNT_MISMATCH")),
        (status == lines.c.status, literal("REPEATED")),
        (allowed, literal("ACCEPTED")),
        else_=literal("CONFLICT"),
    )
    in_range = (lines.c.import_id == row.id, lines.c.line.between(first, last))
    session.execute(
        update(lines)
        .where(*in_range, lines.c.outcome.is_(None))
        .values(outcome=outcome)
        .execution_options(synchronize_session=False)
    )
    now = utcnow()
    stamp = literal(now, Payment.__table__.c.drawn_at.type)
    session.execute(
        update(payments)
        .where(
            payments.c.reference == lines.c.reference,
            *in_range,
            lines.c.outcome == "ACCEPTED",
            payments.c.batch_id == batch.id,
            payments.c.status != lines.c.status,
            payments.c.status.in_(sorted(ALLOWED_FROM)),
        )
        .values(
            status=lines.c.status,
            result_code=lines.c.failure,
            result_at=now,
            drawn_at=case((lines.c.status == PaymentStatus.DRAWN, stamp), else_=null()),
        )
        .execution_options(synchronize_session=False)
    )


def finish_import(session, row, batch, actor, action="cycle.results_imported"):
    """Once every staged line is taken: the import's counts and refusals, the batch's reconciliation, the audit.

    Returns True when it finished the import now (False: lines still wait, or finished before). The import
    row is locked first, so of two chunks ending at once the later one finishes, once.
    """
    from cases.audit import record

    from .models import PaymentResultLine

    session.flush()
    query = (
        select(PaymentResultImport)
        .where(PaymentResultImport.id == row.id)
        .execution_options(populate_existing=True)
        .with_for_update()
    )
    row = session.scalars(query).one()
    if row.status != ResultImportStatus.IMPORTING:
        return False
    lines = (PaymentResultLine.import_id == row.id,)
    if (
        session.scalar(select(PaymentResultLine.line).where(*lines, PaymentResultLine.outcome.is_(None)).limit(1))
        is not None
    ):
        return False
    counts = dict(
        session.execute(
            select(PaymentResultLine.outcome, func.count()).where(*lines).group_by(PaymentResultLine.outcome)
        ).all()
    )
    row.lines = sum(counts.values())
    row.accepted, row.repeated = counts.get("ACCEPTED", 0), counts.get("REPEATED", 0)
    row.refused = row.lines - row.accepted - row.repeated
    row.refusals = [
        _refusal(n, r, c)
        for n, r, c in session.execute(
            select(PaymentResultLine.line, PaymentResultLine.reference, PaymentResultLine.outcome)
            .where(*lines, PaymentResultLine.outcome.notin_(TAKEN))
            .order_by(PaymentResultLine.line)
            .limit(MAX_LISTED)
        )
    ]
    row.status = ResultImportStatus.APPLIED
    reconciled = reconcile(session, batch)
    session.flush()
    record(
        session,
        actor,
        action,
        "payment_batch",
        batch.reference,
        detail={
            "file": row.file_name,
            "sha256": row.file_sha256,
            "accepted": row.accepted,
            "repeated": row.repeated,
            "refused": row.refused,
            "batch_status": batch.status,
            "reconciled": reconciled,
        },
    )
    return True


def import_results(session, batch, data, file_name, actor):
    """Read a results file for `batch` and take it whole in the caller's transaction; return the import row.

    (The upload takes it in chunks instead: `import_and_advance`.)
    """
    row = stage_results(session, batch, data, file_name, actor)
    if row.status == ResultImportStatus.IMPORTING:
        for first, last in line_ranges(session, row.id):
            take_lines(session, row, batch, first, last)
        finish_import(session, row, batch, actor)
    return row


def take_results(session, batch, row, lines, refusals, actor, action):
    """Match checked result lines to the batch's payments, take the good ones, reconcile, audit.

    The path of bank callbacks (at most MAX_CALLBACK_RESULTS lines, one transaction): `lines` are _Line (from
    `check_result`), `refusals` the lines already refused; `row` (a PaymentResultImport) gets the counts and
    refusals. The lines are staged and taken by the same statements as a results file's.
    """
    row.status = ResultImportStatus.IMPORTING
    session.add(row)
    session.flush()
    stager = _Stager(session, row.id)
    for checked in sorted([*lines, *refusals], key=lambda x: x.number if isinstance(x, _Line) else x["line"]):
        stager.add(checked)
    stager.flush()
    for first, last in line_ranges(session, row.id):
        take_lines(session, row, batch, first, last)
    finish_import(session, row, batch, actor, action)
    return row


def reconcile(session, batch):
    """Mark the batch partial or reconciled; True when this import reconciled it.

    Reconciled: no payment of the batch is still waiting for a result, and the count and sum of the
    payments with a result equal the batch's control count and total.
    """
    waiting = session.scalar(
        select(func.count()).where(Payment.batch_id == batch.id, Payment.status == PaymentStatus.SENT)
    )
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.batch_id == batch.id,
            Payment.status.in_((PaymentStatus.CREDITED, PaymentStatus.FAILED, PaymentStatus.DRAWN)),
        )
    ).one()
    batch.results_count = int(count)
    if batch.status == BatchStatus.RECONCILED:
        return False
    if waiting == 0 and int(count) == batch.count and int(total) == batch.total:
        batch.status, batch.reconciled_at = BatchStatus.RECONCILED, utcnow()
        return True
    if count:
        batch.status = BatchStatus.PARTIAL
    return False


def cycle_reconciled(session, cycle_id):
    """True when every batch of the cycle is reconciled."""
    open_batches = session.scalar(
        select(func.count()).where(PaymentBatch.cycle_id == cycle_id, PaymentBatch.status != BatchStatus.RECONCILED)
    )
    return open_batches == 0


def _rupiah(amount):
    return "Rp " + f"{int(amount):,}".replace(",", ".")


def notify_paid(session, notifier, cycle_id, low=None, high=None):
    """Tell each family of the cycle whose money was credited or paid out (SMS and portal), once; return how many.

    `low`..`high` limit it to a range of payment ids: one item of the "payment_notices" run (payments/runs.py),
    started by the cycle's step `notify_paid` once every batch is reconciled (not in the upload request: one
    message per family would make an upload of 150,000 lines take minutes). The idempotency key is the
    payment's reference, and `notified_at` is set in the same transaction: an item run again tells nobody twice.
    """
    from .models import CycleMember

    cycle = session.get(PaymentCycle, cycle_id)
    payments = Payment.__table__
    members = CycleMember.__table__
    # Marked and read in one statement (no list of ids sent back): the rows this transaction marks are the
    # ones it tells; a rollback (a failed send) unmarks them with the messages the sandbox kept.
    mark = (
        update(payments)
        .where(
            payments.c.cycle_id == cycle.id,
            payments.c.status.in_((PaymentStatus.CREDITED, PaymentStatus.DRAWN)),
            payments.c.notified_at.is_(None),
        )
        .values(notified_at=utcnow())
        .returning(
            payments.c.id,
            payments.c.reference,
            payments.c.amount,
            payments.c.channel,
            select(members.c.nik).where(members.c.id == payments.c.member_id).scalar_subquery(),
        )
    )
    if low is not None:
        mark = mark.where(payments.c.id.between(low, high))
    rows = sorted(session.execute(mark).all())
    messages, shared = [], {}  # the parameters of a message, one dict per amount and channel (read only)
    for _payment_id, reference, amount, channel, nik in rows:
        params = shared.get((amount, channel))
        if params is None:
            params = shared[amount, channel] = {
                "programme": cycle.programme,
                "cycle": cycle.code,
                "amount": _rupiah(amount),
                "channel": channel,
            }
        for medium in APPLICANT_CHANNELS:
            messages.append((nik, medium, "payment_paid", params, f"payment:{reference}:paid:{medium}"))
    send_all(notifier, messages)
    return len(rows)


def send_all(notifier, messages):
    """Send [(nik, channel, template, params, idempotency key)]: in bulk where the notifier can (send_many)."""
    many = getattr(notifier, "send_many", None)
    if many is not None:
        return many(messages)
    return [
        notifier.send(nik, channel, template, params, idempotency_key=key)
        for nik, channel, template, params, key in messages
    ]


def import_and_advance(engine, batch, data, file_name, actor, follow_up=True):
    """Import a results file in chunks; when it completes the cycle's reconciliation, the cycle's process moves on.

    The file is checked whole and its lines staged in the caller's transaction, then taken by a tracked run
    ("payment_results", payments/runs.py): in celery mode on the workers after the caller commits (the row
    comes back "importing"); inline here and now, each chunk its own transaction (this commits the caller's
    work first). Inline, `follow_up` also runs the notices and reviews the reconciliation started.
    """
    from .runs import run_follow_ups_inline, run_inline, start_results_run

    session = engine.session
    row = stage_results(session, batch, data, file_name, actor)
    if row.status != ResultImportStatus.IMPORTING:
        return row
    run = start_results_run(engine, row, batch, actor)
    if engine.defer_steps:
        return row
    row_id, run_id = row.id, run.id
    session.commit()
    run_inline(engine, run_id)
    if follow_up:
        run_follow_ups_inline(engine)
    session.expire_all()
    return session.get(PaymentResultImport, row_id)


RECEIVED = ResultImportStatus.RECEIVED  # kept, waiting for the run that checks and stages it (payments/runs.py)


def receive_results(engine, batch, data, file_name, actor, folder, ip=None, user_agent=None):
    """Keep an uploaded results file under `folder` and start the run that checks and takes it; return (row, run).

    Nothing is read here (the request stays short whatever the file's size): the import row is "received",
    and a tracked run ("payment_results_file", payments/runs.py) checks the file whole and stages its lines
    on the workers (in process inline), then starts the run that takes them in chunks. The file is kept
    as the registry import keeps its extracts (BANSOS_IMPORT_DIR), under a name of our own.
    """
    import secrets
    from datetime import UTC, datetime
    from pathlib import Path

    from cases.audit import record

    from .resultfile import is_workbook
    from .runs import start_results_file_run

    session = engine.session
    digest = hashlib.sha256(data).hexdigest()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    suffix = "xlsx" if is_workbook(data, file_name) else "csv"
    path = Path(folder) / f"{stamp}-{secrets.token_hex(4)}-{batch.reference}.{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    row = PaymentResultImport(
        batch_id=batch.id,
        file_name=(file_name or "")[:200],
        file_sha256=digest,
        uploaded_by=getattr(actor, "id", actor),
        status=RECEIVED,
        refusals=[],
    )
    session.add(row)
    session.flush()
    run = start_results_file_run(engine, row, batch, actor, path)
    record(
        session,
        actor,
        "cycle.results_received",
        "payment_batch",
        batch.reference,
        ip=ip,
        user_agent=user_agent,
        detail={"file": row.file_name, "sha256": digest, "bytes": len(data), "import_id": row.id, "run": run.id},
    )
    return row, run


def advance_if_reconciled(engine, batch):
    """When the batch's results complete the cycle's reconciliation, the cycle's process moves on."""
    from .cycles import business_key

    session = engine.session
    cycle = session.get(PaymentCycle, batch.cycle_id)
    if cycle.status == CycleStatus.DISPATCHED and cycle_reconciled(session, cycle.id):
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
        sheet.append(
            [
                "",
                "",
                "",
                f"... dan {row.refused - len(row.refusals)} baris lain",
                f"... and {row.refused - len(row.refusals)} more lines",
            ]
        )
    book.save(out)
