"""The targeting report: what each exclusion ground kept out, and what was paid to those found eligible.

For every family excluded (its application rejected, or its enrolment removed) the report asks what
the family would have been paid had the ground not applied: the same benefit functions the engine uses
(tasks/benefits.py `calculate`, with the settings' amounts, BANSOS_BENEFITS) applied to the household
the civil registry reported for the decision (the case's civil_registry evidence) and to the programmes
the rules found the family's DTSEN decile qualifies for (recorded on the case with the decision; for a
removed family, on the re-check that removed it). Ages are counted on the day of the decision. A family
whose decile qualifies it for no programme would have been paid nothing: its would-be benefit is 0 and it
is counted apart ("of which Rp0").

Each family is counted once under every ground it failed (its reason codes), and once in the "any
ground" line; the money of a family failing two grounds appears under both grounds but only once in the
"any ground" line, which is the total saved. The ground lines therefore do not add up to that total.

Inclusion: families found eligible (enrolled, or enrolled and under a removal review) and the annual
benefit recorded on their enrolment.

Nothing here names a person; rows are limited to the districts of the officer who asks.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select

from engine.scope import scoped
from forms.reason_codes import ReasonCode
from tasks.benefits import calculate

from .figures import APPROVED_STATUSES
from .models import Application, EvidenceRecord, Recheck
from .statuses import EXCLUDED_STATUSES, CaseStatus

# The report's grounds, in order: (key, Indonesian label, English label, reason codes of the catalogue,
# forms/reason_codes.py). A code not listed falls under "other".
R = ReasonCode
GROUNDS = (
    ("deceased", "Meninggal dunia", "Deceased", (R.DECEASED,)),
    (
        "civil_servant",
        "ASN/TNI/Polri (atau keluarganya)",
        "Civil servant, soldier or police (or their household)",
        (R.CIVIL_SERVANT_HOUSEHOLD,),
    ),
    ("duplicate", "Wajah/keluarga ganda", "Duplicate face or family", (R.DUPLICATE, R.DUPLICATE_FACE_SUSPECTED)),
    ("decile", "Desil DTSEN di atas batas", "DTSEN decile above the cut-off", (R.DECILE_ABOVE_CUTOFF,)),
    (
        "assets",
        "Aset (mobil, listrik non-subsidi, lainnya)",
        "Assets (car, non-subsidised electricity, other)",
        (R.ASSETS_ABOVE_LIMIT, R.FOUR_WHEEL_VEHICLE, R.ELECTRICITY_NON_SUBSIDISED),
    ),
    (
        "wage",
        "Upah di atas UMK (BPJS Ketenagakerjaan)",
        "Wage above the regional minimum (BPJS employment)",
        (R.WAGE_ABOVE_MINIMUM,),
    ),
    (
        "state_paid",
        "Dibayar APBN/APBD, perangkat desa, guru/tenaga kesehatan bersertifikat",
        "Paid from state budgets, village official, certified teacher or health worker",
        (R.STATE_PAID_EMPLOYEE, R.VILLAGE_OFFICIAL, R.CERTIFIED_PROFESSIONAL),
    ),
    ("company", "Pemilik/pengurus perusahaan", "Company owner or director", (R.COMPANY_OWNER,)),
    ("other", "Alasan lain (identitas, wajah, lainnya)", "Other reasons (identity, face, other)", ()),
)
del R
GROUND_KEYS = tuple(g[0] for g in GROUNDS)
_CODE_GROUND = {code.value: key for key, _i, _e, codes in GROUNDS for code in codes}


@dataclass
class Cell:
    """Families and their annual amounts (integer rupiah): cash (PKH + BPNT) and the PBI premium."""

    families: int = 0
    cash: int = 0
    pbi: int = 0
    zero: int = 0  # families whose would-be benefit is Rp0 (no programme for their decile)

    @property
    def total(self):
        return self.cash + self.pbi

    def add(self, cash, pbi):
        self.families += 1
        self.cash += cash
        self.pbi += pbi
        if cash + pbi == 0:
            self.zero += 1

    def merge(self, other):
        self.families += other.families
        self.cash += other.cash
        self.pbi += other.pbi
        self.zero += other.zero

    def as_dict(self):
        return {"families": self.families, "cash": self.cash, "pbi": self.pbi, "total": self.total, "zero": self.zero}


@dataclass
class Area:
    """One district's (or the total's) lines."""

    code: str | None
    name: str
    grounds: dict = field(default_factory=lambda: {k: Cell() for k in GROUND_KEYS})
    excluded: Cell = field(default_factory=Cell)  # any ground, each family once
    included: Cell = field(default_factory=Cell)

    def merge(self, other):
        for key in GROUND_KEYS:
            self.grounds[key].merge(other.grounds[key])
        self.excluded.merge(other.excluded)
        self.included.merge(other.included)

    def as_dict(self):
        return {
            "code": self.code,
            "name": self.name,
            "grounds": {k: c.as_dict() for k, c in self.grounds.items()},
            "excluded": self.excluded.as_dict(),
            "included": self.included.as_dict(),
        }


@dataclass
class TargetingReport:
    districts: list
    total: Area
    computed_at: object = None

    def as_dict(self):
        return {
            "computed_at": self.computed_at.isoformat() if self.computed_at else None,
            "districts": [d.as_dict() for d in self.districts],
            "total": self.total.as_dict(),
        }


def grounds_of(reasons):
    """The report's ground keys for a case's stored reasons (each once; "other" if none is known)."""
    keys = []
    for reason in reasons or []:
        code = reason.get("code") if isinstance(reason, dict) else reason
        key = _CODE_GROUND.get(code, "other")
        if key not in keys:
            keys.append(key)
    return keys or ["other"]


def would_be_benefit(household, programmes, benefits, on):
    """(annual cash, annual PBI premium) the family would receive, by the engine's benefit functions."""
    if not programmes:
        return 0, 0
    result = calculate(household or [], programmes, benefits, today=on)
    return int(result["annual_cash_total"]), int(result["pbi_premium_monthly"]) * 12


