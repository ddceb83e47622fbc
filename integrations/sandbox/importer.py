"""Load registry extract workbooks into the sandbox tables, validating every row."""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from openpyxl import load_workbook
from sqlalchemy.orm import Session

from integrations.base import NikInvalid, validate_nik
from integrations.nik import nik_day_code
from integrations.identity import SCHOOL_LEVELS
from integrations.registries import CIVIL_SERVICE_CATEGORIES, HEALTH_SEGMENTS
from integrations.sandbox import extracts as x
from integrations.sandbox import tables as t

BATCH_SIZE = 5_000


class ExtractInvalid(ValueError):
    """An extract cannot be imported at all (missing workbook, sheet or column)."""


class _RowInvalid(ValueError):
    pass


@dataclass(frozen=True)
class RowError:
    """One skipped row: where it is and why."""

    workbook: str
    sheet: str
    row: int  # spreadsheet row number, header is row 1
    reason: str


@dataclass
class ImportReport:
    """Rows imported per table and the rows skipped."""

    counts: dict = field(default_factory=dict)
    errors: list = field(default_factory=list)


# -- cell parsing --------------------------------------------------------------------------------
def _text(value, column: str, required: bool = True) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _RowInvalid(f"{column} is empty")
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # numbers typed into Excel come back as floats
    return str(value).strip()


def _number16(value, column: str) -> str:
    text = _text(value, column)
    if not (len(text) == 16 and text.isdigit()):
        raise _RowInvalid(f"{column} {text!r} is not 16 digits")
    return text


def _nik(value, column: str = "NIK") -> str:
    text = _text(value, column)
    try:
        return validate_nik(text)
    except NikInvalid as exc:
        raise _RowInvalid(f"{column} invalid ({exc.code}): {exc.message}") from None


def _date(value, column: str, required: bool = True) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value, column, required)
    if text is None:
        return None
    for pattern in ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise _RowInvalid(f"{column} {text!r} is not a date")


def _int(value, column: str, low: int = 0, high: int | None = None) -> int:
    text = _text(value, column)
    try:
        number = int(text)
    except ValueError:
        raise _RowInvalid(f"{column} {text!r} is not a whole number") from None
    if number < low or (high is not None and number > high):
        raise _RowInvalid(f"{column} {number} is out of range")
    return number


def _label(value, column: str, labels: dict, required: bool = True):
    text = _text(value, column, required)
    if text is None:
        return None
    try:
        return labels[text.upper()]
    except KeyError:
        raise _RowInvalid(f"{column} {text!r} is not one of {sorted(labels)}") from None


_SEX = x.reverse(x.SEX_LABELS)
_RELATION = x.reverse(x.RELATION_LABELS)
_ALIVE = x.reverse(x.ALIVE_LABELS)
_YES_NO = x.reverse(x.YES_NO)
_ACTIVE = x.reverse(x.ACTIVE_LABELS)
_ROLE = x.reverse(x.ROLE_LABELS)
_SCHOOL = {level: level for level in SCHOOL_LEVELS}
_SEGMENT = {s: s for s in HEALTH_SEGMENTS}
_CATEGORY = {c: c for c in CIVIL_SERVICE_CATEGORIES}


