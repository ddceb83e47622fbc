from datetime import date, datetime

import pytest
from openpyxl import Workbook, load_workbook

from integrations.sandbox.xlsx import ERROR, FORMULA, WorkbookUnreadable, XlsxWorkbook


def openpyxl_rows(path, sheet):
    wb = load_workbook(path, read_only=True, data_only=False)
    ws = wb[sheet]
    ws.reset_dimensions()
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    wb.close()
    return rows


@pytest.mark.parametrize("write_only", [False, True])  # shared strings / inline strings
def test_rows_read_as_openpyxl_reads_them(tmp_path, write_only):
    path = tmp_path / "cells.xlsx"
    wb = Workbook(write_only=write_only)
    ws = wb.create_sheet("DATA") if write_only else wb.active
    if not write_only:
        ws.title = "DATA"
    rows = [
        ["TEXT", "INT", "FLOAT", "DATE", "BOOL", None, "LAST"],
        ["  padded ", 3510011708450001, 2.5, date(1990, 1, 2), True, None, "x"],
        [None, None, None, datetime(2020, 5, 6, 7, 8, 9), False],
        [],
        ["ünïcödé & <xml>", -7, 1e-3, None, None, None, None, "beyond"],
        ["=SUM(B2:B3)", "#N/A", 0, date(1900, 3, 1)],
    ]
    for row in rows:
        ws.append(row)
    wb.save(path)
    with XlsxWorkbook(path) as book:
        assert book.sheetnames == ["DATA"]
        mine = list(book.rows("DATA"))
    expected = openpyxl_rows(path, "DATA")
    by_number = {n: values for n, values, _ in mine}
    # openpyxl pads every row to the sheet's width and fills rows the file lacks; we yield the rows
    # the file has, each up to its last cell.
    got = [by_number.get(n, []) for n in range(1, len(expected) + 1)]
    assert [v + [None] * (len(e) - len(v)) for v, e in zip(got, expected, strict=True)] == expected
    numbers = [n for n, _, _ in mine]
    assert numbers == sorted(numbers) and numbers[0] == 1
    flags = {n: f for n, _, f in mine if f}
    assert flags == {numbers[-1]: {0: FORMULA, 1: ERROR}}


def test_fixed_width_pads_and_cuts(tmp_path):
    path = tmp_path / "w.xlsx"
    wb = Workbook()
    wb.active.append(["A", "B", "C", "D"])
    wb.active.append([1, None, None, "=A1"])
    wb.save(path)
    with XlsxWorkbook(path) as book:
        rows = list(book.rows(book.sheetnames[0], width=2))
    assert rows == [(1, ["A", "B"], None), (2, [1, None], None)]


def test_not_a_workbook(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_text("NIK,NAMA\n")
    with pytest.raises(WorkbookUnreadable, match="x.xlsx"):
        XlsxWorkbook(path)
