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
    return parse_schedule(SCHEDULE.format(cut_off=cut_off.isoformat(), later=(cut_off + timedelta(days=1)).isoformat())
                          + COMMITMENTS)


def entitlements(code, app):
    db.session.expire_all()
    c = db.session.execute(select(PaymentCycle).where(PaymentCycle.code == code)).scalar_one()
    member = db.session.execute(select(CycleMember).where(CycleMember.cycle_id == c.id,
                                                          CycleMember.application_id == app.id)).scalar_one()
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
    db.session.add(MemberBenefitEnd(enrolment_id=enrolment_of(household).id, application_id=household.id,
                                    member_nik="3510014101250001", reason=DECEASED, ended_on=date.today(),
                                    categories=[{"programme": "PKH", "category": "child_0_6", "annual": 3_000_000}]))
    # A death after the next cut-off does not change it.
    db.session.add(MemberBenefitEnd(enrolment_id=enrolment_of(other).id, application_id=other.id,
                                    member_nik="3510014101250002", reason=DECEASED,
                                    ended_on=date.today() + timedelta(days=30),
                                    categories=[{"programme": "PKH", "category": "child_0_6", "annual": 3_000_000}]))
    db.session.commit()
    open_cycle(svc.engine, schedule_with_commitments(), "PKH-TEST-T2", fin["fin1"])
    db.session.commit()
    c, after = entitlements("PKH-TEST-T2", household)
    assert after == {"child_0_6": (1, 750_000), "SD": (1, 225_000)}  # one component less
    assert entitlements("PKH-TEST-T2", other)[1] == {"child_0_6": (1, 750_000)}
    assert c.planned_total == 750_000 + 225_000 + 750_000
    # The maker sees it on the cycle: one deceased member's component in one family.
    assert condition_counts(db.session, c.id) == {"deceased": (1, 1)}
