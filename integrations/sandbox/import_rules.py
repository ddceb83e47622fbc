"""The rules an extract row must pass: cell parsers per column type, cross-column checks, and how each
sheet maps onto its table (used by the importer; kept apart so the sync logic reads on its own)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Table

from integrations.base import NikInvalid, validate_nik
from integrations.identity import SCHOOL_LEVELS
from integrations.nik import _check_region, nik_day_code
from integrations.registries import CIVIL_SERVICE_CATEGORIES, HEALTH_SEGMENTS
from integrations.sandbox import extracts as x
from integrations.sandbox import tables as t


class RowRefused(ValueError):
    """One reason a row is refused; ``columns`` are the sheet columns at fault."""

    def __init__(self, message: str, columns: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.columns = columns


# -- cell parsers: one per column, raising RowRefused with the reason -----------------------------------
def _not_text(value, column: str) -> str:
    """Render a non-text cell found where text is expected, or refuse it."""
    if isinstance(value, bool):
        raise RowRefused(f"{column} holds TRUE/FALSE where text is expected")
    if isinstance(value, (date, datetime)):
        raise RowRefused(f"{column} holds a date where text is expected")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def _text(column: str, length: int, required: bool = True, default=None):
    def parse(value):
        if value.__class__ is str:
            value = value.strip()
        elif value is not None:
            value = _not_text(value, column)
        if not value:
            if required:
                raise RowRefused(f"{column} is empty")
            return default
        if len(value) > length:
            raise RowRefused(f"{column} is longer than {length} characters")
        return value

    return parse


def _digits(value, column: str) -> str:
    """Return an identity number cell as text; numbers Excel may have rounded are refused."""
    if value.__class__ is str:
        text = value.strip()
    elif value.__class__ is int:
        text = str(value)
    elif isinstance(value, float):
        raise RowRefused(
            f"{column} is stored as a number in floating-point form ({value:.15g}); Excel keeps "
            "only 15 digits, so store identity numbers as text"
        )
    elif value is None:
        text = ""
    else:
        text = _not_text(value, column)
    if not text:
        raise RowRefused(f"{column} is empty")
    return text


def _nik(column: str = "NIK"):
    def parse(value):
        try:
            return validate_nik(_digits(value, column))
        except NikInvalid as exc:
            raise RowRefused(f"{column} invalid ({exc.code}): {exc.message}") from None

    return parse


def _kk(column: str = "NO_KK"):
    """A family-card number: 16 digits, region code, issue date DDMMYY, serial 0001-9999."""

    def parse(value):
        text = _digits(value, column)
        if not (len(text) == 16 and text.isascii() and text.isdigit()):
            raise RowRefused(f"{column} {text!r} is not 16 digits")
        try:
            _check_region(text)
        except NikInvalid as exc:
            raise RowRefused(f"{column} invalid (KK_REGION): {exc.message}") from None
        try:
            date(2000 + int(text[10:12]), int(text[8:10]), int(text[6:8]))
        except ValueError:
            raise RowRefused(f"{column} invalid (KK_DATE): {text[6:12]} is not a real issue date (DDMMYY).") from None
        if text[12:] == "0000":
            raise RowRefused(f"{column} invalid (KK_SERIAL): serial 0000 is never issued.")
        return text

    return parse


_DATE_PATTERNS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y")
_OLDEST = date(1880, 1, 1)


def _date(column: str, required: bool = True, not_in_future: bool = False):
    def parse(value):
        if isinstance(value, datetime):
            value = value.date()
        elif value.__class__ is date:
            pass
        elif value is None or (value.__class__ is str and not value.strip()):
            if required:
                raise RowRefused(f"{column} is empty")
            return None
        elif value.__class__ is str:
            text = value.strip()
            for pattern in _DATE_PATTERNS:
                try:
                    value = datetime.strptime(text, pattern).date()
                    break
                except ValueError:
                    continue
            else:
                raise RowRefused(f"{column} {text!r} is not a date (YYYY-MM-DD)")
        elif isinstance(value, bool):
            raise RowRefused(f"{column} holds TRUE/FALSE, not a date")
        elif isinstance(value, (int, float)):
            raise RowRefused(f"{column} holds the number {value}, not a date")
        else:
            raise RowRefused(f"{column} {value!r} is not a date")
        if value < _OLDEST:
            raise RowRefused(f"{column} {value.isoformat()} is not a plausible date")
        if not_in_future and value > date.today():
            raise RowRefused(f"{column} {value.isoformat()} is in the future")
        return value

    return parse


def _int(column: str, low: int = 0, high: int = 2**31 - 1, required: bool = True):
    def parse(value):
        cls = value.__class__
        if cls is int:
            number = value
        elif cls is str:
            text = value.strip()
            if not text:
                if required:
                    raise RowRefused(f"{column} is empty")
                return None
            try:
                number = int(text)
            except ValueError:
                raise RowRefused(f"{column} {text!r} is not a whole number") from None
        elif value is None:
            if required:
                raise RowRefused(f"{column} is empty")
            return None
        elif cls is bool:
            raise RowRefused(f"{column} holds TRUE/FALSE, not a number")
        elif isinstance(value, float):
            if not value.is_integer():
                raise RowRefused(f"{column} {value} is not a whole number")
            number = int(value)
        elif isinstance(value, (date, datetime)):
            raise RowRefused(f"{column} holds a date, not a number")
        else:
            raise RowRefused(f"{column} {value!r} is not a whole number")
        if not low <= number <= high:
            raise RowRefused(f"{column} {number} is out of range ({low}-{high})")
        return number

    return parse


def _label(column: str, labels: dict, required: bool = True):
    choices = sorted(labels)

    def parse(value):
        if value.__class__ is not str and value is not None:
            value = _not_text(value, column)
        text = (value or "").strip()
        if not text:
            if required:
                raise RowRefused(f"{column} is empty")
            return None
        try:
            return labels[text.upper()]
        except KeyError:
            raise RowRefused(f"{column} {text!r} is not one of {choices}") from None

    return parse


def _district(column: str = "KODE_KECAMATAN"):
    def parse(value):
        if value.__class__ is int:
            value = f"{value:02d}"  # Excel drops the leading zero of codes typed as numbers
        text = _text(column, 2)(value)
        if text not in x.DISTRICT_BY_CODE:
            raise RowRefused(f"{column} {text!r} is not a district of Banyuwangi")
        return text

    return parse


_SEX = x.reverse(x.SEX_LABELS)
_RELATION = x.reverse(x.RELATION_LABELS)
_ALIVE = x.reverse(x.ALIVE_LABELS)
_YES_NO = x.reverse(x.YES_NO)
_ACTIVE = x.reverse(x.ACTIVE_LABELS)
_ROLE = x.reverse(x.ROLE_LABELS)
_SCHOOL = {level: level for level in SCHOOL_LEVELS}
_SEGMENT = {s: s for s in HEALTH_SEGMENTS}
_CATEGORY = {c: c for c in CIVIL_SERVICE_CATEGORIES}
_BIGINT = 2**63 - 1


# -- row checks across columns --------------------------------------------------------------------
def _person_checks(row: dict):
    """Yield RowRefused for a person row contradicting itself (only over the columns that parsed)."""
    nik, sex, born = row.get("nik"), row.get("sex"), row.get("birth_date")
    # The NIK encodes birth date and sex; a row contradicting its own NIK is a data-quality fault.
    if nik is not None and sex is not None and (int(nik[6:8]) > 40) != (sex == "F"):
        yield RowRefused("JENIS_KELAMIN does not match the sex encoded in the NIK", ("JENIS_KELAMIN", "NIK"))
    elif nik is not None and sex is not None and born is not None and nik[6:12] != nik_day_code(born, sex):
        yield RowRefused("TANGGAL_LAHIR does not match the birth date encoded in the NIK", ("TANGGAL_LAHIR", "NIK"))
    death = row.get("death_date")
    if death is not None and row.get("alive") is True:
        yield RowRefused("TANGGAL_MENINGGAL is filled for a living person", ("STATUS_HIDUP", "TANGGAL_MENINGGAL"))
    if death is not None and born is not None and death < born:
        yield RowRefused("TANGGAL_MENINGGAL is before TANGGAL_LAHIR", ("TANGGAL_LAHIR", "TANGGAL_MENINGGAL"))


@dataclass(frozen=True)
class SheetSpec:
    """How one sheet maps onto one table."""

    layout: x.SheetLayout
    table: Table
    fields: tuple  # (sheet column, table column, parser), in table column order
    key: tuple  # table columns identifying a row (the whole row when the table has no natural key)
    refs: tuple = ()  # (table column, referenced table) pairs: the value must be a good row there
    checks: Callable | None = None


SHEET_SPECS = (
    SheetSpec(
        x.HOUSEHOLDS,
        t.households,
        (
            ("NO_KK", "kk_number", _kk()),
            ("KODE_KECAMATAN", "district_code", _district()),
            ("DESA", "village", _text("DESA", 60)),
            ("NIK_KEPALA_KELUARGA", "head_nik", _nik("NIK_KEPALA_KELUARGA")),
        ),
        key=("kk_number",),
    ),
    SheetSpec(
        x.PEOPLE,
        t.people,
        (
            ("NIK", "nik", _nik()),
            ("NO_KK", "kk_number", _kk()),
            ("NAMA_LENGKAP", "name", _text("NAMA_LENGKAP", 120)),
            ("JENIS_KELAMIN", "sex", _label("JENIS_KELAMIN", _SEX)),
            ("TANGGAL_LAHIR", "birth_date", _date("TANGGAL_LAHIR", not_in_future=True)),
            ("HUBUNGAN_KELUARGA", "relation", _label("HUBUNGAN_KELUARGA", _RELATION)),
            ("KODE_KECAMATAN", "district_code", _district()),
            ("NAMA_KECAMATAN", "district_name", _text("NAMA_KECAMATAN", 60)),
            ("DESA", "village", _text("DESA", 60)),
            ("ALAMAT", "address", _text("ALAMAT", 200, required=False, default="")),
            ("STATUS_HIDUP", "alive", _label("STATUS_HIDUP", _ALIVE)),
            ("TANGGAL_MENINGGAL", "death_date", _date("TANGGAL_MENINGGAL", required=False, not_in_future=True)),
            ("PENYANDANG_DISABILITAS", "disability", _label("PENYANDANG_DISABILITAS", _YES_NO)),
            ("STATUS_HAMIL", "pregnant", _label("STATUS_HAMIL", _YES_NO)),
            ("JENJANG_SEKOLAH", "school_level", _label("JENJANG_SEKOLAH", _SCHOOL, required=False)),
            ("FOTO", "photo_ref", _text("FOTO", 200, required=False)),
        ),
        key=("nik",),
        refs=(("kk_number", t.households),),
        checks=_person_checks,
    ),
    SheetSpec(
        x.DTSEN,
        t.dtsen,
        (
            ("NO_KK", "kk_number", _kk()),
            ("DESIL", "decile", _int("DESIL", 1, 10, required=False)),
            ("TANGGAL_PEMUTAKHIRAN", "updated_at", _date("TANGGAL_PEMUTAKHIRAN", required=False)),
        ),
        key=("kk_number",),
        refs=(("kk_number", t.households),),
    ),
    SheetSpec(
        x.BPJS_HEALTH,
        t.bpjs_health,
        (
            ("NIK", "nik", _nik()),
            ("SEGMEN_PESERTA", "segment", _label("SEGMEN_PESERTA", _SEGMENT)),
            ("STATUS_KEPESERTAAN", "active", _label("STATUS_KEPESERTAAN", _ACTIVE)),
        ),
        key=("nik",),
        refs=(("nik", t.people),),
    ),
    SheetSpec(
        x.BPJS_EMPLOYMENT,
        t.bpjs_employment,
        (
            ("NIK", "nik", _nik()),
            ("UPAH_BULANAN", "monthly_wage", _int("UPAH_BULANAN", 0, _BIGINT)),
            ("NAMA_PEMBERI_KERJA", "employer", _text("NAMA_PEMBERI_KERJA", 120, required=False)),
        ),
        key=("nik",),
        refs=(("nik", t.people),),
    ),
    SheetSpec(
        x.ASSETS,
        t.assets,
        (
            ("NO_KK", "kk_number", _kk()),
            ("JUMLAH_KENDARAAN_RODA_EMPAT", "four_wheel_vehicles", _int("JUMLAH_KENDARAAN_RODA_EMPAT")),
            ("DAYA_LISTRIK_VA", "electricity_va", _int("DAYA_LISTRIK_VA")),
            ("SUBSIDI_LISTRIK", "electricity_subsidised", _label("SUBSIDI_LISTRIK", _YES_NO)),
        ),
        key=("kk_number",),
        refs=(("kk_number", t.households),),
    ),
    SheetSpec(
        x.COMPANY_ROLES,
        t.company_roles,
        (
            ("NIK", "nik", _nik()),
            ("JABATAN", "role", _label("JABATAN", _ROLE)),
            ("NAMA_BADAN_USAHA", "company", _text("NAMA_BADAN_USAHA", 120)),
        ),
        key=("nik", "role", "company"),
        refs=(("nik", t.people),),
    ),
    SheetSpec(
        x.CIVIL_SERVICE,
        t.civil_service,
        (
            ("NIK", "nik", _nik()),
            ("KATEGORI", "category", _label("KATEGORI", _CATEGORY)),
        ),
        key=("nik",),
        refs=(("nik", t.people),),
    ),
)


def _check_specs() -> None:
    """Keep the specs honest against the tables and the layouts (runs once, at import time)."""
    if {s.layout for s in SHEET_SPECS} != set(x.ALL_SHEETS) or {s.table for s in SHEET_SPECS} != set(t.EXTRACT_TABLES):
        raise RuntimeError("every extract sheet and table needs exactly one spec")
    for spec in SHEET_SPECS:
        names = [name for _, name, _ in spec.fields]
        expected = [c.name for c in spec.table.columns if not (c.primary_key and c.autoincrement is True)]
        if names != expected or sorted(col for col, _, _ in spec.fields) != sorted(spec.layout.columns):
            raise RuntimeError(f"the import spec of {spec.table.name} does not match its table or sheet")


_check_specs()
