from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, func, insert, select

from integrations.sandbox import import_rules, importer
from integrations.sandbox import tables as t
from integrations.sandbox.generator import generate_population
from integrations.sandbox.importer import ERROR_WORKBOOK, ExtractInvalid, import_extracts

SMALL_POPULATION = 1000  # people in the `small_extracts` fixture (conftest.py)


def edit_cells(path, sheet, edits):
    wb = load_workbook(path)
    for (row, column), value in edits.items():
        wb[sheet].cell(row=row, column=column).value = value  # cell(value=None) would not clear
    wb.save(path)
    wb.close()


def read_rows(path, sheet):
    wb = load_workbook(path, read_only=True)
    rows = [list(r) for r in wb[sheet].iter_rows(values_only=True)]
    wb.close()
    return rows


def count(session, table):
    return session.scalar(select(func.count()).select_from(table))


def errors_at(report, sheet):
    return {e.row: e for e in report.errors if e.sheet == sheet}


def referenced_niks(folder):
    niks = set()
    for name, sheet in (
        ("bpjs_kesehatan.xlsx", "PESERTA"),
        ("bpjs_ketenagakerjaan.xlsx", "PESERTA"),
        ("aset.xlsx", "PENGURUS_BADAN_USAHA"),
        ("kepegawaian.xlsx", "PEGAWAI"),
    ):
        niks |= {row[0] for row in read_rows(folder / name, sheet)[1:]}
    return niks


def unreferenced_person_row(folder):
    """Return (spreadsheet row, cells) of a person no other sheet refers to."""
    used = referenced_niks(folder)
    rows = read_rows(folder / "dukcapil.xlsx", "PENDUDUK")
    number, cells = next((n, r) for n, r in enumerate(rows[1:], start=2) if r[0] not in used)
    return number, cells


