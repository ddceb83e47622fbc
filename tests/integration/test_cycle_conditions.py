"""Members' conditions in payment cycles: a deceased member's component, PKH commitments (warning, suspension)."""

from datetime import date, timedelta

from sqlalchemy import select

from cases.models import Enrolment
from cases.programme import DECEASED, MemberBenefitEnd
from engine.db import db
from payments.conditions import condition_counts
from payments.cycles import open_cycle
from payments.models import CycleMember, Entitlement, PaymentCycle
from payments.schedule import parse_schedule
from tests.integration.payment_support import SCHEDULE, family, finance_officers

COMMITMENTS = """
[commitments]
programme = "PKH"
school_attendance_min = 85
warn_after = 1
suspend_after = 2
[commitments.categories]
SD = "school"
child_0_6 = "health"
"""


def schedule_with_commitments():
    cut_off = date.today() + timedelta(days=1)
    return parse_schedule(
        SCHEDULE.format(cut_off=cut_off.isoformat(), later=(cut_off + timedelta(days=1)).isoformat()) + COMMITMENTS
    )


def entitlements(code, app):
    db.session.expire_all()
    c = db.session.execute(select(PaymentCycle).where(PaymentCycle.code == code)).scalar_one()
    member = db.session.execute(
        select(CycleMember).where(CycleMember.cycle_id == c.id, CycleMember.application_id == app.id)
    ).scalar_one()
    rows = db.session.scalars(select(Entitlement).where(Entitlement.member_id == member.id))
    return c, {e.category: (e.units, e.amount) for e in rows}


def enrolment_of(app):
    return db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).one()


