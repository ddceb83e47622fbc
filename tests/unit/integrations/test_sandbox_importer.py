import shutil
from datetime import date, datetime, timezone

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from integrations.sandbox import tables as t
from integrations.sandbox.generator import generate_population
from integrations.sandbox.importer import ExtractInvalid, import_extracts


@pytest.fixture(scope="module")
def small_extracts(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    generate_population(1000, 21, out)
    return out


def edit_cells(path, sheet, edits):
    wb = load_workbook(path)
    for (row, column), value in edits.items():
        wb[sheet].cell(row=row, column=column, value=value)
    wb.save(path)
    wb.close()


def test_bad_rows_are_reported_and_skipped(small_extracts, tmp_path, empty_session):
    folder = tmp_path / "bad"
    shutil.copytree(small_extracts, folder)
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", {
        (5, 1): "35100117O8450001",  # letter O in the NIK
        (9, 1): "3510991708450001",  # no district 99 in Banyuwangi
        (12, 4): "ALIEN",  # unknown sex label
    })
    edit_cells(folder / "kepegawaian.xlsx", "PEGAWAI", {(2, 2): "RAJA"})
    report = import_extracts(folder, empty_session)
    where = {(e.workbook, e.sheet, e.row) for e in report.errors}
    assert where == {
        ("dukcapil.xlsx", "PENDUDUK", 5), ("dukcapil.xlsx", "PENDUDUK", 9),
        ("dukcapil.xlsx", "PENDUDUK", 12), ("kepegawaian.xlsx", "PEGAWAI", 2),
    }
    reasons = {e.row: e.reason for e in report.errors if e.sheet == "PENDUDUK"}
    assert "NIK_FORMAT" in reasons[5] and "NIK_REGION" in reasons[9] and "JENIS_KELAMIN" in reasons[12]
    assert report.counts["sandbox_people"] == 997
    assert empty_session.scalar(select(func.count()).select_from(t.people)) == 997


def test_duplicate_nik_is_reported(small_extracts, tmp_path, empty_session):
    folder = tmp_path / "dup"
    shutil.copytree(small_extracts, folder)
    wb = load_workbook(folder / "dukcapil.xlsx", read_only=True)
    first = next(wb["PENDUDUK"].iter_rows(min_row=2, max_row=2, values_only=True))
    wb.close()
    # The same person listed twice: the second copy is refused.
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", {(3, col): v for col, v in enumerate(first, 1)})
    report = import_extracts(folder, empty_session)
    assert [(e.row, e.reason) for e in report.errors] == [(3, f"duplicate nik {first[0]}")]


def test_import_replaces_extracts_but_keeps_ledgers(small_extracts, empty_session):
    empty_session.execute(insert(t.people).values(
        nik="3510011708459999", kk_number="3510010101059999", name="OLD", sex="M",
        birth_date=date(1945, 8, 17), relation="KEPALA",
        district_code="01", district_name="PESANGGARAN", village="X", address="", alive=True,
        disability=False, pregnant=False,
    ))
    empty_session.execute(insert(t.outbox).values(
        recipient_nik="3510011708459999", channel="SMS", template="t", params={},
        sent_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ))
    progress = []
    report = import_extracts(small_extracts, empty_session, progress=lambda s, n: progress.append((s, n)))
    assert report.counts["sandbox_people"] == 1000
    assert empty_session.scalar(select(func.count()).select_from(t.people)) == 1000
    assert empty_session.scalar(select(func.count()).select_from(t.outbox)) == 1
    assert ("dukcapil.xlsx/PENDUDUK", 1000) in progress


def test_missing_column_refuses_the_whole_import(small_extracts, tmp_path, empty_session):
    folder = tmp_path / "nocol"
    shutil.copytree(small_extracts, folder)
    edit_cells(folder / "dtsen.xlsx", "DTSEN", {(1, 2): "DECILE"})
    with pytest.raises(ExtractInvalid, match="DESIL"):
        import_extracts(folder, empty_session)
    assert empty_session.scalar(select(func.count()).select_from(t.people)) == 0


def test_missing_workbook_refuses_the_import(tmp_path, empty_session):
    with pytest.raises(ExtractInvalid, match="is missing"):
        import_extracts(tmp_path, empty_session)
