"""Stream the rows of an .xlsx workbook quickly, with openpyxl reading the workbook's structure.

openpyxl opens the package read-only with ``data_only=False`` (content types, workbook, sheet list,
shared strings, the styles that mark date cells, the 1900/1904 epoch); the rows of a sheet are then
parsed here with lxml's ``iterparse``. openpyxl's own read-only worksheet costs about three times
as much per cell (its inline-string handling builds rich-text objects) and scans every sheet that
lacks a ``<dimension>`` record when the workbook is opened, which is every write-only workbook.

Values come out as ``openpyxl``'s ``iter_rows(values_only=True)`` gives them (numbers as int or
float, date-styled numbers as datetime, booleans, strings), except that formula and error cells are
also *flagged*, so a caller can refuse a formula instead of mistaking its text for data.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from zipfile import BadZipFile

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


class WorkbookUnreadable(ValueError):
    """The file is not an .xlsx workbook openpyxl can open."""


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


class XlsxWorkbook:
    """One workbook opened for streaming; use as a context manager or call close()."""

    def __init__(self, path):
        self.path = Path(path)
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
                sheet.name: rel.target for sheet, rel in reader.parser.find_sheets()
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
            try:
                return from_excel(value, self._epoch, timedelta=style in self._timedelta_styles)
            except (OverflowError, ValueError):
                return value  # a serial outside the calendar stays a number (and fails as a date)
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
                source, events=("end",), tag=_ROW,
                resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
            )
            for _event, row in parser:
                number_attr = row.get("r")
                counter = int(number_attr) if number_attr else counter + 1
                values = [None] * width if width is not None else []
                flags = None
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
