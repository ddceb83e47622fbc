"""The importer refuses what would wreck the registry: mass deletions, XML entity bombs, zip bombs."""

import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from integrations.sandbox import tables as t
from integrations.sandbox.importer import ExtractInvalid, MassDeleteRefused, import_extracts
from integrations.sandbox.xlsx import WorkbookUnreadable, XlsxWorkbook


@pytest.fixture
def loaded(folder, empty_session):
    """The empty session with the extracts imported and committed."""
    import_extracts(folder, empty_session)
    empty_session.commit()
    return empty_session


def counts(session):
    return {table.name: session.scalar(select(func.count()).select_from(table)) for table in t.EXTRACT_TABLES}


def keep_header_only(path, sheet):
    wb = load_workbook(path)
    ws = wb[sheet]
    ws.delete_rows(2, ws.max_row)
    wb.save(path)
    wb.close()


def rewrite_part(path, member, change):
    """Rewrite one part of an .xlsx package with change(bytes) -> bytes."""
    source = path.with_suffix(".orig")
    path.rename(source)
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, change(data) if info.filename == member else data)
    source.unlink()


# Nine levels of ten: one reference would expand to a thousand million "lol"s.
LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)


def billion_laughs(data: bytes) -> bytes:
    text = data.decode()
    declaration, _, body = text.partition("?>") if text.startswith("<?xml") else ("", "", text)
    body = body.replace("</sheetData>", '<row><c t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData>', 1)
    return ((declaration + "?>" if declaration else "") + LAUGHS + body).encode()


# -- mass deletion -------------------------------------------------------------------------------
def test_a_header_only_people_sheet_is_refused_and_changes_nothing(folder, loaded):
    before = counts(loaded)
    keep_header_only(folder / "dukcapil.xlsx", "PENDUDUK")
    with pytest.raises(MassDeleteRefused) as refused:
        import_extracts(folder, loaded)
    loaded.rollback()
    assert [(m.table, m.deleting, m.stored) for m in refused.value.tables] == [
        ("sandbox_people", before["sandbox_people"], before["sandbox_people"])
    ]
    assert "10%" in str(refused.value) and "sandbox_people" in str(refused.value)
    assert counts(loaded) == before


def test_a_mass_deletion_goes_through_when_allowed(folder, loaded):
    before = counts(loaded)
    keep_header_only(folder / "kepegawaian.xlsx", "PEGAWAI")
    report = import_extracts(folder, loaded, max_delete_share=None)
    assert report.sync["sandbox_civil_service"].deleted == before["sandbox_civil_service"] > 0
    assert counts(loaded)["sandbox_civil_service"] == 0


def test_deleting_up_to_the_share_is_allowed_and_above_it_refused(folder, loaded):
    stored = counts(loaded)["sandbox_dtsen"]
    wb = load_workbook(folder / "dtsen.xlsx")
    drop = stored // 10  # exactly 10%: allowed
    wb["DTSEN"].delete_rows(2, drop)
    wb.save(folder / "dtsen.xlsx")
    report = import_extracts(folder, loaded, max_delete_share=0.10)
    assert report.sync["sandbox_dtsen"].deleted == drop
    loaded.rollback()
    wb["DTSEN"].delete_rows(2, 1)  # one more row: over the share
    wb.save(folder / "dtsen.xlsx")
    with pytest.raises(MassDeleteRefused):
        import_extracts(folder, loaded, max_delete_share=0.10)
    loaded.rollback()
    assert counts(loaded)["sandbox_dtsen"] == stored


# -- bombs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "workbook, member",
    [
        ("dukcapil.xlsx", "xl/worksheets/sheet1.xml"),  # parsed by our streaming reader (lxml)
        ("dtsen.xlsx", "xl/workbook.xml"),  # parsed by openpyxl
        ("aset.xlsx", "[Content_Types].xml"),
    ],
)
def test_an_entity_expansion_bomb_is_refused_with_a_clear_error(folder, loaded, workbook, member):
    before = counts(loaded)
    rewrite_part(folder / workbook, member, billion_laughs)
    with pytest.raises(ExtractInvalid) as refused:
        import_extracts(folder, loaded)
    loaded.rollback()
    assert f"{workbook} is refused: its part {member} declares a DTD" in str(refused.value)
    assert counts(loaded) == before


def test_a_zip_bomb_is_refused_before_it_is_inflated(folder, loaded):
    before = counts(loaded)

    def inflate(data: bytes) -> bytes:  # 64 MiB of spaces after the root: compresses a thousandfold
        return data.replace(b"<sheetData>", b"<sheetData>" + b" " * (64 * 1024**2), 1)

    rewrite_part(folder / "dtsen.xlsx", "xl/worksheets/sheet1.xml", inflate)
    with pytest.raises(ExtractInvalid) as refused:
        import_extracts(folder, loaded)
    loaded.rollback()
    assert "dtsen.xlsx is refused: its part xl/worksheets/sheet1.xml would inflate" in str(refused.value)
    assert "zip bomb" in str(refused.value)
    assert counts(loaded) == before


def test_a_sheet_that_breaks_while_streaming_is_an_extract_error_not_a_crash(folder, loaded):
    rewrite_part(
        folder / "dtsen.xlsx",
        "xl/worksheets/sheet1.xml",
        lambda data: data.replace(b"</sheetData>", b"<row><c></row></sheetData>", 1),
    )
    with pytest.raises(ExtractInvalid) as refused:
        import_extracts(folder, loaded)
    assert "dtsen.xlsx: sheet DTSEN is not well-formed XML" in str(refused.value)


def test_a_good_workbook_passes_the_package_check(small_extracts):
    with XlsxWorkbook(small_extracts / "dukcapil.xlsx") as book:
        assert book.sheetnames == ["PENDUDUK", "KELUARGA"]


def test_a_part_without_a_root_element_is_refused(folder):
    rewrite_part(folder / "dtsen.xlsx", "xl/workbook.xml", lambda data: b"<!--" + b"x" * 70_000 + b"-->")
    with pytest.raises(WorkbookUnreadable, match="no root element"):
        XlsxWorkbook(folder / "dtsen.xlsx")
