"""Arrears (rapel) for a family whose rejection or exit was overturned on appeal: the stages it missed since,
as separate lines in its next cycle (regular or supplementary), at most as many as the schedule says."""

from datetime import timedelta

from sqlalchemy import select

from cases.models import Application, Enrolment
from engine.db import db, utcnow
from payments.cycles import entitlement_figures, open_cycle
from payments.models import CycleMember, Entitlement, PaymentCycle
from payments.schedule import parse_schedule
from tests.integration.payment_support import SCHEDULE, family, finance_officers

ARREARS = '[programmes.PKH]\nname = "PKH"\nkind = "annual"\narrears = true\narrears_max_stages = {max}\n'


def arrears_schedule(max_stages=4, components=""):
    cut_off = utcnow().date() + timedelta(days=1)
    text = SCHEDULE.format(cut_off=cut_off.isoformat(), later=(cut_off + timedelta(days=1)).isoformat())
    text = text.replace("SD = 900000\n", "SD = 900000\n" + components, 1)
    text += (
        '[[cycles]]\ncode = "PKH-TEST-T4"\nprogramme = "PKH"\nmonths = ["2027-07", "2027-08", "2027-09"]\n'
        f'cut_off = "{cut_off.isoformat()}"\n'
    )
    return parse_schedule(
        text.replace('[programmes.PKH]\nname = "PKH"\nkind = "annual"\n', ARREARS.format(max=max_stages), 1)
    )


def lines(code):
    db.session.expire_all()
    c = db.session.execute(select(PaymentCycle).where(PaymentCycle.code == code)).scalar_one()
    members = {
        m.id: m.application_id for m in db.session.scalars(select(CycleMember).where(CycleMember.cycle_id == c.id))
    }
    return c, {
        (members[e.member_id], e.category): e.amount
        for e in db.session.scalars(select(Entitlement).where(Entitlement.cycle_id == c.id))
    }


def overturn(app, since):
    """What the listener does when an appeal is overturned: enrolled, with arrears owed since `since`."""
    app = db.session.get(Application, app.id)
    app.status = "ENROLLED"
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).one()
    enrolment.arrears_from, enrolment.ended_at = since, None
    db.session.commit()


def test_an_overturned_family_is_paid_the_missed_stages_once_as_separate_lines(svc):
    fin = finance_officers()
    schedule = arrears_schedule()
    since = utcnow() - timedelta(days=30)
    on_list = family([("PKH", "SD", 1)])
    appealed = family([("PKH", "child_0_6", 3), ("PKH", "SD", 1)], status="REJECTED")  # capped at 2 children
    late = family([("PKH", "SD", 1)], status="REJECTED")  # enrolled late, not on appeal: no arrears
    quick = family([("PKH", "SD", 1)], status="REJECTED")  # overturned before T1's supplement
    db.session.commit()
    open_cycle(svc.engine, schedule, "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    overturn(quick, since)
    # The supplementary cycle of T1 pays T1 (its current stage) and no arrears: nothing before T1 was missed.
    open_cycle(svc.engine, schedule, "PKH-TEST-T1-S1", fin["fin1"])
    db.session.commit()
    assert lines("PKH-TEST-T1-S1")[1] == {(quick.id, "SD"): 225_000}
    open_cycle(svc.engine, schedule, "PKH-TEST-T2", fin["fin1"])
    db.session.commit()
    overturn(appealed, since)
    db.session.get(Application, late.id).status = "ENROLLED"
    db.session.commit()
    open_cycle(svc.engine, schedule, "PKH-TEST-T3", fin["fin1"])
    db.session.commit()
    c, paid = lines("PKH-TEST-T3")
    # Out for T1 and T2: both stages, each its own line at that stage's rates (2 children capped + SD).
    assert {k: v for k, v in paid.items() if k[0] == appealed.id} == {
        (appealed.id, "child_0_6"): 1_500_000,
        (appealed.id, "SD"): 225_000,
        (appealed.id, "rapel:PKH-TEST-T1"): 1_725_000,
        (appealed.id, "rapel:PKH-TEST-T2"): 1_725_000,
    }
    assert {k for k in paid if k[0] != appealed.id} == {(on_list.id, "SD"), (late.id, "SD"), (quick.id, "SD")}
    assert c.planned_total == 4 * 225_000 + 1_500_000 + 2 * 1_725_000
    # A stage the family was paid at its enrolment (the older path) is not owed again.
    from payments.cycles import add_appeal_arrears

    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == appealed.id)).one()
    enrolment.disbursement_ref = "TPT-9:request_disbursement"
    enrolment.enrolled_at = enrolment.enrolled_at.replace(year=2026, month=11, day=15)  # within T1's months
    db.session.execute(
        Entitlement.__table__.delete().where(Entitlement.cycle_id == c.id, Entitlement.category.startswith("rapel:"))
    )
    add_appeal_arrears(db.session, c)
    assert {k for k in lines("PKH-TEST-T3")[1] if k[1].startswith("rapel:")} == {(appealed.id, "rapel:PKH-TEST-T2")}
    db.session.commit()
    # Paid once: the next stage pays the current stage only.
    open_cycle(svc.engine, schedule, "PKH-TEST-T4", fin["fin1"])
    db.session.commit()
    _, paid = lines("PKH-TEST-T4")
    assert not [k for k in paid if k[1].startswith("rapel:")] and (appealed.id, "SD") in paid


