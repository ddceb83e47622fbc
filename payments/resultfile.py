"""The front end of a results import: the uploaded bytes as the lines of a results file.

A bank answers with the CSV layout of docs/payments.md or with an Excel workbook (.xlsx) of the same
content, laid out like the batch workbook we send:

- sheet `Kontrol`: row 1 the headers `batch_reference | count | total`, row 2 the values;
- sheet `Hasil`: row 1 the headers `reference | amount | status | failure_code | date`, then one row per
  result (amounts as numbers or digits, dates as Excel dates or `YYYY-MM-DD` text).

Both come out as the same stream of text lines (`H,...` then `R,...`), which `results._parse` reads with
the same checks, line by line; for a workbook a line's number is its row in sheet `Hasil`.

A workbook comes from outside, so before any of it is read it passes the registry import's guards
(`integrations/sandbox/xlsx.py`: no DTD or entity declarations, no zip bomb), then tighter bounds for a
results file (what its parts inflate to, rows). A cell holding a formula (or a formula's error value) is
never taken for data: the whole workbook is refused. Every refusal is a `ResultsUnreadable` with a reason
code of `REASONS`; nothing is read from a refused file.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
import zlib
from datetime import date, datetime

from .bankfile import text_stream

MAX_WORKBOOK_INFLATED = 64 * 1024 * 1024  # the parts of a results workbook together, uncompressed (as a CSV)
MAX_CELLS_PER_ROW = 16  # on average: a sheet of a few rows with millions of cells is refused before it is parsed
MAX_ROWS = 1_048_576  # Excel's own limit: a row numbered beyond it is no Excel workbook
MAX_RESULT_ROWS = 500_000  # result rows in sheet Hasil (a regency's largest batch is about 150,000)
CONTROL_SHEET, RESULTS_SHEET = "Kontrol", "Hasil"
CONTROL_HEADERS = ("batch_reference", "count", "total")
RESULT_HEADERS = ("reference", "amount", "status", "failure_code", "date")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (.xls): refused as not .xlsx

REASONS = {  # code -> (Indonesian, English); merged into results.REASONS
    "NOT_EXCEL": (
        "Berkas bukan buku kerja Excel (.xlsx) yang dapat dibaca",
        "The file is not a readable Excel workbook (.xlsx)",
    ),
    "UNSAFE_WORKBOOK": (
        "Buku kerja ditolak karena tidak aman (deklarasi DTD/entitas XML atau bom zip)",
        "The workbook is refused as unsafe (XML DTD/entity declarations or a zip bomb)",
    ),
    "FORMULA": (
        "Buku kerja berisi rumus; simpan hasil sebagai nilai saja",
        "The workbook contains formulas; save the results as values only",
    ),
    "BAD_LAYOUT": (
        "Buku kerja tidak sesuai format (lembar Kontrol dan Hasil dengan judul kolom yang ditentukan)",
        "The workbook does not follow the layout (sheets Kontrol and Hasil with the documented headers)",
    ),
    "TOO_MANY_ROWS": ("Buku kerja memiliki terlalu banyak baris", "The workbook has too many rows"),
}


class ResultsUnreadable(ValueError):
    """The uploaded file cannot be read as results; `reason` is a code of results.REASONS."""

    def __init__(self, message, reason):
        super().__init__(message)
        self.reason = reason


def is_workbook(data, file_name=""):
    """True when the upload is (meant as) an Excel workbook: a zip package or an old binary .xls, or so named."""
    named = (file_name or "").lower().endswith((".xlsx", ".xlsm", ".xls"))
    return named or data[:4] == _ZIP_MAGIC or data[:8] == _OLE_MAGIC


def result_lines(data, file_name=""):
    """The results file's lines (a text stream, CSV layout) of an uploaded CSV or Excel results file.

    Raises ResultsUnreadable (nothing is read) when the file is not UTF-8 text, or is a workbook that is
    not readable, unsafe, has formulas, too many rows or another layout.
    """
    if is_workbook(data, file_name):
        return io.StringIO("".join(workbook_lines(data)))
    try:
        text = text_stream(data)
    except ValueError as exc:
        raise ResultsUnreadable(str(exc), "NOT_TEXT") from exc
    if "\x00" in text.getvalue():
        raise ResultsUnreadable("the file is not text", "NOT_TEXT")
    return text


_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")
_PREFIXED = re.compile(rb"<[A-Za-z_][\w.-]*:(?:c|row)[\s/>]")


def _count(part, pattern, tag):
    """How many `tag` elements a sheet part opens: bytes.count for the usual unprefixed XML, else the pattern."""
    if _PREFIXED.search(part) is not None:
        return len(pattern.findall(part))
    return sum(part.count(b"<" + tag + end) for end in (b" ", b">", b"/", b"\t", b"\n", b"\r"))


def _check_bounds(path):
    """Refuse a workbook that inflates beyond a results file's size, or whose sheets are rows of countless cells."""
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
            if inflated > MAX_WORKBOOK_INFLATED:
                raise ResultsUnreadable(f"the workbook would inflate to {inflated:,} bytes", "TOO_LARGE")
            for info in archive.infolist():
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                    part = archive.read(info)
                    if _count(part, _CELL, b"c") > MAX_CELLS_PER_ROW * (_count(part, _ROW, b"row") + 1):
                        raise ResultsUnreadable(f"{info.filename} has rows of too many cells", "TOO_MANY_ROWS")
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
        raise ResultsUnreadable(f"not an .xlsx workbook ({exc})", "NOT_EXCEL") from None


