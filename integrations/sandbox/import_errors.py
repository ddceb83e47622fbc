"""The error workbook of an import: the refused rows with their reasons and original cells."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from integrations.sandbox import extracts as x


def _sheet_title(layout: x.SheetLayout, used: set) -> str:
    base = f"{Path(layout.workbook).stem} {layout.sheet}"[:31]
    title, n = base, 1
    while title in used:
        n += 1
        title = f"{base[:28]} {n}"
    used.add(title)
    return title


def _text_cell(sheet, value):
    cell = WriteOnlyCell(sheet, value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # show the formula's text, do not make it a formula again
    return cell


def write_error_workbook(path, errors: list, headers: dict) -> Path:
    """Write refused rows to an .xlsx, one sheet per extract sheet; return the path."""
    path = Path(path)
    wb = Workbook(write_only=True)
    used: set = set()
    for layout in x.ALL_SHEETS:
        rows = [e for e in errors if (e.workbook, e.sheet) == (layout.workbook, layout.sheet)]
        if not rows:
            continue
        sheet = wb.create_sheet(_sheet_title(layout, used))
        sheet.append(
            [
                "WORKBOOK",
                "SHEET",
                "ROW",
                "COLUMNS",
                "REASON",
                *[h or f"(column {i + 1})" for i, h in enumerate(headers[layout])],
            ]
        )
        for e in rows:
            sheet.append(
                [
                    e.workbook,
                    e.sheet,
                    e.row,
                    ", ".join(e.columns),
                    _text_cell(sheet, e.reason),
                    *[_text_cell(sheet, v) for v in e.values],
                ]
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a reader never sees half a workbook.
    handle, temporary = tempfile.mkstemp(prefix=".import-errors-", suffix=".xlsx", dir=path.parent)
    os.close(handle)
    try:
        wb.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