def test_arrears_are_capped_per_programme_and_visible_in_the_figures(svc):
    fin = finance_officers()
    schedule = arrears_schedule(max_stages=1)
    appealed = family([("PKH", "SD", 2)], status="REJECTED")
    db.session.commit()
    open_cycle(svc.engine, schedule, "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    open_cycle(svc.engine, schedule, "PKH-TEST-T2", fin["fin1"])
    db.session.commit()
    overturn(appealed, utcnow() - timedelta(days=30))
    open_cycle(svc.engine, schedule, "PKH-TEST-T3", fin["fin1"])
    db.session.commit()
    c, paid = lines("PKH-TEST-T3")
    # T1 and T2 were missed; at most one stage is paid: the most recent (T2). SD: 2 x 225,000 a stage.
    assert paid == {(appealed.id, "SD"): 450_000, (appealed.id, "rapel:PKH-TEST-T2"): 450_000}
    assert c.planned_total == 900_000
    assert sum(r.amount for r in entitlement_figures(db.session, c.id)) == 900_000


def test_the_arrears_show_in_the_figures_the_batch_workbook_and_the_family_payments(svc):
    import io

    from openpyxl import load_workbook

    from payments.bankfile import batch_xlsx
    from payments.cycles import arrears_figures
    from payments.models import PaymentBatch
    from payments.queries import payments_of_application
    from tests.integration.test_payment_cycles import do

    fin = finance_officers()
    schedule = arrears_schedule()
    appealed = family([("PKH", "SD", 1)], status="REMOVED", district="02")
    family([("PKH", "SD", 1)], district="02")
    db.session.commit()
    open_cycle(svc.engine, schedule, "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    overturn(appealed, utcnow() - timedelta(days=1))
    open_cycle(svc.engine, schedule, "PKH-TEST-T2", fin["fin1"])
    db.session.commit()
    c, paid = lines("PKH-TEST-T2")
    assert paid[(appealed.id, "rapel:PKH-TEST-T1")] == 225_000
    assert [
        (r.district_code, r.channel, r.families, r.stages, r.amount) for r in arrears_figures(db.session, c.id)
    ] == [("02", "BRI", 1, 1, 225_000)]
    assert arrears_figures(db.session, c.id, regions={"01"}) == []  # district scope
    for bpmn_id, who, data in (
        ("prepare_cycle", "fin1", {"prepare_decision": "submit"}),
        ("approve_cycle", "fin2", {"cycle_approval_decision": "approve"}),
        ("dispatch_batches", "fin1", {"sp2d_number": "SP2D-7", "sp2d_date": utcnow().date().isoformat()}),
    ):
        do(svc, bpmn_id, fin[who], data, code="PKH-TEST-T2")
    bri = db.session.execute(select(PaymentBatch).where(PaymentBatch.cycle_id == c.id)).scalar_one()
    out = io.BytesIO()
    batch_xlsx(db.session, bri, out)
    rows = list(load_workbook(io.BytesIO(out.getvalue()))["Pembayaran"].values)
    assert rows[0][-1] == "rapel" and sorted((r[4], r[5]) for r in rows[1:]) == [(225_000, 0), (450_000, 225_000)]
    payment = payments_of_application(db.session, appealed.id)[0]
    assert (payment.cycle_code, payment.amount, payment.arrears, payment.status) == (
        "PKH-TEST-T2",
        450_000,
        225_000,
        "sent",
    )


def test_each_missed_month_is_priced_with_the_components_valid_in_that_month(svc):
    """A hand-computed case. Per stage (3 months): child_0_6 750,000, SD 225,000, elderly_70 600,000, so a
    month is 250,000 / 75,000 / 200,000 a unit. The family, overturned, missed T1 (Oct-Dec 2026) and T2
    (Jan-Mar 2027):
    - SD, 2 children; one missed school in 2026-Q3 and 2026-Q4 (suspend after 2 quarters): both count in T1
      (only Q3 before 2026-Q4: a warning), one in T2 (Q3 and Q4 before 2027-Q1: suspended);
    - a toddler added on 2026-11-15: counts from December 2026 (the first month it was valid on the 1st);
    - a grandmother over 70 who died on 2027-02-10: counts through February 2027, not March.
    T1: SD 2 x 75,000 x 3 + child 250,000 x 1 + elderly 200,000 x 3 = 450,000 + 250,000 + 600,000 = 1,300,000
    T2: SD 1 x 75,000 x 3 + child 250,000 x 3 + elderly 200,000 x 2 = 225,000 + 750,000 + 400,000 = 1,375,000
    (priced with the current components both would be 2 x 225,000 + 750,000 + 600,000 = 1,650,000)."""
    from datetime import date

    from cases.models import EnrolmentComponent
    from cases.programme import DECEASED, MemberBenefitEnd
    from payments.models import CommitmentCheck

    fin = finance_officers()
    schedule = arrears_schedule()
    appealed = family([("PKH", "SD", 2), ("PKH", "elderly_70", 1)], status="REJECTED")
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == appealed.id)).one()
    db.session.add(
        EnrolmentComponent(
            enrolment_id=enrolment.id, programme="PKH", category="child_0_6", units=1, valid_from=date(2026, 11, 15)
        )
    )
    db.session.add(
        MemberBenefitEnd(
            enrolment_id=enrolment.id,
            application_id=appealed.id,
            member_nik="3510014101400001",
            reason=DECEASED,
            ended_on=date(2027, 2, 10),
            categories=[{"programme": "PKH", "category": "elderly_70", "annual": 2_400_000}],
        )
    )
    for period in ("2026-Q3", "2026-Q4"):
        db.session.add(
            CommitmentCheck(
                enrolment_id=enrolment.id,
                application_id=appealed.id,
                district_code="01",
                member_nik="3510014101150002",
                category="SD",
                period=period,
                attendance=40,
                compliant=False,
                source="field",
            )
        )
    db.session.commit()
    for code in ("PKH-TEST-T1", "PKH-TEST-T2"):
        open_cycle(svc.engine, schedule, code, fin["fin1"])
        cycle = db.session.execute(select(PaymentCycle).where(PaymentCycle.code == code)).scalar_one()
        cycle.commitment_warn_after, cycle.commitment_suspend_after = 1, 2  # as [commitments] would copy them
        db.session.commit()
    overturn(appealed, utcnow() - timedelta(days=30))
    open_cycle(svc.engine, schedule, "PKH-TEST-T3", fin["fin1"])
    db.session.commit()
    _, paid = lines("PKH-TEST-T3")
    assert {k: v for k, v in paid.items() if k[1].startswith("rapel:")} == {
        (appealed.id, "rapel:PKH-TEST-T1"): 1_300_000,
        (appealed.id, "rapel:PKH-TEST-T2"): 1_375_000,
    }