# -- row converters: cells (by column name) -> table row ------------------------------------------
def _person(c: dict) -> dict:
    nik = _nik(c["NIK"])
    born = _date(c["TANGGAL_LAHIR"], "TANGGAL_LAHIR")
    sex = _label(c["JENIS_KELAMIN"], "JENIS_KELAMIN", _SEX)
    # The NIK encodes birth date and sex; a row contradicting its own NIK is a data-quality fault.
    if (int(nik[6:8]) > 40) != (sex == "F"):
        raise _RowInvalid("JENIS_KELAMIN does not match the sex encoded in the NIK")
    if nik[6:12] != nik_day_code(born, sex):
        raise _RowInvalid("TANGGAL_LAHIR does not match the birth date encoded in the NIK")
    district = _text(c["KODE_KECAMATAN"], "KODE_KECAMATAN")
    if district not in x.DISTRICT_BY_CODE:
        raise _RowInvalid(f"KODE_KECAMATAN {district!r} is not a district of Banyuwangi")
    alive = _label(c["STATUS_HIDUP"], "STATUS_HIDUP", _ALIVE)
    death = _date(c["TANGGAL_MENINGGAL"], "TANGGAL_MENINGGAL", required=False)
    if alive and death is not None:
        raise _RowInvalid("TANGGAL_MENINGGAL is filled for a living person")
    return {
        "nik": nik, "kk_number": _number16(c["NO_KK"], "NO_KK"),
        "name": _text(c["NAMA_LENGKAP"], "NAMA_LENGKAP"), "sex": sex, "birth_date": born,
        "relation": _label(c["HUBUNGAN_KELUARGA"], "HUBUNGAN_KELUARGA", _RELATION),
        "district_code": district,
        "district_name": _text(c["NAMA_KECAMATAN"], "NAMA_KECAMATAN"),
        "village": _text(c["DESA"], "DESA"), "address": _text(c["ALAMAT"], "ALAMAT", False) or "",
        "alive": alive, "death_date": death,
        "disability": _label(c["PENYANDANG_DISABILITAS"], "PENYANDANG_DISABILITAS", _YES_NO),
        "pregnant": _label(c["STATUS_HAMIL"], "STATUS_HAMIL", _YES_NO),
        "school_level": _label(c["JENJANG_SEKOLAH"], "JENJANG_SEKOLAH", _SCHOOL, required=False),
        "photo_ref": _text(c["FOTO"], "FOTO", required=False),
    }


def _household(c: dict) -> dict:
    district = _text(c["KODE_KECAMATAN"], "KODE_KECAMATAN")
    if district not in x.DISTRICT_BY_CODE:
        raise _RowInvalid(f"KODE_KECAMATAN {district!r} is not a district of Banyuwangi")
    return {"kk_number": _number16(c["NO_KK"], "NO_KK"), "district_code": district,
            "village": _text(c["DESA"], "DESA"),
            "head_nik": _nik(c["NIK_KEPALA_KELUARGA"], "NIK_KEPALA_KELUARGA")}


def _dtsen(c: dict) -> dict:
    decile = None if c["DESIL"] in (None, "") else _int(c["DESIL"], "DESIL", 1, 10)
    return {"kk_number": _number16(c["NO_KK"], "NO_KK"), "decile": decile,
            "updated_at": _date(c["TANGGAL_PEMUTAKHIRAN"], "TANGGAL_PEMUTAKHIRAN", required=False)}


def _health(c: dict) -> dict:
    return {"nik": _nik(c["NIK"]), "segment": _label(c["SEGMEN_PESERTA"], "SEGMEN_PESERTA", _SEGMENT),
            "active": _label(c["STATUS_KEPESERTAAN"], "STATUS_KEPESERTAAN", _ACTIVE)}


def _employment(c: dict) -> dict:
    return {"nik": _nik(c["NIK"]), "monthly_wage": _int(c["UPAH_BULANAN"], "UPAH_BULANAN"),
            "employer": _text(c["NAMA_PEMBERI_KERJA"], "NAMA_PEMBERI_KERJA", required=False)}


def _assets(c: dict) -> dict:
    return {"kk_number": _number16(c["NO_KK"], "NO_KK"),
            "four_wheel_vehicles": _int(c["JUMLAH_KENDARAAN_RODA_EMPAT"], "JUMLAH_KENDARAAN_RODA_EMPAT"),
            "electricity_va": _int(c["DAYA_LISTRIK_VA"], "DAYA_LISTRIK_VA"),
            "electricity_subsidised": _label(c["SUBSIDI_LISTRIK"], "SUBSIDI_LISTRIK", _YES_NO)}


def _company_role(c: dict) -> dict:
    return {"nik": _nik(c["NIK"]), "role": _label(c["JABATAN"], "JABATAN", _ROLE),
            "company": _text(c["NAMA_BADAN_USAHA"], "NAMA_BADAN_USAHA")}


def _civil_service(c: dict) -> dict:
    return {"nik": _nik(c["NIK"]), "category": _label(c["KATEGORI"], "KATEGORI", _CATEGORY)}


