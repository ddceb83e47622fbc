"""PKH commitments (verifikasi komitmen): quarterly school attendance and health checks per family member.

Recorded one by one by facilitators in the field, or imported from Excel (schools, posyandu/puskesmas).
Each check is decided compliant when recorded, by `[commitments]` in processes/payment_schedule.toml; the
entitlement step of a payment cycle turns them into warnings and suspensions (payments/conditions.py).

Excel layout (first sheet, header on row 1, one row per member, component and quarter):

| column | header | content |
|---|---|---|
| A | NIK | the member's NIK, 16 digits (text) |
| B | No KK | the family card number of the enrolled family, 16 digits |
| C | Komponen | SD, SMP, SMA (school) or pregnant, child_0_6 (health) |
| D | Periode | the quarter, YYYY-Qn (e.g. 2026-Q3) |
| E | Kehadiran (%) | school: percent of school days attended, 0-100 (empty for health) |
| F | Pemeriksaan | health: Ya / Tidak (check done at the posyandu/puskesmas; empty for school) |

Bad rows are refused line by line (the good ones are kept) and listed in an error workbook.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field

from sqlalchemy import select

from cases.models import Application, Enrolment, EnrolmentComponent
from cases.statuses import CaseStatus
from engine.errors import EngineError
from integrations.nik import mask_nik

from .conditions import strikes_query
from .models import CommitmentCheck, CommitmentImport

MAX_FILE_BYTES = 50 * 1024 * 1024
NIK = re.compile(r"^\d{16}$")
PERIOD = re.compile(r"^(\d{4})-Q([1-4])$")
HEADERS = ("NIK", "No KK", "Komponen", "Periode", "Kehadiran (%)", "Pemeriksaan")
YES = {"ya", "y", "yes", "1", "true", "sudah"}
NO = {"tidak", "t", "no", "0", "false", "belum"}

REASONS = {  # code -> (Indonesian, English)
    "TOO_LARGE": ("Berkas lebih dari 50 MB", "The file is larger than 50 MB"),
    "NOT_EXCEL": ("Berkas bukan buku kerja Excel (.xlsx)", "The file is not an Excel workbook (.xlsx)"),
    "BAD_HEADER": (
        "Baris judul tidak sesuai format (NIK, No KK, Komponen, Periode, Kehadiran (%), Pemeriksaan)",
        "The header row does not match the layout (NIK, No KK, Komponen, Periode, Kehadiran (%), Pemeriksaan)",
    ),
    "BAD_NIK": ("NIK harus 16 angka", "The NIK must be 16 digits"),
    "BAD_KK": ("No KK harus 16 angka", "The family card number must be 16 digits"),
    "UNKNOWN_FAMILY": (
        "Tidak ada keluarga penerima PKH aktif dengan No KK ini",
        "No enrolled PKH family has this family card number",
    ),
    "OUT_OF_SCOPE": ("Keluarga ini di luar kecamatan Anda", "This family is outside your districts"),
    "BAD_COMPONENT": (
        "Komponen harus SD, SMP, SMA, pregnant atau child_0_6",
        "The component must be SD, SMP, SMA, pregnant or child_0_6",
    ),
    "NOT_A_COMPONENT": ("Keluarga ini tidak menerima komponen tersebut", "The family does not get this component"),
    "BAD_PERIOD": ("Periode harus berbentuk TTTT-Qn, misalnya 2026-Q3", "The period must be YYYY-Qn, e.g. 2026-Q3"),
    "BAD_ATTENDANCE": ("Kehadiran harus angka 0 sampai 100", "Attendance must be a number from 0 to 100"),
    "BAD_CHECK": ("Pemeriksaan harus Ya atau Tidak", "The health check must be Ya or Tidak"),
}


class CommitmentRefused(EngineError):
    code = "COMMITMENT_REFUSED"

    def __init__(self, reason, **detail):
        super().__init__(REASONS[reason][1], reason=reason, **detail)
        self.reason = reason


@dataclass
class ImportReport:
    accepted: int = 0
    refused: list = field(default_factory=list)  # [(line, code, values)]
    import_id: int | None = None


def _digits(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def record_check(
    session,
    rule,
    actor,
    *,
    kk_number,
    nik,
    category,
    period,
    attendance=None,
    checked=None,
    source="field",
    regions=None,
):
    """Record (or correct) one quarter's check of one member and component; return the CommitmentCheck.

    Raises CommitmentRefused with the reason code when the row is wrong. `regions`: the districts the actor
    may record for (None: all).
    """
    nik, kk_number, category, period = (
        _digits(nik),
        _digits(kk_number),
        str(category or "").strip(),
        str(period or "").strip().upper(),
    )
    if not NIK.match(nik):
        raise CommitmentRefused("BAD_NIK")
    if not NIK.match(kk_number):
        raise CommitmentRefused("BAD_KK")
    kind = rule.kind(category)
    if kind is None:
        raise CommitmentRefused("BAD_COMPONENT")
    if not PERIOD.match(period):
        raise CommitmentRefused("BAD_PERIOD")
    if kind == "school":
        try:
            attendance = int(str(attendance).strip().rstrip("%")) if attendance not in (None, "") else None
        except ValueError:
            attendance = -1
        if attendance is None or not 0 <= attendance <= 100:
            raise CommitmentRefused("BAD_ATTENDANCE")
        checked = None
    else:
        if isinstance(checked, str):
            word = checked.strip().lower()
            checked = True if word in YES else False if word in NO else None
        if not isinstance(checked, bool):
            raise CommitmentRefused("BAD_CHECK")
        attendance = None
    found = session.execute(
        select(Application.id, Application.district_code, Enrolment.id)
        .join(Enrolment, Enrolment.application_id == Application.id)
        .where(
            Application.kk_number == kk_number, Application.status == CaseStatus.ENROLLED, Enrolment.ended_at.is_(None)
        )
    ).first()
    if found is None:
        raise CommitmentRefused("UNKNOWN_FAMILY")
    app_id, district, enrolment_id = found
    if regions is not None and district not in regions:
        raise CommitmentRefused("OUT_OF_SCOPE")
    has = session.scalar(
        select(EnrolmentComponent.id)
        .where(
            EnrolmentComponent.enrolment_id == enrolment_id,
            EnrolmentComponent.programme == rule.programme,
            EnrolmentComponent.category == category,
        )
        .limit(1)
    )
    if has is None:
        raise CommitmentRefused("NOT_A_COMPONENT")
    row = session.execute(
        select(CommitmentCheck).where(
            CommitmentCheck.enrolment_id == enrolment_id,
            CommitmentCheck.member_nik == nik,
            CommitmentCheck.category == category,
            CommitmentCheck.period == period,
        )
    ).scalar_one_or_none()
    if row is None:
        row = CommitmentCheck(
            enrolment_id=enrolment_id,
            application_id=app_id,
            district_code=district,
            member_nik=nik,
            category=category,
            period=period,
        )
        session.add(row)
    row.attendance, row.checked = attendance, checked
    row.compliant = rule.compliant(category, attendance=attendance, checked=checked)
    row.source, row.recorded_by = source, getattr(actor, "id", None)
    session.flush()
    return row


def read_workbook(data, file_name=""):
    """Rows of an uploaded workbook [(line, values)]; raises CommitmentRefused TOO_LARGE / NOT_EXCEL / BAD_HEADER."""
    from openpyxl import load_workbook

    if len(data) > MAX_FILE_BYTES:
        raise CommitmentRefused("TOO_LARGE")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise CommitmentRefused("NOT_EXCEL")
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken or foreign zip
        raise CommitmentRefused("NOT_EXCEL") from exc
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None) or ()
    if tuple(str(h or "").strip().lower() for h in header[:6]) != tuple(h.lower() for h in HEADERS):
        raise CommitmentRefused("BAD_HEADER")
    out = []
    for line, values in enumerate(rows, start=2):
        values = tuple(values[:6]) + (None,) * (6 - len(values[:6]))
        if all(v in (None, "") for v in values):
            continue
        out.append((line, values))
    return out


def import_workbook(session, rule, actor, data, file_name, regions=None):
    """Import a quarter's list; each bad row is refused with its reason, the good rows are kept. Audited."""
    from cases.audit import record

    report = ImportReport()
    for line, values in read_workbook(data, file_name):
        nik, kk, category, period, attendance, checked = values
        try:
            with session.begin_nested():
                record_check(
                    session,
                    rule,
                    actor,
                    kk_number=kk,
                    nik=nik,
                    category=category,
                    period=period,
                    attendance=attendance,
                    checked=checked,
                    source="import",
                    regions=regions,
                )
            report.accepted += 1
        except CommitmentRefused as exc:
            report.refused.append((line, exc.reason, values))
    row = CommitmentImport(
        file_name=(file_name or "")[:200],
        imported_by=getattr(actor, "id", None),
        accepted=report.accepted,
        refused=len(report.refused),
        refusals=[
            [line, code, ["" if v is None else str(v) for v in values]] for line, code, values in report.refused[:5000]
        ],
    )
    session.add(row)
    session.flush()
    report.import_id = row.id
    record(
        session,
        actor,
        "commitments.imported",
        "commitment_import",
        str(row.id),
        detail={
            "file": row.file_name,
            "accepted": report.accepted,
            "refused": len(report.refused),
            "refused_lines": [line for line, _, _ in report.refused[:200]],
        },
    )
    session.flush()
    return report