def enrolled_benefit(benefits):
    """(annual cash, annual PBI premium) recorded on an enrolled case."""
    benefits = benefits or {}
    return int(benefits.get("annual_cash_total") or 0), int(benefits.get("pbi_premium_monthly") or 0) * 12


def _removals(session, actor):
    """{application id: (civil_registry evidence id or None, programmes or None, day)} of each REMOVED case.

    A removal is decided on its re-check (the case's newest Recheck: a removed case is not re-checked
    again); the re-check's explanation keeps the evidence each criterion used, and the civil registry's
    is the household the decision saw. An answer the case received after that does not count. The same
    explanation keeps the re-check's programme rules (PROGRAMME_<name>: eligible or not): the programmes
    the family's decile qualified for when it was removed, which may differ from those of its enrolment
    (its decile moved meanwhile). None where the re-check kept no such entry (the enrolment's then).
    The day is the re-check's: ages are counted on it.
    """
    a, r = Application, Recheck
    newest = scoped(
        select(func.max(r.id))
        .join(a, a.id == r.application_id)
        .where(a.status == CaseStatus.REMOVED)
        .group_by(r.application_id),
        a.district_code,
        actor,
    )
    found = {}
    rows = session.execute(select(r.application_id, r.explanation, r.checked_at).where(r.id.in_(newest)))
    for app_id, explanation, checked_at in rows:
        entries = [entry for entry in explanation or [] if isinstance(entry, dict)]
        ids = [
            ev.get("id")
            for entry in entries
            for ev in entry.get("evidence") or []
            if isinstance(ev, dict) and ev.get("source") == "civil_registry"
        ]
        ids = [i for i in ids if isinstance(i, int)]
        rules = [e for e in entries if str(e.get("criterion") or "").startswith("PROGRAMME_")]
        programmes = (
            [e["criterion"][len("PROGRAMME_") :] for e in rules if e.get("outcome") == "eligible"] if rules else None
        )
        found[app_id] = (max(ids) if ids else None, programmes, checked_at.date() if checked_at else None)
    return found


