"""The programme dashboard's figures: enrolments and exits per quarter and district.

An enrolment counts in the quarter (Western Indonesian Time) it began; an exit in the quarter its
enrolment ended, by the case's status at the end (REMOVED: removed after a re-check; GRADUATED: left
the programme self-sufficient; other: closed otherwise). Active = enrolments not ended. Limited to the
districts of the officer who asks. Commitments (verifikasi komitmen) and payments have no data in
this system yet: the dashboard says so rather than showing zeros. What exists of payments is the first-stage
payment each enrolment requests (Enrolment.disbursement_ref, the amount benefits.first_payment), counted in
the quarter of the enrolment; payment cycles after it are not available yet.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine.scope import scoped

from .models import Application, Enrolment

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
    first_payments: int = 0  # first-stage payments requested at enrolment (payments.request_disbursement)
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
    if status == "REMOVED":
        return "removed"
    if status == "GRADUATED":
        return "graduated"
    return "other"


def programme_figures(session, actor):
    """Count enrolments and exits per quarter and district for `actor`'s districts."""
    e, a = Enrolment, Application
    query = scoped(select(a.district_code, a.status, e.enrolled_at, e.ended_at, e.benefits, e.disbursement_ref)
                   .join(a, a.id == e.application_id), a.district_code, actor)
    figures = ProgrammeFigures()
    for district, status, enrolled_at, ended_at, benefits, disbursement_ref in session.execute(query):
        district = district or "??"
        cash = int((benefits or {}).get("annual_cash_total") or 0)
        first = int((benefits or {}).get("first_payment") or 0) if disbursement_ref else 0
        per_district = figures.districts.setdefault(district, Counts())
        quarter = quarter_of(enrolled_at)
        for counts in (figures.quarters.setdefault(quarter, Counts()),
                       figures.cells.setdefault((quarter, district), Counts()), per_district):
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
        for counts in (figures.quarters.setdefault(end_quarter, Counts()),
                       figures.cells.setdefault((end_quarter, district), Counts()), per_district):
            setattr(counts, kind, getattr(counts, kind) + 1)
    return figures


def write_xlsx(figures, out, district_label, locale="id"):
    """Write the figures as a workbook: per quarter, per district, and per quarter and district."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    t = (lambda i, e: i) if locale == "id" else (lambda i, e: e)
    counts_header = [t("Terdaftar baru", "New enrolments"), t("Keluar: dikeluarkan", "Exits: removed"),
                     t("Keluar: graduasi", "Exits: graduated"), t("Keluar: lainnya", "Exits: other"),
                     t("Keluar (jumlah)", "Exits (total)")]

    def row(c):
        return [c.enrolled, c.removed, c.graduated, c.other, c.exits]

    def sheet(ws, header):
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)

    wb = Workbook()
    ws = wb.active
    ws.title = t("Per triwulan", "Per quarter")
    sheet(ws, [t("Triwulan", "Quarter"), *counts_header, t("Tunai per tahun terdaftar baru (Rp)",
                                                             "Annual cash of new enrolments (Rp)"),
               t("Pembayaran tahap pertama diminta", "First-stage payments requested"),
               t("Jumlah tahap pertama (Rp)", "First-stage amount (Rp)")])
    for q in figures.quarter_list():
        c = figures.quarters[q]
        ws.append([q, *row(c), c.annual_cash, c.first_payments, c.first_amount])
    ws = wb.create_sheet(t("Per kecamatan", "Per district"))
    sheet(ws, [t("Kecamatan", "District"), *counts_header, t("Aktif", "Active"),
               t("Tunai per tahun aktif (Rp)", "Annual cash, active (Rp)")])
    for d in figures.district_list():
        ws.append([district_label(d), *row(figures.districts[d]), figures.active.get(d, 0),
                   figures.districts[d].annual_cash])
    ws = wb.create_sheet(t("Triwulan x kecamatan", "Quarter x district"))
    sheet(ws, [t("Triwulan", "Quarter"), t("Kecamatan", "District"), *counts_header])
    for (q, d) in sorted(figures.cells):
        ws.append([q, district_label(d), *row(figures.cells[(q, d)])])
    ws = wb.create_sheet(t("Komitmen dan pembayaran", "Commitments and payments"))
    ws.append([t("Belum tersedia: data verifikasi komitmen dan siklus pembayaran (setelah tahap pertama) belum ada "
                 "di sistem ini. Pembayaran tahap pertama ada di lembar per triwulan.",
                 "Not available yet: commitment checks and payment cycles (after the first stage) have no data in "
                 "this system. First-stage payments are on the per-quarter sheet.")])
    wb.save(out)