def error_workbook(refused, out, english=False):
    """The refused rows [(line, code, values)] (their values and the reason) as an Excel workbook written to `out`."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Ditolak"
    sheet.append(["Baris" if not english else "Line", *HEADERS, "Alasan" if not english else "Reason"])
    for line, code, values in refused:
        cells = ["" if v is None else str(v) for v in values]
        sheet.append([line, *cells, REASONS[code][1 if english else 0]])
    for row in sheet.iter_rows(min_row=2, min_col=2, max_col=3):
        for cell in row:
            cell.number_format = "@"
    book.save(out)


STATUS_TEXT = {  # status -> (Indonesian explanation and what to do, English)
    "compliant": (
        "Komitmen terpenuhi. Bantuan komponen ini dibayar penuh.",
        "Commitment met. This component is paid in full.",
    ),
    "warning": (
        "Peringatan: komitmen belum terpenuhi pada triwulan lalu (kehadiran sekolah kurang atau "
        "pemeriksaan kesehatan tidak dilakukan). Bantuan tetap dibayar kali ini. Pastikan anak hadir di "
        "sekolah / periksa ke posyandu atau puskesmas triwulan ini, agar bantuan tidak ditangguhkan.",
        "Warning: the commitment was not met last quarter. Still paid this time; attend school / the "
        "health check this quarter so the component is not suspended.",
    ),
    "suspended": (
        "Ditangguhkan: komitmen tidak terpenuhi beberapa triwulan berturut-turut, sehingga bantuan "
        "komponen ini tidak dibayar. Bantuan dibayar lagi setelah satu triwulan komitmen terpenuhi. "
        "Hubungi pendamping PKH Anda.",
        "Suspended: the commitment was missed several quarters in a row, so this component is not "
        "paid. It is paid again after one compliant quarter. Contact your PKH facilitator.",
    ),
}


def family_status(session, rule, enrolment_id, before_period, warn_after, suspend_after):
    """[(member_nik, category, status, last period)] of a family's checked members, as the next cycle whose first
    quarter is `before_period` will see them (the same rule as the entitlement step)."""
    strikes = {(c, n): (s, last) for _e, c, n, s, last in session.execute(strikes_query(before_period, [enrolment_id]))}
    seen = session.execute(
        select(CommitmentCheck.member_nik, CommitmentCheck.category)
        .where(CommitmentCheck.enrolment_id == enrolment_id, CommitmentCheck.period < before_period)
        .distinct()
    ).all()
    out = []
    for nik, category in sorted(set(seen), key=lambda r: (r[1], r[0])):
        count, last = strikes.get((category, nik), (0, None))
        status = "suspended" if count >= suspend_after else "warning" if count >= warn_after else "compliant"
        out.append((nik, category, status, last))
    return out


COMPONENT_NAMES = {  # category -> (Indonesian, English)
    "SD": ("Anak sekolah SD", "Primary school child"),
    "SMP": ("Anak sekolah SMP", "Junior high school child"),
    "SMA": ("Anak sekolah SMA", "Senior high school child"),
    "pregnant": ("Ibu hamil", "Pregnancy"),
    "child_0_6": ("Anak usia dini (0-6 tahun)", "Young child (0-6)"),
}


def next_quarter(day):
    """The quarter after the one `day` is in: the checks recorded so far decide the cycle paying it."""
    number = (day.month - 1) // 3 + 1
    return f"{day.year + 1}-Q1" if number == 4 else f"{day.year}-Q{number + 1}"


def portal_status(session, rule, application_id, today, english=False):
    """[{member, component, status, text}] of the family's checked members, for the portal (plain language)."""
    from cases.models import Enrolment

    enrolment_id = session.scalar(
        select(Enrolment.id).where(Enrolment.application_id == application_id, Enrolment.ended_at.is_(None))
    )
    if enrolment_id is None or rule is None:
        return []
    pick = 1 if english else 0
    return [
        {
            "member": mask_nik(nik),
            "component": COMPONENT_NAMES.get(cat, (cat, cat))[pick],
            "status": status,
            "text": STATUS_TEXT[status][pick],
            "last": last,
        }
        for nik, cat, status, last in family_status(
            session, rule, enrolment_id, next_quarter(today), rule.warn_after, rule.suspend_after
        )
    ]