def _households(session, actor, removals):
    """The household each excluded case's decision saw: {application id: [member]}.

    A rejected case: the newest civil_registry answer (its decision is the last run that asked). A
    removed case: the answer its removal's re-check used (`_removals`), not a newer one; the
    newest when the re-check kept none. One query over the excluded cases of `actor`'s districts,
    reading only the answer's household (a JSON path, on SQLite and PostgreSQL alike).
    """
    a, ev = Application, EvidenceRecord
    decided_on = {app_id: ev_id for app_id, (ev_id, _p, _d) in removals.items() if ev_id is not None}
    query = scoped(
        select(ev.application_id, ev.id, ev.value["household"].label("household"))
        .join(a, a.id == ev.application_id)
        .where(a.status.in_(EXCLUDED_STATUSES), ev.source == "civil_registry")
        .order_by(ev.application_id, ev.id),
        a.district_code,
        actor,
    )
    found, fixed = {}, set()
    for app_id, ev_id, members in session.execute(query):
        if members is None or app_id in fixed:
            continue
        found[app_id] = members  # the newest answer wins, unless the decision named its own
        if decided_on.get(app_id) == ev_id:
            fixed.add(app_id)
    return found


def _decision_day(app):
    moment = app.decided_at or app.updated_at or app.created_at
    return moment.date() if moment is not None else date.today()


def targeting_report(session, actor, benefits, district_names=None):
    """Compute the report for `actor`'s districts with the programme amounts `benefits` (BANSOS_BENEFITS)."""
    from engine.db import utcnow

    a = Application
    query = scoped(
        select(
            a.id,
            a.district_code,
            a.district_name,
            a.status,
            a.reasons,
            a.programmes,
            a.benefits,
            a.decided_at,
            a.updated_at,
            a.created_at,
        )
        .where(a.status.in_((*EXCLUDED_STATUSES, *APPROVED_STATUSES)))
        .order_by(a.id),
        a.district_code,
        actor,
    )
    rows = session.execute(query).all()
    removals = _removals(session, actor)
    households = _households(session, actor, removals)
    areas = {}
    for row in rows:
        code = row.district_code or "??"
        area = areas.get(code)
        if area is None:
            name = (district_names or {}).get(code) or row.district_name or code
            area = areas[code] = Area(code, name)
        if row.status in APPROVED_STATUSES:
            area.included.add(*enrolled_benefit(row.benefits))
            continue
        # A removed family: the programmes and the day of its removal's re-check (its decile then), else
        # its enrolment's.
        _ev, programmes, day = removals.get(row.id, (None, None, None)) if row.status == "REMOVED" else (None,) * 3
        if programmes is None:
            programmes = row.programmes
        cash, pbi = would_be_benefit(households.get(row.id), programmes, benefits, day or _decision_day(row))
        for key in grounds_of(row.reasons):
            area.grounds[key].add(cash, pbi)
        area.excluded.add(cash, pbi)
    total = Area(None, "")
    for area in areas.values():
        total.merge(area)
    return TargetingReport([areas[c] for c in sorted(areas)], total, utcnow())


def ground_label(key, locale="id"):
    for k, label_id, label_en, _codes in GROUNDS:
        if k == key:
            return label_id if locale == "id" else label_en
    return key


