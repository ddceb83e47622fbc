"""Officer lists as Excel: one helper for every list page (inbox, search results, approvals, cycles).

A list's export has the same rows as the page with its filters (every page of them, up to MAX_ROWS),
the same columns, and personal data masked as on the page (NIKs masked by integrations.nik.mask_nik). No cell is
ever a formula: text goes in as text, even when it starts with "=" (a name or village from an
imported extract could otherwise run in the officer's spreadsheet; cases/csvcells.py does the same
for CSV files). Every export is audited: which list, its filters, how many rows.

    return xlsx_export("inbox", _("Tasks"), headers, rows, filters={"view": "mine"})
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Response, current_app, request
from flask_babel import gettext as _
from flask_login import current_user
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from cases.audit import record
from engine.db import db, unit_of_work

MAX_ROWS = 5000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _local(value):
    """An aware time as the officers' local time without a zone (Excel keeps none)."""
    if value.tzinfo is None:
        return value
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Jakarta"))
    return value.astimezone(zone).replace(tzinfo=None)


def cell(sheet, value):
    """A cell for `value`: numbers and dates as such, anything else as text (never a formula)."""
    if value is None:
        return WriteOnlyCell(sheet, "")
    if isinstance(value, bool):
        value = _("yes") if value else _("no")
    if isinstance(value, datetime):
        out = WriteOnlyCell(sheet, _local(value))
        out.number_format = "yyyy-mm-dd hh:mm"
        return out
    if isinstance(value, (int, float, Decimal, date)):
        return WriteOnlyCell(sheet, value)
    out = WriteOnlyCell(sheet, str(value))
    out.data_type = "s"  # openpyxl would make "=..." a formula; it stays the text it is
    return out


def workbook_bytes(sheets, note=None):
    """The .xlsx bytes of [(title, headers, rows)]: on each sheet an optional note line, the bold headers,
    then the rows."""
    import io

    book = Workbook(write_only=True)
    for title, headers, rows in sheets:
        sheet = book.create_sheet(str(title)[:31])
        if note:
            sheet.append([cell(sheet, note)])
        bold = []
        for header in headers:
            head = cell(sheet, str(header))
            head.font = Font(bold=True)
            bold.append(head)
        sheet.append(bold)
        for row in rows:
            sheet.append([cell(sheet, value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def filter_note(filters):
    """A line saying which filters the list had ("—" parts left out)."""
    shown = [f"{key}={value}" for key, value in (filters or {}).items() if value not in (None, "", [])]
    return _("Filters: %(filters)s", filters=", ".join(shown)) if shown else _("Filters: none")


def xlsx_export(name, title, headers, rows, filters=None, extra=None, sheets=()):
    """Answer an Excel download of a list (rows capped at MAX_ROWS), audited as `list.exported`.

    `filters`: what the page was filtered by (written on the sheet and in the audit entry); `extra`: more
    audit detail (e.g. the case numbers a search export holds); `sheets`: further (title, headers, rows).
    """
    rows = list(rows)
    truncated = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    note = filter_note(filters)
    if truncated:
        note += " · " + _("Only the first %(n)d rows.", n=MAX_ROWS)
    data = workbook_bytes([(title, headers, rows), *sheets], note=note)
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "list.exported",
            target_type="list",
            target_id=name,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail={
                "list": name,
                "filters": {k: v for k, v in (filters or {}).items() if v not in (None, "")},
                "rows": len(rows),
                "truncated": truncated,
                **(extra or {}),
            },
        )
    stamp = datetime.now(ZoneInfo("Asia/Jakarta")).strftime("%Y%m%d-%H%M")
    return Response(
        data,
        mimetype=XLSX,
        headers={"Content-Disposition": f"attachment; filename=tepat-{name}-{stamp}.xlsx", "Cache-Control": "no-store"},
    )