def test_a_part_month_stage_is_rounded_down_once_per_stage(svc):
    """SMA is 2,000,000 a year: 500,000 a stage of 3 months, 166,666.67 a month. A pupil whose SMA component
    starts on 2026-10-02 counts in November and December: 500,000 x 2 / 3 = 333,333 (rounded down once for the
    whole line, not 166,666 x 2 = 333,332). With SD 225,000 for the whole stage: 558,333."""
    from datetime import date

    from cases.models import EnrolmentComponent

    fin = finance_officers()
    schedule = arrears_schedule(components="SMA = 2000000\n")
    appealed = family([("PKH", "SD", 1)], status="REJECTED")
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == appealed.id)).one()
    db.session.add(
        EnrolmentComponent(
            enrolment_id=enrolment.id, programme="PKH", category="SMA", units=1, valid_from=date(2026, 10, 2)
        )
    )
    db.session.commit()
    open_cycle(svc.engine, schedule, "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    overturn(appealed, utcnow() - timedelta(days=30))
    open_cycle(svc.engine, schedule, "PKH-TEST-T2", fin["fin1"])
    db.session.commit()
    _, paid = lines("PKH-TEST-T2")
    assert paid[(appealed.id, "rapel:PKH-TEST-T1")] == 558_333
    # The current stage (T2) pays the SMA component in full: it was valid on T2's cut-off day.
    assert paid[(appealed.id, "SMA")] == 500_000
