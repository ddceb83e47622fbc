"""Stream the rows of an .xlsx workbook quickly, with openpyxl reading the workbook's structure.

openpyxl opens the package read-only with ``data_only=False`` (content types, workbook, sheet list,
shared strings, the styles that mark date cells, the 1900/1904 epoch); the rows of a sheet are then
parsed here with lxml's ``iterparse``. openpyxl's own read-only worksheet costs about three times
as much per cell (its inline-string handling builds rich-text objects) and scans every sheet that
lacks a ``<dimension>`` record when the workbook is opened, which is every write-only workbook.

Values come out as ``openpyxl``'s ``iter_rows(values_only=True)`` gives them (numbers as int or
float, date-styled numbers as datetime, booleans, strings), except that formula and error cells are
also *flagged*, so a caller can refuse a formula instead of mistaking its text for data.

Extracts come from outside, so the package is checked before openpyxl reads any of it
(``check_package``): no part may declare a DTD (Excel never writes one; entity declarations are how
"billion laughs" expansion bombs work), and the sizes the zip declares must stay within bounds (a zip
bomb inflates a small file into gigabytes). zipfile never inflates a part past its declared size.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from zipfile import BadZipFile, ZipFile

from lxml import etree
from openpyxl.reader.excel import ExcelReader
from openpyxl.styles.stylesheet import apply_stylesheet
from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.utils.exceptions import InvalidFileException

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _V, _F, _IS, _T, _R = (_NS + tag for tag in ("row", "v", "f", "is", "t", "r"))

FORMULA = "formula"
ERROR = "error"


# Bounds on what a workbook may inflate to. A sheet of 1,000,000 people is about 750 MB of XML and
# compresses about ten to one; zip bombs compress a thousand to one and more.
MAX_PART_BYTES = 4 * 1024**3
MAX_TOTAL_BYTES = 8 * 1024**3
MAX_RATIO = 250  # uncompressed / compressed, checked for parts over RATIO_FLOOR bytes
RATIO_FLOOR = 1024**2
_PROLOG_BYTES = 64 * 1024  # a part's root element must start within this many bytes
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_ROOT_START = re.compile(r"<[A-Za-z_]")  # the root element (not <?...?>, <!-- -->, <!DOCTYPE)


class WorkbookUnreadable(ValueError):
    """The file is not an .xlsx workbook openpyxl can open, or it is refused as unsafe."""


def _prolog_problem(head: bytes) -> str | None:
    """Return why the start of an XML part is refused, or None (DTDs are refused outright)."""
    encoding = "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
    text = head.decode(encoding, errors="replace")
    root = _ROOT_START.search(text)
    if root is None:
        return f"has no root element in its first {_PROLOG_BYTES // 1024} KiB"
    prolog = text[: root.start()].upper()
    if "<!DOCTYPE" in prolog or "<!ENTITY" in prolog:
        return "declares a DTD or entities (<!DOCTYPE>, <!ENTITY>), which Excel never writes"
    return None


def check_package(path) -> None:
    """Refuse a workbook that is a zip bomb or whose XML declares a DTD (raises WorkbookUnreadable)."""
    name = Path(path).name
    try:
        with ZipFile(path) as archive:
            total = 0
            for info in archive.infolist():
                size, packed = info.file_size, max(info.compress_size, 1)
                total += size
                if size > MAX_PART_BYTES:
                    raise WorkbookUnreadable(
                        f"{name} is refused: its part {info.filename} would inflate to {size:,} bytes "
                        f"(at most {MAX_PART_BYTES:,})."
                    )
                if size > RATIO_FLOOR and size / packed > MAX_RATIO:
                    raise WorkbookUnreadable(
                        f"{name} is refused: its part {info.filename} would inflate {size / packed:,.0f} "
                        f"times ({packed:,} to {size:,} bytes; at most {MAX_RATIO} times), like a zip bomb."
                    )
                if total > MAX_TOTAL_BYTES:
                    raise WorkbookUnreadable(
                        f"{name} is refused: it would inflate to more than {MAX_TOTAL_BYTES:,} bytes."
                    )
            for info in archive.infolist():
                if not info.filename.lower().endswith(_XML_SUFFIXES) or info.is_dir():
                    continue
                with archive.open(info) as part:
                    problem = _prolog_problem(part.read(_PROLOG_BYTES))
                if problem:
                    raise WorkbookUnreadable(f"{name} is refused: its part {info.filename} {problem}.")
    except (BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        if isinstance(exc, WorkbookUnreadable):
            raise
        raise WorkbookUnreadable(f"{name} is not an .xlsx workbook ({exc}).") from None


def _inline_text(element) -> str:
    # <is><t>text</t></is>, or rich text <is><r><t>a</t></r><r><t>b</t></r></is> (phonetic runs
    # <rPh> are not part of the value), as openpyxl's Text.content.
    if len(element) == 1 and element[0].tag == _T:
        return element[0].text or ""
    parts = []
    for child in element:
        if child.tag == _T:
            parts.append(child.text or "")
        elif child.tag == _R:
            parts.extend(t.text or "" for t in child.iterchildren(_T))
    return "".join(parts)


def _checked(parser, name: str, sheet: str):
    """Iterate a sheet's parser, turning a parse failure into WorkbookUnreadable."""
    try:
        yield from parser
    except etree.XMLSyntaxError as exc:
        raise WorkbookUnreadable(f"{name}: sheet {sheet} is not well-formed XML ({exc}).") from None