# layout -> (table, converter, unique key column or None)
_PLAN = (
    (x.PEOPLE, t.people, _person, "nik"),
    (x.HOUSEHOLDS, t.households, _household, "kk_number"),
    (x.DTSEN, t.dtsen, _dtsen, "kk_number"),
    (x.BPJS_HEALTH, t.bpjs_health, _health, "nik"),
    (x.BPJS_EMPLOYMENT, t.bpjs_employment, _employment, "nik"),
    (x.ASSETS, t.assets, _assets, "kk_number"),
    (x.COMPANY_ROLES, t.company_roles, _company_role, None),
    (x.CIVIL_SERVICE, t.civil_service, _civil_service, "nik"),
)


def _open_all(folder: Path, stack: ExitStack) -> dict:
    books = {}
    for name in sorted({layout.workbook for layout in x.ALL_SHEETS}):
        path = folder / name
        if not path.is_file():
            raise ExtractInvalid(f"Extract {name} is missing from {folder}.")
        # Opening is costly (openpyxl scans sheets that lack a size record): open each file once.
        books[name] = load_workbook(path, read_only=True, data_only=True)
        stack.callback(books[name].close)
    return books


def _sheet(books: dict, layout: x.SheetLayout):
    wb = books[layout.workbook]
    if layout.sheet not in wb.sheetnames:
        raise ExtractInvalid(f"{layout.workbook} has no sheet {layout.sheet}.")
    sheet = wb[layout.sheet]
    # Without this, openpyxl may scan the whole sheet for its size before the first row.
    sheet.reset_dimensions()
    return sheet


def _header(sheet) -> list[str]:
    first = next(sheet.iter_rows(max_row=1, values_only=True), ())
    return [str(h).strip().upper() if h is not None else "" for h in first]


def _check_headers(books: dict) -> None:
    """Refuse the whole import before touching the tables when a sheet or column is missing."""
    for layout in x.ALL_SHEETS:
        found = set(_header(_sheet(books, layout)))
        missing = [col for col in layout.columns if col not in found]
        if missing:
            raise ExtractInvalid(f"{layout.workbook}/{layout.sheet} lacks columns {missing}.")


def _import_sheet(books, session, layout, table, convert, unique, report, progress, batch_size):
    seen: set[int] = set()
    batch: list[dict] = []
    count = 0
    rows = _sheet(books, layout).iter_rows(values_only=True)
    header = [str(h).strip().upper() if h is not None else "" for h in next(rows)]
    positions = [(col, header.index(col)) for col in layout.columns]
    for number, cells in enumerate(rows, start=2):
        if cells is None or all(v is None for v in cells):
            continue
        padded = tuple(cells) + (None,) * (len(header) - len(cells))
        try:
            row = convert({col: padded[i] for col, i in positions})
            if unique is not None:
                key = int(row[unique])
                if key in seen:
                    raise _RowInvalid(f"duplicate {unique} {row[unique]}")
                seen.add(key)
        except _RowInvalid as exc:
            report.errors.append(RowError(layout.workbook, layout.sheet, number, str(exc)))
            continue
        batch.append(row)
        if len(batch) >= batch_size:
            session.execute(table.insert(), batch)
            count += len(batch)
            batch = []
            if progress:
                progress(f"{layout.workbook}/{layout.sheet}", count)
    if batch:
        session.execute(table.insert(), batch)
        count += len(batch)
    if progress:
        progress(f"{layout.workbook}/{layout.sheet}", count)
    report.counts[table.name] = count


def import_extracts(
    folder,
    session: Session,
    progress: Callable[[str, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Replace the sandbox registry tables with the extracts in ``folder``; the caller commits.

    Bad rows are skipped and reported; a missing workbook, sheet or column raises ExtractInvalid
    before anything is deleted. Payments and the outbox are the sandbox's own ledgers and stay.
    """
    report = ImportReport()
    with ExitStack() as stack:
        books = _open_all(Path(folder), stack)
        _check_headers(books)
        for table in reversed(t.EXTRACT_TABLES):
            session.execute(table.delete())
        for layout, table, convert, unique in _PLAN:
            _import_sheet(books, session, layout, table, convert, unique, report, progress, batch_size)
    session.flush()
    return report
