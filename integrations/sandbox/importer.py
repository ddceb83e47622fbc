"""Synchronise the sandbox registry tables with the registry extract workbooks, row by row.

An import is a sync: every sheet row is validated; good rows are compared with what is stored and
inserted, updated or left alone; stored rows the extract no longer lists are deleted. Bad rows are
reported (and written to an error workbook) and leave their stored version as it was. Everything
happens in the caller's session and transaction: the caller commits, or rolls back on an exception,
so an import is never half applied.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from integrations.base import NikInvalid, validate_nik
from integrations.identity import SCHOOL_LEVELS
from integrations.nik import _check_region, nik_day_code
from integrations.registries import CIVIL_SERVICE_CATEGORIES, HEALTH_SEGMENTS
from integrations.sandbox import extracts as x
from integrations.sandbox import tables as t
from integrations.sandbox.xlsx import FORMULA, WorkbookUnreadable, XlsxWorkbook

BATCH_SIZE = 5_000
ERROR_WORKBOOK = "import-errors.xlsx"  # written next to the extracts unless told otherwise
_DELETE_CHUNK = 500  # keys per DELETE ... IN (...), well under every driver's parameter limit


class ExtractInvalid(ValueError):
    """The extracts cannot be imported at all (a workbook, sheet or column is missing)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


