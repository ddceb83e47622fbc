"""The per-cycle report for the state auditors: planned, approved, sent, paid, failed, returned.

Counts of families (payments) and rupiah, by district, programme and paying channel, limited to the
reader's districts. What each column counts (docs/payments.md, "Auditors' report"):

- planned: families whose entitlements in the cycle add up to more than Rp 0, and that sum;
- approved: the payments made from the approved list (built when the checker approves; none before);
- sent: payments handed to the bank or post office (by file or API), whatever came back since;
- paid: credited to the account or paid out (drawn, or cash at the post office);
- failed: refused by the bank or post office (with a failure code);
- returned: credited but not drawn by the return date, gone back to the treasury;
- awaiting: sent, no result yet (sent = paid + failed + returned + awaiting).

Two grouped queries (entitlements per family, payments per status), whatever the cycle's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from .cycles import payment_figures
from .models import CycleMember, Entitlement, PaymentCycle

COLUMNS = ("planned", "approved", "sent", "paid", "failed", "returned", "awaiting")
# Payment status -> the report's columns it counts in (besides "approved", which counts every payment).
_BY_STATUS = {
    "planned": (),
    "sent": ("sent", "awaiting"),
    "credited": ("sent", "paid"),
    "drawn": ("sent", "paid"),
    "failed": ("sent", "failed"),
    "returned": ("sent", "returned"),
}


@dataclass
class ReportRow:
    district_code: str | None
    programme: str
    channel: str
    figures: dict = field(default_factory=lambda: {c: (0, 0) for c in COLUMNS})

    def add(self, column, count, amount):
        old_count, old_amount = self.figures[column]
        self.figures[column] = (old_count + int(count), old_amount + int(amount))


def _planned(session, cycle_id, regions):
    per_family = (
        select(Entitlement.member_id, func.sum(Entitlement.amount).label("amount"))
        .where(Entitlement.cycle_id == cycle_id)
        .group_by(Entitlement.member_id)
        .having(func.sum(Entitlement.amount) > 0)
        .subquery()
    )
    query = (
        select(CycleMember.district_code, CycleMember.channel, func.count(), func.sum(per_family.c.amount))
        .join(per_family, per_family.c.member_id == CycleMember.id)
        .where(CycleMember.cycle_id == cycle_id)
        .group_by(CycleMember.district_code, CycleMember.channel)
    )
    if regions is not None:
        query = query.where(CycleMember.district_code.in_(sorted(regions)))
    return session.execute(query).all()


def cycle_report(session, cycle_id, regions=None):
    """(rows sorted by district and channel, the total row) of a cycle; `regions` limits the districts."""
    cycle = session.get(PaymentCycle, cycle_id)
    rows = {}

    def row(district, channel):
        key = (district or "", channel)
        if key not in rows:
            rows[key] = ReportRow(district, cycle.programme, channel)
        return rows[key]

    for district, channel, count, amount in _planned(session, cycle.id, regions):
        row(district, channel).add("planned", count, amount or 0)
    approved = cycle.approved_at is not None
    for (district, channel), statuses in payment_figures(session, cycle.id, regions).items():
        target = row(district, channel)
        for status, (count, amount) in statuses.items():
            if approved:
                target.add("approved", count, amount)
            for column in _BY_STATUS.get(status, ()):
                target.add(column, count, amount)
    ordered = [rows[key] for key in sorted(rows)]
    total = ReportRow(None, cycle.programme, "")
    for r in ordered:
        for column in COLUMNS:
            total.add(column, *r.figures[column])
    return ordered, total


def report_workbook(sheets, out):
    """Write [(sheet title, [row, ...])] as an Excel workbook to `out`.

    Every text cell goes through cases.csvcells.neutralise (a leading quote before "=", "+", "-", "@", ...):
    a district name, a reference or an officer's name is never run as a formula. Numbers stay numbers.
    """
    from openpyxl import Workbook

    from cases.csvcells import neutralise

    book = Workbook(write_only=True)
    for title, rows in sheets:
        sheet = book.create_sheet(title[:31])
        for values in rows:
            sheet.append([neutralise(v) for v in values])
    book.save(out)