_DATE_CACHE = 4096  # distinct date cells converted once per workbook


class XlsxWorkbook:
    """One workbook opened for streaming; use as a context manager or call close()."""

    def __init__(self, path) -> None:
        self.path = Path(path)
        check_package(self.path)
        try:
            reader = ExcelReader(str(path), read_only=True, data_only=False)
        except (BadZipFile, InvalidFileException, OSError, KeyError) as exc:
            raise WorkbookUnreadable(f"{self.path.name} is not an .xlsx workbook ({exc}).") from None
        self._archive = reader.archive
        try:
            reader.read_manifest()
            reader.read_strings()
            reader.read_workbook()
            apply_stylesheet(reader.archive, reader.wb)
            # The worksheets themselves are not instantiated (that is where openpyxl scans them).
            self._sheets = {
                sheet.name: rel.target
                for sheet, rel in reader.parser.find_sheets()
                if rel.target in reader.valid_files and "chartsheet" not in rel.Type
            }
        except Exception as exc:  # openpyxl raises assorted errors on a damaged package
            self._archive.close()
            raise WorkbookUnreadable(f"{self.path.name} cannot be read ({exc}).") from None
        self._strings = reader.shared_strings
        self._date_styles = {str(i) for i in reader.wb._date_formats}
        self._timedelta_styles = {str(i) for i in reader.wb._timedelta_formats}
        self._epoch = reader.wb.epoch
        self._columns: dict[str, int] = {}
        self._dates: dict[tuple, object] = {}

    @property
    def sheetnames(self) -> list[str]:
        return list(self._sheets)

    def close(self) -> None:
        self._archive.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _column(self, ref: str) -> int:
        letters = ref.rstrip("0123456789")
        index = self._columns.get(letters)
        if index is None:
            index = self._columns[letters] = column_index_from_string(letters) - 1
        return index

    def _number(self, text: str, style):
        value = float(text) if ("." in text or "E" in text or "e" in text) else int(text)
        if style is not None and style in self._date_styles:
            # A column of dates repeats a few days: each serial is converted once (immutable results).
            key = (text, style)
            cached = self._dates.get(key)
            if cached is not None:
                return cached
            try:
                cached = from_excel(value, self._epoch, timedelta=style in self._timedelta_styles)
            except (OverflowError, ValueError):
                return value  # a serial outside the calendar stays a number (and fails as a date)
            if len(self._dates) < _DATE_CACHE:
                self._dates[key] = cached
            return cached
        return value

    def rows(self, sheet: str, width: int | None = None) -> Iterator[tuple[int, list, dict | None]]:
        """Yield ``(row number, values, flags)`` for every row element of ``sheet``.

        ``values`` has ``width`` entries (cells further right are dropped) or, without a width, as
        many as the row's last cell. ``flags`` is None, or maps a 0-based column index to FORMULA
        (the value is then ``"=" + formula``) or ERROR (the value is the error text, e.g. ``#N/A``).
        """
        strings, column, number = self._strings, self._column, self._number
        counter = 0
        with self._archive.open(self._sheets[sheet]) as source:
            parser = etree.iterparse(
                source,
                events=("end",),
                tag=_ROW,
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
            )
            for _event, row in _checked(parser, self.path.name, sheet):
                number_attr = row.get("r")
                counter = int(number_attr) if number_attr else counter + 1
                values = [None] * width if width is not None else []
                flags: dict[int, str] | None = None
                position = -1
                for cell in row:
                    ref = cell.get("r")
                    position = column(ref) if ref else position + 1
                    if not len(cell):
                        continue
                    first = cell[0]
                    tag = first.tag
                    kind = cell.get("t")
                    if tag == _V:
                        text = first.text
                        if not text:
                            continue
                        if kind is None or kind == "n":
                            value = number(text, cell.get("s"))
                        elif kind == "s":
                            value = strings[int(text)]
                        elif kind == "b":
                            value = bool(int(text))
                        elif kind == "e":
                            value = text
                            flags = flags or {}
                            flags[position] = ERROR
                        elif kind == "d":
                            value = from_ISO8601(text)
                        else:  # "str" (a formula's text result) or anything unknown
                            value = text
                    elif tag == _IS:
                        value = _inline_text(first)
                    elif tag == _F:
                        value = "=" + (first.text or "")
                        flags = flags or {}
                        flags[position] = FORMULA
                    else:
                        found = cell.find(_V)
                        if found is None or not found.text:
                            continue
                        value = found.text
                    if position < len(values):
                        values[position] = value
                    elif width is None:
                        values.extend([None] * (position - len(values)))
                        values.append(value)
                row.clear()
                while row.getprevious() is not None:
                    del row.getparent()[0]
                if flags and width is not None:
                    flags = {i: f for i, f in flags.items() if i < width} or None
                yield counter, values, flags