class _Bad(ValueError):
    """One reason a row is refused; ``columns`` are the sheet columns at fault."""

    def __init__(self, message: str, columns: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.columns = columns


@dataclass(frozen=True)
class RowError:
    """One refused row: where it is, which columns are at fault, why, and its original cells."""

    workbook: str
    sheet: str
    row: int  # spreadsheet row number, header is row 1
    reason: str
    columns: tuple = ()  # offending column names
    values: tuple = ()  # the row's cells as read, in the sheet's header order

    def __str__(self) -> str:
        where = f"{self.workbook}/{self.sheet} row {self.row}"
        return f"{where} [{', '.join(self.columns)}]: {self.reason}" if self.columns else f"{where}: {self.reason}"


@dataclass
class TableSync:
    """What an import did to one table."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    kept: int = 0  # stored rows left as they were because the extract's row for them was refused

    @property
    def present(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.kept

    def as_dict(self) -> dict:
        return {"inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged,
                "deleted": self.deleted, "kept": self.kept}


@dataclass
class ImportReport:
    """Rows present per table after the import, what changed, and the refused rows."""

    counts: dict = field(default_factory=dict)  # table name -> rows present now
    errors: list = field(default_factory=list)  # RowError
    sync: dict = field(default_factory=dict)  # table name -> TableSync
    error_workbook: Path | None = None  # where the refused rows were written, if any
    rows_read: int = 0  # data rows read from all sheets
    seconds: float = 0.0

    def total(self, what: str) -> int:
        """Sum one TableSync attribute ('inserted', 'updated', ...) over the tables."""
        return sum(getattr(s, what) for s in self.sync.values())

    @property
    def changed(self) -> bool:
        return any(s.inserted or s.updated or s.deleted for s in self.sync.values())


# -- cell parsers: one per column, raising _Bad with the reason -----------------------------------
def _not_text(value, column: str) -> str:
    """Render a non-text cell found where text is expected, or refuse it."""
    if isinstance(value, bool):
        raise _Bad(f"{column} holds TRUE/FALSE where text is expected")
    if isinstance(value, (date, datetime)):
        raise _Bad(f"{column} holds a date where text is expected")
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
                raise _Bad(f"{column} is empty")
            return default
        if len(value) > length:
            raise _Bad(f"{column} is longer than {length} characters")
        return value
    return parse


def _digits(value, column: str) -> str:
    """Return an identity number cell as text; numbers Excel may have rounded are refused."""
    if value.__class__ is str:
        text = value.strip()
    elif value.__class__ is int:
        text = str(value)
    elif isinstance(value, float):
        raise _Bad(f"{column} is stored as a number in floating-point form ({value:.15g}); Excel keeps "
                   "only 15 digits, so store identity numbers as text")
    elif value is None:
        text = ""
    else:
        text = _not_text(value, column)
    if not text:
        raise _Bad(f"{column} is empty")
    return text


def _nik(column: str = "NIK"):
    def parse(value):
        try:
            return validate_nik(_digits(value, column))
        except NikInvalid as exc:
            raise _Bad(f"{column} invalid ({exc.code}): {exc.message}") from None
    return parse


def _kk(column: str = "NO_KK"):
    """A family-card number: 16 digits, region code, issue date DDMMYY, serial 0001-9999."""
    def parse(value):
        text = _digits(value, column)
        if not (len(text) == 16 and text.isascii() and text.isdigit()):
            raise _Bad(f"{column} {text!r} is not 16 digits")
        try:
            _check_region(text)
        except NikInvalid as exc:
            raise _Bad(f"{column} invalid (KK_REGION): {exc.message}") from None
        try:
            date(2000 + int(text[10:12]), int(text[8:10]), int(text[6:8]))
        except ValueError:
            raise _Bad(f"{column} invalid (KK_DATE): {text[6:12]} is not a real issue date (DDMMYY).") from None
        if text[12:] == "0000":
            raise _Bad(f"{column} invalid (KK_SERIAL): serial 0000 is never issued.")
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
                raise _Bad(f"{column} is empty")
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
                raise _Bad(f"{column} {text!r} is not a date (YYYY-MM-DD)")
        elif isinstance(value, bool):
            raise _Bad(f"{column} holds TRUE/FALSE, not a date")
        elif isinstance(value, (int, float)):
            raise _Bad(f"{column} holds the number {value}, not a date")
        else:
            raise _Bad(f"{column} {value!r} is not a date")
        if value < _OLDEST:
            raise _Bad(f"{column} {value.isoformat()} is not a plausible date")
        if not_in_future and value > date.today():
            raise _Bad(f"{column} {value.isoformat()} is in the future")
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
                    raise _Bad(f"{column} is empty")
                return None
            try:
                number = int(text)
            except ValueError:
                raise _Bad(f"{column} {text!r} is not a whole number") from None
        elif value is None:
            if required:
                raise _Bad(f"{column} is empty")
            return None
        elif cls is bool:
            raise _Bad(f"{column} holds TRUE/FALSE, not a number")
        elif isinstance(value, float):
            if not value.is_integer():
                raise _Bad(f"{column} {value} is not a whole number")
            number = int(value)
        elif isinstance(value, (date, datetime)):
            raise _Bad(f"{column} holds a date, not a number")
        else:
            raise _Bad(f"{column} {value!r} is not a whole number")
        if not low <= number <= high:
            raise _Bad(f"{column} {number} is out of range ({low}-{high})")
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
                raise _Bad(f"{column} is empty")
            return None
        try:
            return labels[text.upper()]
        except KeyError:
            raise _Bad(f"{column} {text!r} is not one of {choices}") from None
    return parse


def _district(column: str = "KODE_KECAMATAN"):
    def parse(value):
        if value.__class__ is int:
            value = f"{value:02d}"  # Excel drops the leading zero of codes typed as numbers
        text = _text(column, 2)(value)
        if text not in x.DISTRICT_BY_CODE:
            raise _Bad(f"{column} {text!r} is not a district of Banyuwangi")
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
    """Yield _Bad for a person row contradicting itself (only over the columns that parsed)."""
    nik, sex, born = row.get("nik"), row.get("sex"), row.get("birth_date")
    # The NIK encodes birth date and sex; a row contradicting its own NIK is a data-quality fault.
    if nik is not None and sex is not None and (int(nik[6:8]) > 40) != (sex == "F"):
        yield _Bad("JENIS_KELAMIN does not match the sex encoded in the NIK", ("JENIS_KELAMIN", "NIK"))
    elif nik is not None and sex is not None and born is not None and nik[6:12] != nik_day_code(born, sex):
        yield _Bad("TANGGAL_LAHIR does not match the birth date encoded in the NIK", ("TANGGAL_LAHIR", "NIK"))
    death = row.get("death_date")
    if death is not None and row.get("alive") is True:
        yield _Bad("TANGGAL_MENINGGAL is filled for a living person", ("STATUS_HIDUP", "TANGGAL_MENINGGAL"))
    if death is not None and born is not None and death < born:
        yield _Bad("TANGGAL_MENINGGAL is before TANGGAL_LAHIR", ("TANGGAL_LAHIR", "TANGGAL_MENINGGAL"))


@dataclass(frozen=True)
class _Spec:
    """How one sheet maps onto one table."""

    layout: x.SheetLayout
    table: Table
    fields: tuple  # (sheet column, table column, parser), in table column order
    key: tuple  # table columns identifying a row (the whole row when the table has no natural key)
    refs: tuple = ()  # (table column, referenced table) pairs: the value must be a good row there
    checks: Callable | None = None


_SPECS = (
    _Spec(x.HOUSEHOLDS, t.households, (
        ("NO_KK", "kk_number", _kk()),
        ("KODE_KECAMATAN", "district_code", _district()),
        ("DESA", "village", _text("DESA", 60)),
        ("NIK_KEPALA_KELUARGA", "head_nik", _nik("NIK_KEPALA_KELUARGA")),
    ), key=("kk_number",)),
    _Spec(x.PEOPLE, t.people, (
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
    ), key=("nik",), refs=(("kk_number", t.households),), checks=_person_checks),
    _Spec(x.DTSEN, t.dtsen, (
        ("NO_KK", "kk_number", _kk()),
        ("DESIL", "decile", _int("DESIL", 1, 10, required=False)),
        ("TANGGAL_PEMUTAKHIRAN", "updated_at", _date("TANGGAL_PEMUTAKHIRAN", required=False)),
    ), key=("kk_number",), refs=(("kk_number", t.households),)),
    _Spec(x.BPJS_HEALTH, t.bpjs_health, (
        ("NIK", "nik", _nik()),
        ("SEGMEN_PESERTA", "segment", _label("SEGMEN_PESERTA", _SEGMENT)),
        ("STATUS_KEPESERTAAN", "active", _label("STATUS_KEPESERTAAN", _ACTIVE)),
    ), key=("nik",), refs=(("nik", t.people),)),
    _Spec(x.BPJS_EMPLOYMENT, t.bpjs_employment, (
        ("NIK", "nik", _nik()),
        ("UPAH_BULANAN", "monthly_wage", _int("UPAH_BULANAN", 0, _BIGINT)),
        ("NAMA_PEMBERI_KERJA", "employer", _text("NAMA_PEMBERI_KERJA", 120, required=False)),
    ), key=("nik",), refs=(("nik", t.people),)),
    _Spec(x.ASSETS, t.assets, (
        ("NO_KK", "kk_number", _kk()),
        ("JUMLAH_KENDARAAN_RODA_EMPAT", "four_wheel_vehicles", _int("JUMLAH_KENDARAAN_RODA_EMPAT")),
        ("DAYA_LISTRIK_VA", "electricity_va", _int("DAYA_LISTRIK_VA")),
        ("SUBSIDI_LISTRIK", "electricity_subsidised", _label("SUBSIDI_LISTRIK", _YES_NO)),
    ), key=("kk_number",), refs=(("kk_number", t.households),)),
    _Spec(x.COMPANY_ROLES, t.company_roles, (
        ("NIK", "nik", _nik()),
        ("JABATAN", "role", _label("JABATAN", _ROLE)),
        ("NAMA_BADAN_USAHA", "company", _text("NAMA_BADAN_USAHA", 120)),
    ), key=("nik", "role", "company"), refs=(("nik", t.people),)),
    _Spec(x.CIVIL_SERVICE, t.civil_service, (
        ("NIK", "nik", _nik()),
        ("KATEGORI", "category", _label("KATEGORI", _CATEGORY)),
    ), key=("nik",), refs=(("nik", t.people),)),
)


def _check_specs() -> None:
    """Keep the specs honest against the tables and the layouts (runs once, at import time)."""
    if {s.layout for s in _SPECS} != set(x.ALL_SHEETS) or {s.table for s in _SPECS} != set(t.EXTRACT_TABLES):
        raise RuntimeError("every extract sheet and table needs exactly one spec")
    for spec in _SPECS:
        names = [name for _, name, _ in spec.fields]
        expected = [c.name for c in spec.table.columns if not (c.primary_key and c.autoincrement is True)]
        if names != expected or sorted(col for col, _, _ in spec.fields) != sorted(spec.layout.columns):
            raise RuntimeError(f"the import spec of {spec.table.name} does not match its table or sheet")


_check_specs()


# -- reading -------------------------------------------------------------------------------------
def _open_all(folder: Path, books: dict) -> list[str]:
    problems = []
    for name in sorted({layout.workbook for layout in x.ALL_SHEETS}):
        path = folder / name
        if not path.is_file():
            problems.append(f"Extract {name} is missing from {folder}.")
            continue
        try:
            books[name] = XlsxWorkbook(path)
        except WorkbookUnreadable as exc:
            problems.append(str(exc))
    return problems


def _header(book: XlsxWorkbook, sheet: str) -> list[str]:
    for _number, values, _flags in book.rows(sheet):
        return [str(h).strip().upper() if h is not None else "" for h in values]
    return []


def _check_layouts(books: dict) -> tuple[dict, list[str]]:
    """Return each sheet's header, and the problems that forbid the whole import."""
    headers, problems = {}, []
    for layout in x.ALL_SHEETS:
        book = books.get(layout.workbook)
        if book is None:
            continue
        if layout.sheet not in book.sheetnames:
            problems.append(f"{layout.workbook} has no sheet {layout.sheet} (it has {book.sheetnames}).")
            continue
        header = _header(book, layout.sheet)
        missing = [col for col in layout.columns if col not in header]
        twice = sorted({col for col in layout.columns if header.count(col) > 1})
        if missing:
            problems.append(f"{layout.workbook}/{layout.sheet} lacks columns {missing}.")
        if twice:
            problems.append(f"{layout.workbook}/{layout.sheet} has columns {twice} more than once.")
        headers[layout] = header
    return headers, problems


class _Keys:
    """The good keys of a table, and the rows of refused ones, for references from other sheets."""

    def __init__(self, where: str):
        self.where = where
        self.good: set = set()
        self.refused: dict = {}

    def explain(self, column: str, value) -> str:
        if value in self.refused:
            return f"{column} {value} refers to {self.where} row {self.refused[value]}, which was refused"
        return f"{column} {value} is not in {self.where}"


# -- writing -------------------------------------------------------------------------------------
def _insert_batch(conn, table: Table, names: tuple, rows: list) -> None:
    conn.execute(table.insert(), [dict(zip(names, row)) for row in rows])


def _update_batch(conn, table: Table, names: tuple, key: str, rows: list) -> None:
    # Parameters named k_<key> select the row; the other names are the columns SET.
    where = table.c[key] == bindparam(f"k_{key}")
    params = []
    for row in rows:
        values = dict(zip(names, row))
        values[f"k_{key}"] = values.pop(key)
        params.append(values)
    conn.execute(table.update().where(where), params)


def _delete_keys(conn, table: Table, column: str, keys: list) -> None:
    for start in range(0, len(keys), _DELETE_CHUNK):
        conn.execute(table.delete().where(table.c[column].in_(keys[start:start + _DELETE_CHUNK])))


class _Writer:
    """Batches one table's inserts and updates."""

    def __init__(self, conn, spec: _Spec, batch_size: int):
        self.conn, self.spec, self.batch_size = conn, spec, batch_size
        self.names = tuple(name for _, name, _ in spec.fields)
        self.inserts: list = []
        self.updates: list = []

    def insert(self, row: tuple) -> None:
        self.inserts.append(row)
        if len(self.inserts) >= self.batch_size:
            self.flush()

    def update(self, row: tuple) -> None:
        self.updates.append(row)
        if len(self.updates) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self.inserts:
            _insert_batch(self.conn, self.spec.table, self.names, self.inserts)
            self.inserts = []
        if self.updates:
            _update_batch(self.conn, self.spec.table, self.names, self.spec.key[0], self.updates)
            self.updates = []


def _stored(conn, spec: _Spec, names: tuple):
    """Return key -> stored row (tuple) and, for tables without a natural key, key -> id and
    the ids of stored duplicates."""
    table = spec.table
    columns = [table.c[name] for name in names]
    if len(spec.key) == 1:
        index = names.index(spec.key[0])
        return {row[index]: tuple(row) for row in conn.execute(select(*columns))}, None, []
    ids, duplicates = {}, []
    for row in conn.execute(select(table.c.id, *columns).order_by(table.c.id)):
        key = tuple(row[1:])
        if key in ids:
            duplicates.append(row[0])
        else:
            ids[key] = row[0]
    return {key: key for key in ids}, ids, duplicates


def _known_first(parse, good: set):
    """Skip validating an identity number that is already a good key of the table it refers to."""
    def parse_known(value):
        if value.__class__ is str:
            text = value.strip()
            if text in good:
                return text
        return parse(value)
    return parse_known


def _sync_sheet(book, header, conn, spec: _Spec, keys: dict, report: ImportReport, progress,
                batch_size: int) -> None:
    layout, table = spec.layout, spec.table
    names = tuple(name for _, name, _ in spec.fields)
    width = len(header)
    targets = dict(spec.refs)
    fields = tuple((column, header.index(column),
                    _known_first(parse, keys[targets[name].name].good) if name in targets else parse)
                   for column, name, parse in spec.fields)
    key_at = tuple(names.index(k) for k in spec.key)
    key_columns = tuple(spec.fields[i][0] for i in key_at)
    single = key_at[0] if len(key_at) == 1 else None
    refs = tuple((names.index(name), spec.fields[names.index(name)][0], keys[target.name])
                 for name, target in spec.refs)
    mine = keys[table.name] = _Keys(f"{layout.workbook}/{layout.sheet}")
    first_row: dict = {}  # key -> row number where it was first seen
    stored, ids, duplicates = _stored(conn, spec, names)
    sync = report.sync[table.name] = TableSync()
    writer = _Writer(conn, spec, batch_size)
    name = table.name
    missing = object()
    done = 0
    rows = book.rows(layout.sheet, width)
    next(rows, None)  # the header
    for number, values, flags in rows:
        if not any(v is not None and v != "" for v in values):
            continue
        done += 1
        if progress and done % batch_size == 0:
            progress(name, done)
        row = []
        problems = None
        for column, index, parse in fields:
            if flags and index in flags:
                value = values[index]
                reason = (f"{column} holds a formula ({value}) instead of a value" if flags[index] == FORMULA
                          else f"{column} holds the error value {value}")
                problems = problems or []
                problems.append(_Bad(reason, (column,)))
                row.append(missing)
                continue
            try:
                row.append(parse(values[index]))
            except _Bad as exc:
                problems = problems or []
                problems.append(_Bad(exc.message, exc.columns or (column,)))
                row.append(missing)
        if spec.checks is not None:
            for problem in spec.checks({n: v for n, v in zip(names, row) if v is not missing}):
                problems = problems or []
                problems.append(problem)
        key = row[single] if single is not None else tuple(row[i] for i in key_at)
        key_ok = key is not missing if single is not None else missing not in key
        if key_ok:
            first = first_row.get(key)
            if first is not None:
                shown = key if single is not None else ", ".join(map(str, key))
                problems = problems or []
                label = key_columns[0] if single is not None else " + ".join(key_columns)
                problems.append(_Bad(f"duplicate {label} {shown}: first at row {first}", key_columns))
            else:
                first_row[key] = number
        for index, column, target in refs:
            value = row[index]
            if value is not missing and value not in target.good:
                problems = problems or []
                problems.append(_Bad(target.explain(column, value), (column,)))
        if problems:
            columns = tuple(dict.fromkeys(c for p in problems for c in p.columns))
            report.errors.append(RowError(layout.workbook, layout.sheet, number,
                                          "; ".join(p.message for p in problems), columns, tuple(values)))
            if key_ok and key not in mine.good:
                mine.refused.setdefault(key, number)
            continue
        row = tuple(row)
        mine.good.add(key)
        old = stored.pop(key, None)
        if old is None:
            writer.insert(row)
            sync.inserted += 1
        elif old != row:
            writer.update(row)
            sync.updated += 1
        else:
            sync.unchanged += 1
    writer.flush()
    report.rows_read += done
    # Stored rows the extract no longer lists go; those whose new row was refused stay as they were.
    gone = [key for key in stored if key not in mine.refused]
    sync.kept = len(stored) - len(gone)
    if ids is None:
        _delete_keys(conn, table, spec.key[0], gone)
    else:
        _delete_keys(conn, table, "id", [ids[key] for key in gone] + duplicates)
    sync.deleted = len(gone) + len(duplicates)
    report.counts[name] = sync.present
    if progress:
        progress(name, done)


# -- error workbook ------------------------------------------------------------------------------
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
        sheet.append(["WORKBOOK", "SHEET", "ROW", "COLUMNS", "REASON",
                      *[h or f"(column {i + 1})" for i, h in enumerate(headers[layout])]])
        for e in rows:
            sheet.append([e.workbook, e.sheet, e.row, ", ".join(e.columns), _text_cell(sheet, e.reason),
                          *[_text_cell(sheet, v) for v in e.values]])
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


# -- entry point ---------------------------------------------------------------------------------
def import_extracts(
    folder,
    session: Session,
    progress: Callable[[str, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    error_workbook_path=None,
) -> ImportReport:
    """Synchronise the sandbox registry tables with the extracts in ``folder``; the caller commits.

    Every row is validated; refused rows are listed in ``report.errors`` and written to an error
    workbook (``error_workbook_path``, by default ``<folder>/import-errors.xlsx``; a stale one at the
    default place is removed when there are no errors) and keep their stored version. A missing
    workbook, sheet or column raises ExtractInvalid before anything is written. ``progress(table,
    rows_read)`` is called every ``batch_size`` rows and when a table is done. On any exception the
    caller must roll back: nothing is committed here. Payments and the outbox are the sandbox's own
    ledgers and stay.
    """
    started = time.perf_counter()
    folder = Path(folder)
    default_errors = folder / ERROR_WORKBOOK
    report = ImportReport()
    books: dict = {}
    try:
        problems = _open_all(folder, books)
        headers, more = _check_layouts(books)
        problems += more
        if problems:
            raise ExtractInvalid(" ".join(problems), problems)
        conn = session.connection()
        keys: dict = {}
        for spec in _SPECS:
            _sync_sheet(books[spec.layout.workbook], headers[spec.layout], conn, spec, keys, report,
                        progress, batch_size)
    finally:
        for book in books.values():
            book.close()
    if report.errors:
        report.error_workbook = write_error_workbook(error_workbook_path or default_errors,
                                                     report.errors, headers)
    elif error_workbook_path is None and default_errors.is_file():
        try:
            default_errors.unlink()  # the errors of an earlier import no longer hold
        except OSError:
            pass
    report.seconds = time.perf_counter() - started
    return report
