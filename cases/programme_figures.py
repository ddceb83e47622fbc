"""The programme dashboard's figures: enrolments and exits per quarter and district.

An enrolment counts in the quarter (Western Indonesian Time) it began; an exit in the quarter its
enrolment ended, by the case's status at the end (REMOVED: removed after a re-check; GRADUATED: left
the programme self-sufficient; other: closed otherwise). Active = enrolments not ended. Limited to the
districts of the officer who asks. A first stage paid at enrolment by the older path (Enrolment.disbursement_ref,
the amount benefits.first_payment; new enrolments pay nothing themselves) counts in the quarter of the enrolment;
payment cycles and PKH commitment checks are counted by `cycle_figures` below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine.scope import scoped
from payments.models import PaymentStatus

from .models import Application, Enrolment
from .statuses import CaseStatus

WIB = ZoneInfo("Asia/Jakarta")
EXIT_KINDS = ("removed", "graduated", "other")


def quarter_of(moment):
    """'2026-Q2' for a UTC moment (the quarter in Western Indonesian Time)."""
    local = moment.astimezone(WIB)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


@dataclass
class Counts:
    enrolled: int = 0
    removed: int = 0
    graduated: int = 0
    other: int = 0
    annual_cash: int = 0  # annual cash of the enrolments begun (quarters) or still active (districts)
    # first stages paid at enrolment by the older path (Enrolment.disbursement_ref); new enrolments pay nothing
    # themselves (the payment cycles pay them), so this counts only the history
    first_payments: int = 0
    first_amount: int = 0

    @property
    def exits(self):
        return self.removed + self.graduated + self.other


@dataclass
class ProgrammeFigures:
    quarters: dict = field(default_factory=dict)  # quarter -> Counts
    districts: dict = field(default_factory=dict)  # district -> Counts (all time) with `active`
    active: dict = field(default_factory=dict)  # district -> active enrolments
    cells: dict = field(default_factory=dict)  # (quarter, district) -> Counts

    def quarter_list(self):
        return sorted(self.quarters)

    def district_list(self):
        return sorted(self.districts)


def _exit_kind(status):
    if status == CaseStatus.REMOVED:
        return "removed"
    if status == CaseStatus.GRADUATED:
        return "graduated"
    return "other"


def programme_figures(session, actor):
    """Count enrolments and exits per quarter and district for `actor`'s districts."""
    e, a = Enrolment, Application
    query = scoped(
        select(a.district_code, a.status, e.enrolled_at, e.ended_at, e.benefits, e.disbursement_ref).join(
            a, a.id == e.application_id
        ),
        a.district_code,
        actor,
    )
    figures = ProgrammeFigures()
    for district, status, enrolled_at, ended_at, benefits, disbursement_ref in session.execute(query):
        district = district or "??"
        cash = int((benefits or {}).get("annual_cash_total") or 0)
        first = int((benefits or {}).get("first_payment") or 0) if disbursement_ref else 0
        per_district = figures.districts.setdefault(district, Counts())
        quarter = quarter_of(enrolled_at)
        for counts in (
            figures.quarters.setdefault(quarter, Counts()),
            figures.cells.setdefault((quarter, district), Counts()),
            per_district,
        ):
            counts.enrolled += 1
            if first:
                counts.first_payments += 1
                counts.first_amount += first
        figures.quarters[quarter].annual_cash += cash
        figures.cells[(quarter, district)].annual_cash += cash
        if ended_at is None:
            figures.active[district] = figures.active.get(district, 0) + 1
            per_district.annual_cash += cash
            continue
        kind = _exit_kind(status)
        end_quarter = quarter_of(ended_at)
        for counts in (
            figures.quarters.setdefault(end_quarter, Counts()),
            figures.cells.setdefault((end_quarter, district), Counts()),
            per_district,
        ):
            setattr(counts, kind, getattr(counts, kind) + 1)
    return figures