def write_statements(session):
    """Start recording INSERT/UPDATE/DELETE statements sent through the session's engine."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", record)
    return seen


# -- bad rows ------------------------------------------------------------------------------------
def test_bad_rows_are_reported_and_skipped(folder, empty_session):
    edit_cells(
        folder / "dukcapil.xlsx",
        "PENDUDUK",
        {
            (5, 1): "35100117O8450001",  # letter O in the NIK
            (9, 1): "3510991708450001",  # no district 99 in Banyuwangi
            (12, 4): "ALIEN",  # unknown sex label
        },
    )
    edit_cells(folder / "kepegawaian.xlsx", "PEGAWAI", {(2, 2): "RAJA"})
    report = import_extracts(folder, empty_session)
    people = errors_at(report, "PENDUDUK")
    assert set(people) == {5, 9, 12}
    assert "NIK_FORMAT" in people[5].reason and people[5].columns == ("NIK",)
    assert "NIK_REGION" in people[9].reason
    assert "JENIS_KELAMIN" in people[12].reason and people[12].columns == ("JENIS_KELAMIN",)
    assert errors_at(report, "PEGAWAI")[2].columns == ("KATEGORI",)
    # Rows of other registries about the people refused go too: unknown NIKs (rows 5 and 9 no longer
    # hold them) or the NIK of a refused row (12).
    others = [e for e in report.errors if e.sheet not in ("PENDUDUK", "PEGAWAI")]
    assert all(e.columns == ("NIK",) for e in others)
    assert all(
        e.reason.endswith(
            ("is not in dukcapil.xlsx/PENDUDUK", "refers to dukcapil.xlsx/PENDUDUK row 12, which was refused")
        )
        for e in others
    )
    assert report.counts["sandbox_people"] == SMALL_POPULATION - 3
    assert count(empty_session, t.people) == SMALL_POPULATION - 3
    assert report.sync["sandbox_people"].inserted == SMALL_POPULATION - 3


def test_duplicate_nik_points_at_the_first_row(folder, empty_session):
    first = read_rows(folder / "dukcapil.xlsx", "PENDUDUK")[1]
    # The same person listed twice: the second copy is refused.
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", {(3, col): v for col, v in enumerate(first, 1)})
    report = import_extracts(folder, empty_session)
    people = errors_at(report, "PENDUDUK")
    assert list(people) == [3]
    assert people[3].reason == f"duplicate NIK {first[0]}: first at row 2"
    assert people[3].columns == ("NIK",)
    assert empty_session.scalar(select(t.people.c.name).where(t.people.c.nik == first[0])) == first[2]


@pytest.mark.parametrize(
    "edits, column, words",
    [
        ({(2, 5): "2001-02-30"}, "TANGGAL_LAHIR", "'2001-02-30' is not a date"),  # impossible date
        ({(2, 5): "kemarin"}, "TANGGAL_LAHIR", "'kemarin' is not a date"),
        ({(2, 12): 12345}, "TANGGAL_MENINGGAL", "holds the number 12345, not a date"),
        ({(2, 5): date(2999, 1, 1)}, "TANGGAL_LAHIR", "is in the future"),
        ({(2, 2): "35100101010500"}, "NO_KK", "'35100101010500' is not 16 digits"),  # malformed KK
        ({(2, 2): "3510990101050001"}, "NO_KK", "KK_REGION"),
        ({(2, 2): "3510013201050001"}, "NO_KK", "KK_DATE"),
        ({(2, 1): "351001170845"}, "NIK", "NIK_FORMAT"),  # malformed NIK
        ({(2, 3): None}, "NAMA_LENGKAP", "NAMA_LENGKAP is empty"),
        ({(2, 3): "X" * 121}, "NAMA_LENGKAP", "longer than 120 characters"),
        ({(2, 3): '=CONCAT("BUDI", " SANTOSO")'}, "NAMA_LENGKAP", "holds a formula"),
        ({(2, 11): "=A1"}, "STATUS_HIDUP", "holds a formula (=A1) instead of a value"),
    ],
)
def test_bad_person_cells(folder, empty_session, edits, column, words):
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", edits)
    report = import_extracts(folder, empty_session)
    error = errors_at(report, "PENDUDUK")[2]
    assert column in error.columns, error
    assert words in error.reason, error
    assert count(empty_session, t.people) == SMALL_POPULATION - 1


def test_a_nik_excel_turned_into_a_float_is_refused():
    # Excel keeps 15 significant digits and saves such a cell as 3.51001170845E+15.
    with pytest.raises(import_rules.RowRefused, match="floating-point"):
        import_rules._nik()(3.51001170845e15)
    assert import_rules._nik()(3510011708450001) == "3510011708450001"  # an exact integer cell is fine


def test_text_in_a_number_column(folder, empty_session):
    edit_cells(folder / "bpjs_ketenagakerjaan.xlsx", "PESERTA", {(2, 2): "banyak", (3, 2): 2500000.5})
    edit_cells(folder / "dtsen.xlsx", "DTSEN", {(2, 2): "11", (3, 2): True})
    report = import_extracts(folder, empty_session)
    wages = errors_at(report, "PESERTA")
    assert wages[2].reason == "UPAH_BULANAN 'banyak' is not a whole number"
    assert wages[3].reason == "UPAH_BULANAN 2500000.5 is not a whole number"
    deciles = errors_at(report, "DTSEN")
    assert deciles[2].reason == "DESIL 11 is out of range (1-10)"
    assert deciles[3].reason == "DESIL holds TRUE/FALSE, not a number"


def test_person_of_an_unknown_household(folder, empty_session):
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", {(4, 2): "3510010101050999"})
    report = import_extracts(folder, empty_session)
    error = errors_at(report, "PENDUDUK")[4]
    assert error.reason == "NO_KK 3510010101050999 is not in dukcapil.xlsx/KELUARGA"
    assert error.columns == ("NO_KK",)


def test_reference_to_a_refused_household_names_its_row(folder, empty_session):
    households = read_rows(folder / "dukcapil.xlsx", "KELUARGA")
    edit_cells(folder / "dukcapil.xlsx", "KELUARGA", {(2, 2): "99"})
    report = import_extracts(folder, empty_session)
    kk = households[1][0]
    assert "KODE_KECAMATAN '99'" in errors_at(report, "KELUARGA")[2].reason
    members = [e for e in report.errors if e.sheet == "PENDUDUK"]
    assert members and all(
        e.reason == f"NO_KK {kk} refers to dukcapil.xlsx/KELUARGA row 2, which was refused" for e in members
    )


def test_several_problems_in_one_row_are_all_named(folder, empty_session):
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", {(2, 4): "ALIEN", (2, 14): "MUNGKIN"})
    error = errors_at(import_extracts(folder, empty_session), "PENDUDUK")[2]
    assert error.columns == ("JENIS_KELAMIN", "STATUS_HAMIL")
    assert "JENIS_KELAMIN 'ALIEN'" in error.reason and "STATUS_HAMIL 'MUNGKIN'" in error.reason


# -- the error workbook --------------------------------------------------------------------------
def test_error_workbook_lists_refused_rows_with_their_cells(folder, empty_session):
    original = read_rows(folder / "dukcapil.xlsx", "PENDUDUK")[6]
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", {(7, 4): "ALIEN", (9, 1): "=B9"})
    edit_cells(folder / "dtsen.xlsx", "DTSEN", {(3, 2): "sepuluh"})
    report = import_extracts(folder, empty_session)
    assert report.error_workbook == folder / ERROR_WORKBOOK
    wb = load_workbook(report.error_workbook, read_only=True)
    assert "dukcapil PENDUDUK" in wb.sheetnames and "dtsen DTSEN" in wb.sheetnames
    people = [list(r) for r in wb["dukcapil PENDUDUK"].iter_rows(values_only=True)]
    dtsen = [list(r) for r in wb["dtsen DTSEN"].iter_rows(values_only=True)]
    wb.close()
    assert people[0][:6] == ["WORKBOOK", "SHEET", "ROW", "COLUMNS", "REASON", "NIK"]
    by_row = {r[2]: r for r in people[1:]}
    assert set(by_row) == {7, 9}
    assert by_row[7][:4] == ["dukcapil.xlsx", "PENDUDUK", 7, "JENIS_KELAMIN"]
    assert "JENIS_KELAMIN 'ALIEN' is not one of" in by_row[7][4]
    assert by_row[7][5:] == [original[0], original[1], original[2], "ALIEN", *original[4:]]
    assert by_row[9][3] == "NIK" and "formula" in by_row[9][4]
    assert by_row[9][5] == "=B9"  # the formula's text, as text
    assert dtsen[1][2:5] == [3, "DESIL", "DESIL 'sepuluh' is not a whole number"]


def test_error_workbook_path_can_be_chosen_and_a_stale_one_goes(folder, empty_session, tmp_path):
    edit_cells(folder / "dtsen.xlsx", "DTSEN", {(3, 2): "sepuluh"})
    chosen = tmp_path / "out" / "errors.xlsx"
    report = import_extracts(folder, empty_session, error_workbook_path=chosen)
    assert report.error_workbook == chosen and chosen.is_file()
    assert not (folder / ERROR_WORKBOOK).exists()
    (folder / ERROR_WORKBOOK).write_bytes(b"stale")
    edit_cells(folder / "dtsen.xlsx", "DTSEN", {(3, 2): 3})
    report = import_extracts(folder, empty_session)
    assert report.errors == [] and report.error_workbook is None
    assert not (folder / ERROR_WORKBOOK).exists()


# -- whole-import refusals -----------------------------------------------------------------------
def test_missing_column_refuses_the_whole_import(folder, empty_session):
    edit_cells(folder / "dtsen.xlsx", "DTSEN", {(1, 2): "DECILE"})
    edit_cells(folder / "aset.xlsx", "ASET_KELUARGA", {(1, 3): None})
    with pytest.raises(ExtractInvalid, match="DESIL") as caught:
        import_extracts(folder, empty_session)
    assert caught.value.problems == [
        "dtsen.xlsx/DTSEN lacks columns ['DESIL'].",
        "aset.xlsx/ASET_KELUARGA lacks columns ['DAYA_LISTRIK_VA'].",
    ]
    assert count(empty_session, t.people) == 0


def test_missing_sheet_refuses_the_import(folder, empty_session):
    wb = load_workbook(folder / "kepegawaian.xlsx")
    wb["PEGAWAI"].title = "ASN"
    wb.save(folder / "kepegawaian.xlsx")
    with pytest.raises(ExtractInvalid, match="kepegawaian.xlsx has no sheet PEGAWAI"):
        import_extracts(folder, empty_session)


def test_missing_workbook_refuses_the_import(tmp_path, empty_session):
    with pytest.raises(ExtractInvalid, match="is missing") as caught:
        import_extracts(tmp_path, empty_session)
    assert len(caught.value.problems) == 6  # every workbook is named


def test_a_file_that_is_no_workbook_is_refused(folder, empty_session):
    (folder / "dtsen.xlsx").write_text("NO_KK;DESIL\n")
    with pytest.raises(ExtractInvalid, match="dtsen.xlsx is not an .xlsx workbook"):
        import_extracts(folder, empty_session)


# -- sync ----------------------------------------------------------------------------------------
def test_import_replaces_extracts_but_keeps_ledgers(small_extracts, empty_session):
    empty_session.execute(
        insert(t.people).values(
            nik="3510011708459999",
            kk_number="3510010101059999",
            name="OLD",
            sex="M",
            birth_date=date(1945, 8, 17),
            relation="KEPALA",
            district_code="01",
            district_name="PESANGGARAN",
            village="X",
            address="",
            alive=True,
            disability=False,
            pregnant=False,
        )
    )
    empty_session.execute(
        insert(t.outbox).values(
            recipient_nik="3510011708459999",
            channel="SMS",
            template="t",
            params={},
            sent_at=datetime(2025, 1, 1, tzinfo=UTC),
        )
    )
    # The one stored person is all of the table: a deletion only allowed when asked for.
    report = import_extracts(small_extracts, empty_session, max_delete_share=None)
    assert report.counts["sandbox_people"] == SMALL_POPULATION
    assert report.sync["sandbox_people"].as_dict() == {
        "inserted": SMALL_POPULATION,
        "updated": 0,
        "unchanged": 0,
        "deleted": 1,
        "kept": 0,
    }
    assert count(empty_session, t.people) == SMALL_POPULATION
    assert count(empty_session, t.outbox) == 1
    assert report.error_workbook is None and not (small_extracts / ERROR_WORKBOOK).exists()


def test_reimport_changes_nothing_and_writes_nothing(small_extracts, empty_session):
    first = import_extracts(small_extracts, empty_session)
    empty_session.commit()
    writes = write_statements(empty_session)
    again = import_extracts(small_extracts, empty_session)
    assert writes == []
    assert again.counts == first.counts
    assert not again.changed
    for table, sync in again.sync.items():
        assert (sync.inserted, sync.updated, sync.deleted) == (0, 0, 0), table
        assert sync.unchanged == first.counts[table]
    assert again.total("unchanged") == again.rows_read == first.rows_read


def test_a_changed_row_updates_exactly_one_row(folder, empty_session):
    import_extracts(folder, empty_session)
    empty_session.commit()
    nik = read_rows(folder / "dukcapil.xlsx", "PENDUDUK")[5][0]
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", {(6, 10): "JL. MERDEKA 17"})
    writes = write_statements(empty_session)
    report = import_extracts(folder, empty_session)
    assert report.sync["sandbox_people"].as_dict() == {
        "inserted": 0,
        "updated": 1,
        "unchanged": SMALL_POPULATION - 1,
        "deleted": 0,
        "kept": 0,
    }
    assert report.total("updated") == 1 and report.total("inserted") == report.total("deleted") == 0
    assert len(writes) == 1 and writes[0].startswith("UPDATE sandbox_people")
    assert empty_session.scalar(select(t.people.c.address).where(t.people.c.nik == nik)) == "JL. MERDEKA 17"


def test_a_removed_person_is_deleted(folder, empty_session):
    import_extracts(folder, empty_session)
    empty_session.commit()
    number, cells = unreferenced_person_row(folder)
    wb = load_workbook(folder / "dukcapil.xlsx")
    wb["PENDUDUK"].delete_rows(number)
    wb.save(folder / "dukcapil.xlsx")
    report = import_extracts(folder, empty_session)
    assert report.errors == []
    assert report.sync["sandbox_people"].deleted == 1 and report.total("deleted") == 1
    assert report.counts["sandbox_people"] == SMALL_POPULATION - 1
    assert empty_session.scalar(select(func.count()).where(t.people.c.nik == cells[0])) == 0


def test_a_refused_row_keeps_its_stored_version(folder, empty_session):
    import_extracts(folder, empty_session)
    empty_session.commit()
    number, cells = unreferenced_person_row(folder)
    edit_cells(folder / "dukcapil.xlsx", "PENDUDUK", {(number, 3): None, (number, 10): "NEW ADDRESS"})
    report = import_extracts(folder, empty_session)
    assert errors_at(report, "PENDUDUK")[number].reason == "NAMA_LENGKAP is empty"
    assert report.sync["sandbox_people"].kept == 1 and report.total("deleted") == 0
    assert report.counts["sandbox_people"] == SMALL_POPULATION
    stored = empty_session.execute(select(t.people.c.name, t.people.c.address).where(t.people.c.nik == cells[0])).one()
    assert tuple(stored) == (cells[2], cells[9] or "")


def test_a_failure_mid_import_leaves_the_old_data(small_extracts, tmp_path, empty_session, monkeypatch):
    first = import_extracts(small_extracts, empty_session)
    empty_session.commit()
    other = tmp_path / "other"
    generate_population(600, 5, other)  # a different population: inserts, deletes everywhere
    calls = []
    real = importer._insert_batch

    def failing(*args):
        calls.append(args[1].name)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(importer, "_insert_batch", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        import_extracts(other, empty_session, batch_size=100)
    empty_session.rollback()
    assert calls[:2] == ["sandbox_households"] * 2  # two batches went in before the failure
    for table in t.EXTRACT_TABLES:
        assert count(empty_session, table) == first.counts[table.name], table.name
    monkeypatch.setattr(importer, "_insert_batch", real)
    again = import_extracts(small_extracts, empty_session)
    assert not again.changed


def test_progress_is_reported_per_table(small_extracts, empty_session):
    progress = []
    import_extracts(small_extracts, empty_session, progress=lambda s, n: progress.append((s, n)), batch_size=300)
    people = [n for s, n in progress if s == "sandbox_people"]
    assert people == [300, 600, 900, SMALL_POPULATION]
    assert {s for s, _ in progress} == {table.name for table in t.EXTRACT_TABLES}