def workbook_lines(data):
    """The lines (`H,...\\n`, then one per row of sheet Hasil) of a results workbook's bytes."""
    from integrations.sandbox.xlsx import WorkbookUnreadable, XlsxWorkbook, check_package

    handle, path = tempfile.mkstemp(prefix="tepat-results-", suffix=".xlsx")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        try:
            check_package(path)  # the registry import's guards first: DTDs and entities, zip bombs
        except WorkbookUnreadable as exc:
            unsafe = "refused" in str(exc)
            raise ResultsUnreadable(str(exc), "UNSAFE_WORKBOOK" if unsafe else "NOT_EXCEL") from None
        _check_bounds(path)
        try:
            with XlsxWorkbook(path) as book:
                if CONTROL_SHEET not in book.sheetnames or RESULTS_SHEET not in book.sheetnames:
                    raise ResultsUnreadable("the workbook lacks sheet Kontrol or Hasil", "BAD_LAYOUT")
                return [_control_line(book), *_result_lines(book)]
        except WorkbookUnreadable as exc:
            raise ResultsUnreadable(str(exc), "NOT_EXCEL") from None
    finally:
        os.unlink(path)


def _rows(book, sheet, width, limit):
    """(row number, values) of a sheet; refuse formulas, error values and too many rows."""
    count = 0
    for number, values, flags in book.rows(sheet):  # every cell: a formula anywhere in the row refuses the file
        if flags:
            raise ResultsUnreadable(f"sheet {sheet} row {number} holds a formula", "FORMULA")
        while len(values) > width and values[-1] in (None, ""):
            values.pop()
        values += [None] * (width - len(values))  # a cell right of the layout stays: its line is malformed
        if number > MAX_ROWS:
            raise ResultsUnreadable(f"sheet {sheet} has a row numbered {number}", "NOT_EXCEL")
        count += 1
        if count > limit:
            raise ResultsUnreadable(f"sheet {sheet} has more than {limit:,} rows", "TOO_MANY_ROWS")
        yield number, values


def _header_ok(values, expected):
    return tuple(str(v or "").strip().lower() for v in values) == expected


def _control_line(book):
    rows = list(_rows(book, CONTROL_SHEET, len(CONTROL_HEADERS), 100))
    rows = [(n, v) for n, v in rows if any(x not in (None, "") for x in v)]
    if len(rows) != 2 or not _header_ok(rows[0][1], CONTROL_HEADERS):
        raise ResultsUnreadable("sheet Kontrol is not a header row and one row of values", "BAD_LAYOUT")
    return "H," + ",".join(_text(v) for v in rows[1][1]) + "\n"


def _result_lines(book):
    """One line per row of sheet Hasil from row 2 on (an empty or missing row as an empty line)."""
    out, expected = [], 1
    for number, values in _rows(book, RESULTS_SHEET, len(RESULT_HEADERS), MAX_RESULT_ROWS + 1):
        if number == 1:
            if not _header_ok(values, RESULT_HEADERS):
                raise ResultsUnreadable("sheet Hasil does not start with the documented headers", "BAD_LAYOUT")
            expected = 2
            continue
        if expected == 1:
            raise ResultsUnreadable("sheet Hasil does not start with the documented headers", "BAD_LAYOUT")
        out.extend("\n" for _ in range(number - expected))  # rows the sheet leaves out: line numbers stay rows
        expected = number + 1
        if all(v is None or v == "" for v in values):
            out.append("\n")
        elif len(values) == 5:  # the layout's width (a wider row is malformed, and joined as it is below)
            reference, amount, status, failure, day = values
            out.append(f"R,{_text(reference)},{_text(amount)},{_text(status)},{_text(failure)},{_text(day, True)}\n")
        else:
            out.append("R," + ",".join(_text(v, as_date=(i == 4)) for i, v in enumerate(values)) + "\n")
    if expected == 1:
        raise ResultsUnreadable("sheet Hasil is empty", "BAD_LAYOUT")
    return out


def _text(value, as_date=False):
    """A cell as the CSV field it stands for; a comma or line break in text can never move a field."""
    if value is None:
        return ""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        value = value.strip()
        if "," in value or "\r" in value or "\n" in value:
            return value.replace(",", ";").replace("\r", " ").replace("\n", " ")
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # never an amount: the line is refused as malformed
    if isinstance(value, datetime):
        return value.date().isoformat() if as_date else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text.replace(",", ";").replace("\r", " ").replace("\n", " ")