def write_xlsx(figures, out, district_label, locale="id", cycles=None):
    """Write the figures as a workbook: per quarter, per district, and per quarter and district."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    t = (lambda i, e: i) if locale == "id" else (lambda i, e: e)
    counts_header = [
        t("Terdaftar baru", "New enrolments"),
        t("Keluar: dikeluarkan", "Exits: removed"),
        t("Keluar: graduasi", "Exits: graduated"),
        t("Keluar: lainnya", "Exits: other"),
        t("Keluar (jumlah)", "Exits (total)"),
    ]

    def row(c):
        return [c.enrolled, c.removed, c.graduated, c.other, c.exits]

    def sheet(ws, header):
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)

    wb = Workbook()
    ws = wb.active
    ws.title = t("Per triwulan", "Per quarter")
    sheet(
        ws,
        [
            t("Triwulan", "Quarter"),
            *counts_header,
            t("Tunai per tahun terdaftar baru (Rp)", "Annual cash of new enrolments (Rp)"),
            t("Pembayaran tahap pertama diminta", "First-stage payments requested"),
            t("Jumlah tahap pertama (Rp)", "First-stage amount (Rp)"),
        ],
    )
    for q in figures.quarter_list():
        c = figures.quarters[q]
        ws.append([q, *row(c), c.annual_cash, c.first_payments, c.first_amount])
    ws = wb.create_sheet(t("Per kecamatan", "Per district"))
    sheet(
        ws,
        [
            t("Kecamatan", "District"),
            *counts_header,
            t("Aktif", "Active"),
            t("Tunai per tahun aktif (Rp)", "Annual cash, active (Rp)"),
        ],
    )
    for d in figures.district_list():
        ws.append(
            [district_label(d), *row(figures.districts[d]), figures.active.get(d, 0), figures.districts[d].annual_cash]
        )
    ws = wb.create_sheet(t("Triwulan x kecamatan", "Quarter x district"))
    sheet(ws, [t("Triwulan", "Quarter"), t("Kecamatan", "District"), *counts_header])
    for q, d in sorted(figures.cells):
        ws.append([q, district_label(d), *row(figures.cells[(q, d)])])
    if cycles is not None:
        write_cycle_sheets(wb, cycles, district_label, locale)
    wb.save(out)


# --- Payment cycles and PKH commitments (issue 12) ---------------------------------------------------
# A cycle counts in the quarter of its first month (its months are calendar months, so Western Indonesian
# Time does not move them); a cycle without months counts in the quarter (WIB) of its cut-off. A payment
# counts in its cycle's quarter and its family's district at the cut-off (CycleMember.district_code). A
# commitment check counts in the quarter it checks (its period) and its family's district; warnings and
# suspended components (entitlement_conditions) count in their cycle's quarter.

PAID = (PaymentStatus.CREDITED, PaymentStatus.DRAWN)


@dataclass
class CycleCounts:
    paid: int = 0
    paid_amount: int = 0
    failed: int = 0
    failed_amount: int = 0
    returned: int = 0
    returned_amount: int = 0
    checks: int = 0
    compliant: int = 0
    warnings: int = 0
    suspended: int = 0


@dataclass
class CycleFigures:
    quarters: dict = field(default_factory=dict)  # quarter -> CycleCounts
    districts: dict = field(default_factory=dict)  # district -> CycleCounts

    def quarter_list(self):
        return sorted(self.quarters)

    def district_list(self):
        return sorted(self.districts)

    def _both(self, quarter, district):
        return (
            self.quarters.setdefault(quarter, CycleCounts()),
            self.districts.setdefault(district or "??", CycleCounts()),
        )


def cycle_quarter(months, cut_off):
    """The quarter a payment cycle counts in: that of its first month, else that of its cut-off (WIB)."""
    first = (months or "").split(",")[0].strip()
    if len(first) == 7 and first[4] == "-":
        return f"{first[:4]}-Q{(int(first[5:]) - 1) // 3 + 1}"
    return quarter_of(cut_off)


def cycle_figures(session, actor):
    """Payments (paid, failed, returned) and commitments (checks, compliant, warnings, suspended components)
    per quarter and district, for `actor`'s districts."""
    from sqlalchemy import func

    from payments.models import CommitmentCheck, CycleMember, EntitlementCondition, Payment, PaymentCycle

    out = CycleFigures()
    p, m, c = Payment, CycleMember, PaymentCycle
    query = scoped(
        select(c.months, c.cut_off, m.district_code, p.status, func.count(), func.sum(p.amount))
        .join(m, m.id == p.member_id)
        .join(c, c.id == p.cycle_id)
        .where(p.status.in_((*PAID, PaymentStatus.FAILED, PaymentStatus.RETURNED)))
        .group_by(c.months, c.cut_off, m.district_code, p.status),
        m.district_code,
        actor,
    )
    for months, cut_off, district, status, n, amount in session.execute(query):
        kind = "paid" if status in PAID else status
        for counts in out._both(cycle_quarter(months, cut_off), district):
            setattr(counts, kind, getattr(counts, kind) + n)
            setattr(counts, f"{kind}_amount", getattr(counts, f"{kind}_amount") + int(amount or 0))
    k = CommitmentCheck
    query = scoped(
        select(k.period, k.district_code, k.compliant, func.count()).group_by(k.period, k.district_code, k.compliant),
        k.district_code,
        actor,
    )
    for period, district, compliant, n in session.execute(query):
        for counts in out._both(period, district):
            counts.checks += n
            counts.compliant += n if compliant else 0
    e = EntitlementCondition
    query = scoped(
        select(c.months, c.cut_off, m.district_code, e.status, func.count())
        .join(m, m.id == e.member_id)
        .join(c, c.id == e.cycle_id)
        .where(e.status.in_(("warning", "suspended")))
        .group_by(c.months, c.cut_off, m.district_code, e.status),
        m.district_code,
        actor,
    )
    for months, cut_off, district, status, n in session.execute(query):
        for counts in out._both(cycle_quarter(months, cut_off), district):
            if status == "warning":
                counts.warnings += n
            else:
                counts.suspended += n
    return out


