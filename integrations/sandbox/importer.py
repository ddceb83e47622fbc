"""Synchronise the sandbox registry tables with the registry extract workbooks, row by row.

An import is a sync: every sheet row is validated; good rows are compared with what is stored and
inserted, updated or left alone; stored rows the extract no longer lists are deleted. Bad rows are
reported (and written to an error workbook) and leave their stored version as it was. Everything
happens in the caller's session and transaction: the caller commits, or rolls back on an exception,
so an import is never half applied.

An extract that would delete more than a set share of a table's stored rows (a sheet saved with its
header only, the wrong file, a truncated export) is refused as a whole (MassDeleteRefused) unless
the caller allows it: the sync would otherwise wipe the registry and exit as if all were well.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from integrations.sandbox import extracts as x
from integrations.sandbox.import_errors import write_error_workbook
from integrations.sandbox.import_rules import SHEET_SPECS, RowRefused, SheetSpec
from integrations.sandbox.xlsx import FORMULA, WorkbookUnreadable, XlsxWorkbook

BATCH_SIZE = 5_000
DEFAULT_MAX_DELETE_SHARE = 0.10  # settings.BANSOS_IMPORT_MAX_DELETE_SHARE; None allows any deletion
ERROR_WORKBOOK = "import-errors.xlsx"  # written next to the extracts unless told otherwise
_DELETE_CHUNK = 500  # keys per DELETE ... IN (...), well under every driver's parameter limit


class ExtractInvalid(ValueError):
    """The extracts cannot be imported at all (a workbook, sheet or column is missing)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


@dataclass(frozen=True)
class MassDelete:
    """A table the import would empty too far: how many stored rows it would delete, of how many."""

    table: str
    deleting: int
    stored: int

    @property
    def share(self) -> float:
        return self.deleting / self.stored if self.stored else 0.0


class MassDeleteRefused(ValueError):
    """The import would delete more than the allowed share of some table's stored rows."""

    def __init__(self, limit: float, tables: list):
        self.limit = limit
        self.tables = tables  # MassDelete
        shown = "; ".join(f"{t.table}: {t.deleting} of {t.stored} rows ({t.share:.0%})" for t in tables)
        super().__init__(f"the import would delete more than {limit:.0%} of the stored rows ({shown})")


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
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "kept": self.kept,
        }


@dataclass
class ImportReport:
    """Rows present per table after the import, what changed, and the refused rows."""

    counts: dict = field(default_factory=dict)  # table name -> rows present now
    errors: list = field(default_factory=list)  # RowError
    sync: dict = field(default_factory=dict)  # table name -> TableSync
    error_workbook: Path | None = None  # where the refused rows were written, if any
    rows_read: int = 0  # data rows read from all sheets
    seconds: float = 0.0
    mass_deletes: list = field(default_factory=list)  # MassDelete, tables over the deletion limit

    def total(self, what: str) -> int:
        """Sum one TableSync attribute ('inserted', 'updated', ...) over the tables."""
        return sum(getattr(s, what) for s in self.sync.values())

    @property
    def changed(self) -> bool:
        return any(s.inserted or s.updated or s.deleted for s in self.sync.values())


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
    conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])


def _update_batch(conn, table: Table, names: tuple, key: str, rows: list) -> None:
    # Parameters named k_<key> select the row; the other names are the columns SET.
    where = table.c[key] == bindparam(f"k_{key}")
    params = []
    for row in rows:
        values = dict(zip(names, row, strict=True))
        values[f"k_{key}"] = values.pop(key)
        params.append(values)
    conn.execute(table.update().where(where), params)


def _delete_keys(conn, table: Table, column: str, keys: list) -> None:
    for start in range(0, len(keys), _DELETE_CHUNK):
        conn.execute(table.delete().where(table.c[column].in_(keys[start : start + _DELETE_CHUNK])))


class _Writer:
    """Batches one table's inserts and updates."""

    def __init__(self, conn, spec: SheetSpec, batch_size: int):
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


def _stored(conn, spec: SheetSpec, names: tuple):
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