def test_a_deceased_childs_component_is_not_paid_from_the_next_cycle(svc):
    fin = finance_officers()
    household = family([("PKH", "child_0_6", 2), ("PKH", "SD", 1)])
    other = family([("PKH", "child_0_6", 1)])
    db.session.commit()
    open_cycle(svc.engine, schedule_with_commitments(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    _, before = entitlements("PKH-TEST-T1", household)
    assert before == {"child_0_6": (2, 1_500_000), "SD": (1, 225_000)}
    # The civil registry reports one of the toddlers dead (cases/programme.end_deceased_components writes this).
    db.session.add(
        MemberBenefitEnd(
            enrolment_id=enrolment_of(household).id,
            application_id=household.id,
            member_nik="3510014101250001",
            reason=DECEASED,
            ended_on=date.today(),
            categories=[{"programme": "PKH", "category": "child_0_6", "annual": 3_000_000}],
        )
    )
    # A death after the next cut-off does not change it.
    db.session.add(
        MemberBenefitEnd(
            enrolment_id=enrolment_of(other).id,
            application_id=other.id,
            member_nik="3510014101250002",
            reason=DECEASED,
            ended_on=date.today() + timedelta(days=30),
            categories=[{"programme": "PKH", "category": "child_0_6", "annual": 3_000_000}],
        )
    )
    db.session.commit()
    open_cycle(svc.engine, schedule_with_commitments(), "PKH-TEST-T2", fin["fin1"])
    db.session.commit()
    c, after = entitlements("PKH-TEST-T2", household)
    assert after == {"child_0_6": (1, 750_000), "SD": (1, 225_000)}  # one component less
    assert entitlements("PKH-TEST-T2", other)[1] == {"child_0_6": (1, 750_000)}
    assert c.planned_total == 750_000 + 225_000 + 750_000
    # The maker sees it on the cycle: one deceased member's component in one family.
    assert condition_counts(db.session, c.id) == {"deceased": (1, 1)}


KK = "3510010101260001"
CHILD_A = "3510015505150001"
CHILD_B = "3510015505160002"


def _family_with_kk(kk=KK, district="01", components=(("PKH", "SD", 2), ("PKH", "child_0_6", 1))):
    app = family(list(components), district=district)
    app.kk_number = kk
    db.session.commit()
    return app


def test_commitments_warn_first_then_suspend_then_pay_again(svc):
    from payments.commitments import family_status, record_check

    fin = finance_officers()
    sched = schedule_with_commitments()
    rule = sched.commitments
    household = _family_with_kk()
    # 2026-Q3: child A attended 70% of school days (below 85%): a warning in the cycle paying 2026-Q4, still paid.
    record_check(
        db.session, rule, fin["fin1"], kk_number=KK, nik=CHILD_A, category="SD", period="2026-Q3", attendance=70
    )
    record_check(
        db.session, rule, fin["fin1"], kk_number=KK, nik=CHILD_B, category="SD", period="2026-Q3", attendance=95
    )
    db.session.commit()
    open_cycle(svc.engine, sched, "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    c1, first = entitlements("PKH-TEST-T1", household)
    assert first["SD"] == (2, 450_000)
    assert condition_counts(db.session, c1.id) == {"warning": (1, 1)}
    # The family is told (SMS and portal), once.
    from integrations.sandbox.tables import outbox

    sent = db.session.execute(
        select(outbox.c.channel, outbox.c.template).where(outbox.c.recipient_nik == household.nik)
    ).all()
    assert sorted(sent) == [("PORTAL", "commitment_warning"), ("SMS", "commitment_warning")]
    # 2026-Q4: child A again below: suspended in the cycle paying 2027-Q1 (one SD unit not paid).
    record_check(
        db.session, rule, fin["fin1"], kk_number=KK, nik=CHILD_A, category="SD", period="2026-Q4", attendance="60"
    )
    db.session.commit()
    enrolment_id = enrolment_of(household).id
    assert [s for _, cat, s, _ in family_status(db.session, rule, enrolment_id, "2027-Q1", 1, 2) if cat == "SD"] == [
        "suspended",
        "compliant",
    ]
    open_cycle(svc.engine, sched, "PKH-TEST-T2", fin["fin1"])
    db.session.commit()
    c2, second = entitlements("PKH-TEST-T2", household)
    assert second == {"SD": (1, 225_000), "child_0_6": (1, 750_000)}
    assert condition_counts(db.session, c2.id) == {"suspended": (1, 1)}
    # 2027-Q1: child A attended 90%: the next cycle pays both children again.
    record_check(
        db.session, rule, fin["fin1"], kk_number=KK, nik=CHILD_A, category="SD", period="2027-Q1", attendance=90
    )
    db.session.commit()
    open_cycle(svc.engine, sched, "PKH-TEST-T3", fin["fin1"])
    db.session.commit()
    c3, third = entitlements("PKH-TEST-T3", household)
    assert third["SD"] == (2, 450_000) and condition_counts(db.session, c3.id) == {}


def _workbook(rows, headers=None):
    import io

    from openpyxl import Workbook

    from payments.commitments import HEADERS

    book = Workbook()
    sheet = book.active
    sheet.append(list(headers or HEADERS))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_import_refuses_bad_rows_line_by_line_and_keeps_the_good(svc):
    import io

    import pytest
    from openpyxl import load_workbook

    from cases.audit import AuditEntry
    from payments.commitments import CommitmentRefused, error_workbook, import_workbook
    from payments.models import CommitmentCheck

    fin = finance_officers()
    rule = schedule_with_commitments().commitments
    _family_with_kk()
    _family_with_kk(kk="3510250101260009", district="25")
    _family_with_kk(kk="3510010101260007", components=(("PKH", "SD", 1),))
    data = _workbook(
        [
            (CHILD_A, KK, "SD", "2026-Q3", 80, None),  # 2: good, not compliant
            (CHILD_B, KK, "SD", "2026-Q3", "90%", None),  # 3: good
            ("3510015505200003", KK, "child_0_6", "2026-Q3", None, "Ya"),  # 4: good, health check done
            ("12345", KK, "SD", "2026-Q3", 90, None),  # 5: bad NIK
            (CHILD_A, "3510019999999999", "SD", "2026-Q3", 90, None),  # 6: unknown family
            (CHILD_A, KK, "SMA", "2026-Q3", 90, None),  # 7: not a checked component here
            (CHILD_A, KK, "SD", "2026-13", 90, None),  # 8: bad period
            (CHILD_A, KK, "SD", "2026-Q2", 140, None),  # 9: bad attendance
            ("3510015505200003", KK, "child_0_6", "2026-Q2", None, "mungkin"),  # 10: bad check
            (CHILD_A, "3510250101260009", "SD", "2026-Q3", 90, None),  # 11: outside the officer's districts
            ("3510015505200004", "3510010101260007", "child_0_6", "2026-Q3", None, "Ya"),  # 12: no such component
        ]
    )
    report = import_workbook(db.session, rule, fin["fin_far"], data, "komitmen.xlsx", regions={"01"})
    db.session.commit()
    assert report.accepted == 3
    assert [(line, code) for line, code, _ in report.refused] == [
        (5, "BAD_NIK"),
        (6, "UNKNOWN_FAMILY"),
        (7, "BAD_COMPONENT"),
        (8, "BAD_PERIOD"),
        (9, "BAD_ATTENDANCE"),
        (10, "BAD_CHECK"),
        (11, "OUT_OF_SCOPE"),
        (12, "NOT_A_COMPONENT"),
    ]
    checks = {(c.member_nik, c.category): c.compliant for c in db.session.scalars(select(CommitmentCheck))}
    assert checks == {(CHILD_A, "SD"): False, (CHILD_B, "SD"): True, ("3510015505200003", "child_0_6"): True}
    out = io.BytesIO()
    error_workbook(report.refused, out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [5, 6, 7, 8, 9, 10, 11, 12]
    assert sheet.cell(row=2, column=8).value == "NIK harus 16 angka"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "commitments.imported")).one()
    assert entry.detail["accepted"] == 3 and entry.detail["refused_lines"] == [5, 6, 7, 8, 9, 10, 11, 12]
    # A file that is not Excel, too large, or with another header is refused as a whole.
    for bad, reason in (
        (b"NIK,No KK\n1,2\n", "NOT_EXCEL"),
        (b"PK" + b"\0" * (50 * 1024 * 1024), "TOO_LARGE"),
        (_workbook([], headers=("A", "B")), "BAD_HEADER"),
    ):
        with pytest.raises(CommitmentRefused) as refused:
            import_workbook(db.session, rule, fin["fin1"], bad, "x.xlsx")
        assert refused.value.reason == reason
