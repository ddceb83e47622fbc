"""Bank files: the batch file we send, the results file we get back (layout: docs/payments.md).

Batch file (CSV, UTF-8, comma separated, one record per line):
    H,<batch reference>,<channel>,<count>,<total rupiah>,<sha256 of the D lines>
    D,<payment reference>,<NIK>,<name>,<account or empty>,<amount rupiah>
Results file:
    H,<batch reference>,<count of R lines>,<total rupiah of R lines>
    R,<payment reference>,<amount rupiah>,<status>,<failure code or empty>,<YYYY-MM-DD>

Files are written and read as streams; no step holds every line of a batch in memory.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata

from sqlalchemy import select

from .models import CycleMember, Payment, PaymentBatch

# Banks refuse names with special characters: upper-case ASCII letters, digits, space and . ' - only.
_NAME_DROP = re.compile(r"[^A-Z0-9 .'-]")


def bank_name(name):
    """A name as banks accept it: accents folded, upper case, special characters dropped, at most 60."""
    folded = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii").upper()
    return " ".join(_NAME_DROP.sub(" ", folded).split())[:60]


def _detail_rows(session, batch):
    query = (
        select(Payment.reference, CycleMember.nik, CycleMember.name, Payment.account, Payment.amount)
        .join(CycleMember, CycleMember.id == Payment.member_id)
        .where(Payment.batch_id == batch.id, Payment.attempt == 1)
        .order_by(Payment.reference)
        .execution_options(yield_per=5000)
    )
    for reference, nik, name, account, amount in session.execute(query):
        yield f"D,{reference},{nik},{bank_name(name)},{account or ''},{int(amount)}"


def _arrears_by_reference(session, batch):
    """{payment reference: rupiah of arrears (rapel) lines} for the batch's payments that have any (a few)."""
    from sqlalchemy import func

    from .models import Entitlement

    query = (
        select(Payment.reference, func.sum(Entitlement.amount))
        .join(Entitlement, Entitlement.member_id == Payment.member_id)
        .where(
            Payment.batch_id == batch.id,
            Payment.attempt == 1,
            Entitlement.cycle_id == Payment.cycle_id,
            Entitlement.category.startswith("rapel:"),
        )
        .group_by(Payment.reference)
    )
    return {reference: int(amount) for reference, amount in session.execute(query)}


def control_hash(session, batch):
    """sha256 (hex) of the batch's D lines, each followed by a newline, in reference order."""
    digest = hashlib.sha256()
    for line in _detail_rows(session, batch):
        digest.update(line.encode("ascii") + b"\n")
    return digest.hexdigest()


def header_line(batch):
    return f"H,{batch.reference},{batch.channel},{batch.count},{batch.total},{batch.control_hash}"


def batch_csv_lines(session, batch):
    """The lines of a batch file (header first), each ending in a newline: stream them to the response."""
    yield header_line(batch) + "\n"
    for line in _detail_rows(session, batch):
        yield line + "\n"


def batch_xlsx(session, batch, out):
    """Write the batch as an Excel workbook (sheet Kontrol: the control header; sheet Pembayaran: lines)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    control = book.create_sheet("Kontrol")
    control.append(["batch_reference", "channel", "count", "total", "sha256"])
    control.append([batch.reference, batch.channel, batch.count, batch.total, batch.control_hash])
    sheet = book.create_sheet("Pembayaran")
    sheet.append(["reference", "nik", "name", "account", "amount", "rapel"])
    arrears = _arrears_by_reference(session, batch)
    for line in _detail_rows(session, batch):
        _, reference, nik, name, account, amount = line.split(",")
        # Text cells stay text (NIKs and accounts keep their leading zeros); amounts are numbers. "rapel": the part
        # of the amount that pays missed stages of an overturned appeal (information; the amount is what is paid).
        sheet.append([reference, nik, name, account, int(amount), arrears.get(reference, 0)])
    book.save(out)


def batch_of(session, reference):
    """The batch with this reference, or None."""
    return session.execute(select(PaymentBatch).where(PaymentBatch.reference == reference)).scalar_one_or_none()


def text_stream(data):
    """Lines of an uploaded file's bytes (UTF-8, a BOM allowed); raise ValueError when it is not text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError("the file is not UTF-8 text") from exc
    return io.StringIO(text)