def write_xlsx(report, out, locale="id"):
    """Write the report as an Excel workbook to `out` (a path or a binary file)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    t = (lambda i, e: i) if locale == "id" else (lambda i, e: e)
    wb = Workbook()
    ws = wb.active
    ws.title = t("Penargetan", "Targeting")
    header = [
        t("Kode kecamatan", "District code"),
        t("Kecamatan", "District"),
        t("Baris", "Line"),
        t("Keluarga", "Families"),
        t("Tunai per tahun (Rp)", "Annual cash (Rp)"),
        t("Premi PBI per tahun (Rp)", "Annual PBI premium (Rp)"),
        t("Jumlah per tahun (Rp)", "Annual total (Rp)"),
        t("Di antaranya manfaat Rp0", "Of which Rp0 benefit"),
    ]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)

    def lines(area, code, name):
        for key in GROUND_KEYS:
            c = area.grounds[key]
            ws.append(
                [
                    code,
                    name,
                    t("Pengecualian: ", "Exclusion: ") + ground_label(key, locale),
                    c.families,
                    c.cash,
                    c.pbi,
                    c.total,
                    c.zero,
                ]
            )
        c = area.excluded
        ws.append(
            [
                code,
                name,
                t(
                    "Keluarga dikecualikan (alasan apa pun, dihitung sekali)",
                    "Families excluded (any ground, counted once)",
                ),
                c.families,
                c.cash,
                c.pbi,
                c.total,
                c.zero,
            ]
        )
        c = area.included
        ws.append(
            [
                code,
                name,
                t(
                    "Keluarga layak (terdaftar), manfaat per tahun",
                    "Families found eligible (enrolled), annual benefit",
                ),
                c.families,
                c.cash,
                c.pbi,
                c.total,
                "",
            ]
        )

    for area in report.districts:
        lines(area, area.code, area.name)
    lines(report.total, "", t("Jumlah", "Total"))
    for col, width in zip("ABCDEFGH", (14, 24, 60, 10, 20, 22, 20, 16), strict=False):
        ws.column_dimensions[col].width = width
    method = wb.create_sheet(t("Cara menghitung", "Method"))
    for text in method_text(locale):
        method.append([text])
    method.column_dimensions["A"].width = 160
    wb.save(out)


METHOD = {
    "id": (
        "Cara menghitung: untuk setiap keluarga yang ditolak atau dikeluarkan, dihitung manfaat yang akan "
        "diterimanya seandainya alasan pengecualian tidak berlaku, dengan fungsi yang sama yang dipakai mesin "
        "keputusan (tasks/benefits.py) dan besaran manfaat dari pengaturan, atas data keluarga dari Dukcapil "
        "pada saat keputusan dan program yang sesuai dengan desil DTSEN keluarga itu. Umur dihitung pada "
        "tanggal keputusan. Bagi keluarga yang dikeluarkan dari kepesertaan, keputusan itu adalah pemeriksaan "
        "ulang yang mengeluarkannya: data keluarga, desil dan program pada saat itu, bukan pada saat terdaftar.",
        "Keluarga yang desilnya tidak memenuhi program apa pun tidak akan menerima apa-apa: manfaatnya Rp0 "
        'dan dihitung tersendiri ("di antaranya manfaat Rp0").',
        "Keluarga yang gagal pada beberapa alasan dihitung pada setiap alasan itu, tetapi hanya sekali pada "
        'baris "keluarga dikecualikan (alasan apa pun)"; baris itulah jumlah penghematan. Karena itu baris '
        "per alasan tidak dijumlahkan.",
        "Tunai = PKH + BPNT per tahun; premi PBI = iuran BPJS Kesehatan yang dibayar negara per tahun.",
    ),
    "en": (
        "Method: for every family rejected or removed, the benefit it would have received had the exclusion "
        "not applied is computed with the same functions the decision engine uses (tasks/benefits.py) and the "
        "amounts in the settings, from the household the civil registry reported at the decision and the "
        "programmes the family's DTSEN decile qualifies for. Ages are counted on the day of the decision. For a "
        "family removed from the programme the decision is the re-check that removed it: its household, decile "
        "and programmes then, not at enrolment.",
        "A family whose decile qualifies for no programme would have received nothing: its benefit is Rp0 and "
        'it is counted apart ("of which Rp0").',
        'A family failing several grounds is counted under each of them, but once only in the "families '
        'excluded (any ground)" line, which is the total saved. The ground lines are therefore not added up.',
        "Cash = PKH + BPNT a year; PBI premium = the health-insurance premium the state pays, a year.",
    ),
}


def method_text(locale="id"):
    return METHOD["id" if locale == "id" else "en"]


class ReportCache:
    """The last report per database and set of districts, reused while no case changed.

    A case's every change moves its `updated_at` (cases/listeners.py), so the key includes the count and
    the newest `updated_at` of the cases in those districts (one indexed aggregate): a reused report is
    never stale. The benefit amounts are part of the key too (a settings change computes afresh).
    """

    def __init__(self, size=32):
        self._lock = threading.Lock()
        self._entries = {}
        self._size = size

    def get(self, session, actor, benefits, district_names=None):
        stamp = session.execute(
            scoped(select(func.count(), func.max(Application.updated_at)), Application.district_code, actor)
        ).one()
        regions = None if actor.regions is None else tuple(sorted(actor.regions))
        key = (
            str(session.get_bind().url),
            regions,
            int(stamp[0]),
            str(stamp[1]),
            json.dumps(benefits, sort_keys=True, default=str),
        )
        with self._lock:
            report = self._entries.get(key)
        if report is None:
            report = targeting_report(session, actor, benefits, district_names)
            with self._lock:
                if len(self._entries) >= self._size:
                    self._entries.clear()
                self._entries[key] = report
        return report


cache = ReportCache()