def write_cycle_sheets(wb, cycles, district_label, locale="id"):
    """Add the payment and commitment sheets (per quarter, per district) to a workbook."""
    from openpyxl.styles import Font

    t = (lambda i, e: i) if locale == "id" else (lambda i, e: e)
    pay = [
        t("Dibayar (diterima/ditarik)", "Paid (credited/drawn)"),
        t("Dibayar (Rp)", "Paid (Rp)"),
        t("Gagal", "Failed"),
        t("Gagal (Rp)", "Failed (Rp)"),
        t("Dikembalikan", "Returned"),
        t("Dikembalikan (Rp)", "Returned (Rp)"),
    ]
    com = [
        t("Pemeriksaan tercatat", "Checks recorded"),
        t("Memenuhi", "Compliant"),
        t("Peringatan", "Warnings"),
        t("Komponen ditangguhkan", "Suspended components"),
    ]
    for title, header, values in (
        (
            t("Pembayaran", "Payments"),
            pay,
            lambda x: [x.paid, x.paid_amount, x.failed, x.failed_amount, x.returned, x.returned_amount],
        ),
        (t("Komitmen", "Commitments"), com, lambda x: [x.checks, x.compliant, x.warnings, x.suspended]),
    ):
        for suffix, first, keys, table, label in (
            (t("per triwulan", "per quarter"), t("Triwulan", "Quarter"), cycles.quarter_list(), cycles.quarters, str),
            (
                t("per kecamatan", "per district"),
                t("Kecamatan", "District"),
                cycles.district_list(),
                cycles.districts,
                district_label,
            ),
        ):
            ws = wb.create_sheet(f"{title} {suffix}"[:31])
            ws.append([first, *header])
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for key in keys:
                ws.append([label(key), *values(table[key])])
    ws = wb.create_sheet(t("Catatan", "Notes"))
    ws.append(
        [
            t(
                "Siklus pembayaran dihitung pada triwulan bulan pertamanya (tanpa bulan: triwulan tanggal batas, WIB); "
                "pembayaran dan peringatan/penangguhan pada kecamatan keluarga saat tanggal batas; pemeriksaan "
                "komitmen pada triwulan yang diperiksa.",
                "A payment cycle counts in the quarter of its first month (without months: the quarter of its "
                "cut-off, WIB); payments and warnings/suspensions in the family's district at the cut-off; "
                "commitment checks in the quarter they check.",
            )
        ]
    )
