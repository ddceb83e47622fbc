"""A sandbox paying bank and post office: read a batch file, write the results file a real one would.

Failures are realistic and deterministic, keyed on the family (its NIK), so a test or a demo gets the
same outcome every time: about 2% account closed, 2% dormant, 1% name mismatch, 1% NIK mismatch and
1% over the limit at the banks; about 3% not found at the address at the post office. A second pass
("draw") reports which credited families drew their money (about 85%); the others stay undrawn and are
returned after the return period. Layout of both files: docs/payments.md.
"""

from __future__ import annotations

import hashlib

BANK_FAILURES = (("ACCOUNT_CLOSED", 2), ("DORMANT", 2), ("NAME_MISMATCH", 1), ("NIK_MISMATCH", 1), ("OVER_LIMIT", 1))
POS_FAILURES = (("NOT_FOUND", 3),)
DRAWN_PERCENT = 85


def _bucket(nik, salt):
    return int(hashlib.sha256(f"{salt}:{nik}".encode()).hexdigest()[:8], 16) % 100


def outcome(nik, channel):
    """The failure code this family gets at this channel, or None when it is credited (paid, at the post office)."""
    bucket = _bucket(nik, "credit")
    for code, percent in POS_FAILURES if channel == "POS" else BANK_FAILURES:
        if bucket < percent:
            return code
        bucket -= percent
    return None


def draws(nik):
    """True when a credited family draws its money before the return date."""
    return _bucket(nik, "draw") < DRAWN_PERCENT


def parse_batch_file(lines):
    """Read a batch file: return (header dict, iterator of detail dicts); raise ValueError when malformed."""
    lines = iter(lines)
    first = next(lines, "").rstrip("\r\n").split(",")
    if len(first) != 6 or first[0] != "H":
        raise ValueError("the first line is not a batch control header")
    header = {
        "reference": first[1],
        "channel": first[2],
        "count": int(first[3]),
        "total": int(first[4]),
        "hash": first[5],
    }

    def details():
        for raw in lines:
            parts = raw.rstrip("\r\n").split(",")
            if len(parts) != 6 or parts[0] != "D":
                raise ValueError("a batch line is not a D record")
            yield {
                "reference": parts[1],
                "nik": parts[2],
                "name": parts[3],
                "account": parts[4],
                "amount": int(parts[5]),
            }

    return header, details()


def results_lines(batch_lines, day, stage="credit", only=None):
    """The results file (lines, each ending in a newline) for a batch file's lines.

    stage "credit": one line per payment (CREDITED or FAILED; PAID at the post office);
    stage "draw": DRAWN lines for the credited families that drew. `only` limits to that many lines
    (a partial results file, as banks send them).
    """
    batch_lines = list(batch_lines)
    header, details = parse_batch_file(batch_lines)
    details = list(details)
    digest = hashlib.sha256("".join(line.rstrip("\r\n") + "\n" for line in batch_lines[1:]).encode()).hexdigest()
    if (len(details), sum(d["amount"] for d in details), digest) != (header["count"], header["total"], header["hash"]):
        raise ValueError("the batch file's control header does not match its lines: the bank refuses it")
    out = []
    for detail in details:
        failure = outcome(detail["nik"], header["channel"])
        if stage == "credit":
            if failure:
                status = "FAILED"
            else:
                status = "PAID" if header["channel"] == "POS" else "CREDITED"
        elif failure is None and header["channel"] != "POS" and draws(detail["nik"]):
            status = "DRAWN"
        else:
            continue
        out.append(f"R,{detail['reference']},{detail['amount']},{status},{failure or ''},{day.isoformat()}")
        if only is not None and len(out) >= only:
            break
    total = sum(int(line.split(",")[2]) for line in out)
    return [f"H,{header['reference']},{len(out)},{total}\n", *(line + "\n" for line in out)]


def results_workbook(lines, out):
    """Write results-file lines as the bank's Excel results workbook (layout: payments/resultfile.py) to `out`.

    Amounts are numbers, dates real Excel dates, references and codes text, as a bank's export has them.
    """
    from datetime import date

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    control = book.create_sheet("Kontrol")
    header = lines[0].rstrip("\r\n").split(",")
    control.append(["batch_reference", "count", "total"])
    control.append([header[1], int(header[2]), int(header[3])])
    sheet = book.create_sheet("Hasil")
    sheet.append(["reference", "amount", "status", "failure_code", "date"])
    for line in lines[1:]:
        _, reference, amount, status, failure, day = line.rstrip("\r\n").split(",")
        sheet.append([reference, int(amount), status, failure or None, date.fromisoformat(day)])
    book.save(out)