def _sync_sheet(
    book,
    header,
    conn,
    spec: SheetSpec,
    keys: dict,
    report: ImportReport,
    progress,
    batch_size: int,
    max_delete_share: float | None,
) -> None:
    layout, table = spec.layout, spec.table
    names = tuple(name for _, name, _ in spec.fields)
    width = len(header)
    targets = dict(spec.refs)
    fields = tuple(
        (column, header.index(column), _known_first(parse, keys[targets[name].name].good) if name in targets else parse)
        for column, name, parse in spec.fields
    )
    key_at = tuple(names.index(k) for k in spec.key)
    key_columns = tuple(spec.fields[i][0] for i in key_at)
    single = key_at[0] if len(key_at) == 1 else None
    refs = tuple(
        (names.index(name), spec.fields[names.index(name)][0], keys[target.name]) for name, target in spec.refs
    )
    mine = keys[table.name] = _Keys(f"{layout.workbook}/{layout.sheet}")
    first_row: dict = {}  # key -> row number where it was first seen
    stored, ids, duplicates = _stored(conn, spec, names)
    stored_before = len(stored) + len(duplicates)
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
        row: list[Any] = []
        problems = None
        for column, index, parse in fields:
            if flags and index in flags:
                value = values[index]
                reason = (
                    f"{column} holds a formula ({value}) instead of a value"
                    if flags[index] == FORMULA
                    else f"{column} holds the error value {value}"
                )
                problems = problems or []
                problems.append(RowRefused(reason, (column,)))
                row.append(missing)
                continue
            try:
                row.append(parse(values[index]))
            except RowRefused as exc:
                problems = problems or []
                problems.append(RowRefused(exc.message, exc.columns or (column,)))
                row.append(missing)
        if spec.checks is not None:
            for problem in spec.checks({n: v for n, v in zip(names, row, strict=True) if v is not missing}):
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
                problems.append(RowRefused(f"duplicate {label} {shown}: first at row {first}", key_columns))
            else:
                first_row[key] = number
        for index, column, target in refs:
            value = row[index]
            if value is not missing and value not in target.good:
                problems = problems or []
                problems.append(RowRefused(target.explain(column, value), (column,)))
        if problems:
            columns = tuple(dict.fromkeys(c for p in problems for c in p.columns))
            report.errors.append(
                RowError(
                    layout.workbook,
                    layout.sheet,
                    number,
                    "; ".join(p.message for p in problems),
                    columns,
                    tuple(values),
                )
            )
            if key_ok and key not in mine.good:
                mine.refused.setdefault(key, number)
            continue
        parsed = tuple(row)
        mine.good.add(key)
        old = stored.pop(key, None)
        if old is None:
            writer.insert(parsed)
            sync.inserted += 1
        elif old != parsed:
            writer.update(parsed)
            sync.updated += 1
        else:
            sync.unchanged += 1
    writer.flush()
    report.rows_read += done
    # Stored rows the extract no longer lists go; those whose new row was refused stay as they were.
    gone = [key for key in stored if key not in mine.refused]
    sync.kept = len(stored) - len(gone)
    sync.deleted = len(gone) + len(duplicates)
    report.counts[name] = sync.present
    if max_delete_share is not None and sync.deleted > max_delete_share * stored_before:
        # Refused as a whole by import_extracts once every sheet is read; nothing to delete here.
        report.mass_deletes.append(MassDelete(name, sync.deleted, stored_before))
    elif ids is None:
        _delete_keys(conn, table, spec.key[0], gone)
    else:
        _delete_keys(conn, table, "id", [ids[key] for key in gone] + duplicates)
    if progress:
        progress(name, done)


# -- entry point ---------------------------------------------------------------------------------
def import_extracts(
    folder,
    session: Session,
    progress: Callable[[str, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    error_workbook_path=None,
    max_delete_share: float | None = DEFAULT_MAX_DELETE_SHARE,
) -> ImportReport:
    """Synchronise the sandbox registry tables with the extracts in ``folder``; the caller commits.

    Every row is validated; refused rows are listed in ``report.errors`` and written to an error
    workbook (``error_workbook_path``, by default ``<folder>/import-errors.xlsx``; a stale one at the
    default place is removed when there are no errors) and keep their stored version. A missing
    workbook, sheet or column raises ExtractInvalid before anything is written. ``progress(table,
    rows_read)`` is called every ``batch_size`` rows and when a table is done. On any exception the
    caller must roll back: nothing is committed here. An import that would delete more than
    ``max_delete_share`` of any table's stored rows raises MassDeleteRefused after reading every
    sheet (None allows it); the caller rolls back. Payments and the outbox are the sandbox's own
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
        for spec in SHEET_SPECS:
            _sync_sheet(
                books[spec.layout.workbook],
                headers[spec.layout],
                conn,
                spec,
                keys,
                report,
                progress,
                batch_size,
                max_delete_share,
            )
    except WorkbookUnreadable as exc:  # a sheet that turned out damaged or unsafe while reading
        raise ExtractInvalid(str(exc)) from None
    finally:
        for book in books.values():
            book.close()
    if report.mass_deletes:
        assert max_delete_share is not None  # only a limit finds mass deletes
        raise MassDeleteRefused(max_delete_share, report.mass_deletes)
    if report.errors:
        report.error_workbook = write_error_workbook(error_workbook_path or default_errors, report.errors, headers)
    elif error_workbook_path is None and default_errors.is_file():
        try:
            default_errors.unlink()  # the errors of an earlier import no longer hold
        except OSError:
            pass
    report.seconds = time.perf_counter() - started
    return report
