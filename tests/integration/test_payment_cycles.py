"""Payment cycles on the real engine and database: freeze, entitlements, four eyes, batches."""

import pytest
from sqlalchemy import func, select

from cases.audit import AuditEntry
from cases.models import Enrolment, EnrolmentComponent, Objection
from engine.db import db, utcnow
from engine.errors import FourEyesViolation, NotAllowed
from engine.humantasks import claim_task, complete_task
from engine.models import HumanTask, ProcessInstance
from payments.cycles import CycleExists, CycleUnknown, entitlement_figures, open_cycle
from payments.models import CycleMember, CycleMemberComponent, Entitlement, Payment, PaymentBatch, PaymentCycle
from tests.integration.payment_support import family, finance_officers, schedule


def task(bpmn_id, code=None):
    query = select(HumanTask).where(HumanTask.bpmn_id == bpmn_id, HumanTask.status.in_(("open", "claimed")))
    if code is not None:
        query = query.where(HumanTask.business_key == f"CYCLE-{code}")
    return db.session.execute(query).scalar_one()


def do(svc, bpmn_id, actor, data, code=None):
    row = task(bpmn_id, code)
    claim_task(svc.engine, row.id, actor)
    db.session.commit()
    complete_task(svc.engine, row.id, actor, data)
    db.session.commit()


def cycle(code="PKH-TEST-T1"):
    db.session.expire_all()
    return db.session.execute(select(PaymentCycle).where(PaymentCycle.code == code)).scalar_one()


@pytest.fixture
def fin(svc):
    return finance_officers()


def test_freeze_takes_enrolled_families_and_entitlements_apply_rates_and_caps(svc, fin):
    three_toddlers = family([("PKH", "child_0_6", 3), ("PKH", "SD", 1)], district="01", channel="BRI")
    elderly = family([("PKH", "elderly_70", 1), ("BPNT", "food", 1)], district="02", channel="POS", account=None)
    no_account = family([("PKH", "SD", 2)], district="02", channel="BNI", account=None)
    bpnt_only = family([("BPNT", "food", 1)])
    in_removal_review = family([("PKH", "SD", 1)], status="REMOVAL_REVIEW")
    ended = family([("PKH", "SD", 1)], ended=True)
    objected = family([("PKH", "SD", 1)])
    db.session.add(
        Objection(
            application_id=objected.id,
            objector_nik="3510010101900001",
            district_code="01",
            village="KALIPURO",
            ground="NOT_POOR",
            reason="has a shop",
            status="open",
        )
    )
    late = family([("PKH", "SD", 1)], enrolled_at=utcnow().replace(year=utcnow().year + 1))
    # Enrolment paid the first stage at once (the older path): not paid again for the stage it was enrolled in;
    # a family enrolled before the cycle's months is paid whatever it got at its enrolment.
    paid_at_enrolment = family([("PKH", "SD", 1)], disbursement_ref="TPT-1:request_disbursement")
    enrolled_before = family(
        [("PKH", "SD", 1)],
        disbursement_ref="TPT-2:request_disbursement",
        enrolled_at=utcnow().replace(year=utcnow().year - 1),
    )
    db.session.commit()

    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    c = cycle()
    assert c.status == "entitled" and c.frozen_at is not None
    members = {m.application_id: m for m in db.session.scalars(select(CycleMember).where(CycleMember.cycle_id == c.id))}
    assert set(members) == {three_toddlers.id, elderly.id, no_account.id, enrolled_before.id}
    assert not {bpnt_only.id, in_removal_review.id, ended.id, objected.id, late.id, paid_at_enrolment.id} & set(members)
    # A bank channel without an account is paid by the post office.
    assert members[no_account.id].channel == "POS" and members[no_account.id].account is None
    assert members[elderly.id].channel == "POS"
    amounts = {
        (e.member_id, e.category): (e.units, e.amount)
        for e in db.session.scalars(select(Entitlement).where(Entitlement.cycle_id == c.id))
    }
    toddlers = members[three_toddlers.id].id
    # 3 months of 3,000,000 a year = 750,000 per child, capped at 2 children; SD 225,000.
    assert amounts[(toddlers, "child_0_6")] == (2, 1_500_000)
    assert amounts[(toddlers, "SD")] == (1, 225_000)
    assert amounts[(members[elderly.id].id, "elderly_70")] == (1, 600_000)
    assert (members[elderly.id].id, "food") not in amounts  # the PKH cycle pays PKH components only
    assert c.planned_total == 1_500_000 + 225_000 + 600_000 + 450_000 + 225_000
    figures = entitlement_figures(db.session, c.id)
    assert sum(r.amount for r in figures) == c.planned_total
    assert {(r.district_code, r.channel, r.families) for r in figures} == {("01", "BRI", 2), ("02", "POS", 2)}
    # Every automatic step is in the audit trail.
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == "PKH-TEST-T1")))
    assert {"cycle.open", "cycle.freeze_list", "cycle.compute_entitlements"} <= actions


def test_the_snapshot_never_changes_after_the_cut_off(svc, fin):
    kept = family([("PKH", "SD", 1)])
    removed_later = family([("PKH", "SD", 1)])
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    c = cycle()
    before = sorted(
        db.session.execute(select(Entitlement.member_id, Entitlement.amount).where(Entitlement.cycle_id == c.id)).all()
    )
    # The registry moves on: a new child, an enrolment ended, a family enrolled after the freeze.
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == kept.id)).one()
    db.session.execute(
        EnrolmentComponent.__table__.update().where(EnrolmentComponent.enrolment_id == enrolment.id).values(units=5)
    )
    db.session.scalars(select(Enrolment).where(Enrolment.application_id == removed_later.id)).one().ended_at = utcnow()
    family([("PKH", "SD", 1)])
    db.session.commit()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    c = cycle()
    after = sorted(
        db.session.execute(select(Entitlement.member_id, Entitlement.amount).where(Entitlement.cycle_id == c.id)).all()
    )
    assert after == before and c.member_count == 2
    assert (
        db.session.scalar(select(func.sum(CycleMemberComponent.units)).where(CycleMemberComponent.cycle_id == c.id))
        == 2
    )
    assert db.session.scalar(select(func.sum(Payment.amount)).where(Payment.cycle_id == c.id)) == 2 * 225_000


def test_four_eyes_the_maker_cannot_approve_and_other_roles_cannot_work_cycles(svc, fin, officers):
    family([("PKH", "SD", 1)])
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    prepare = task("prepare_cycle")
    assert prepare.queue == "finance_officer" and prepare.region == "3510"  # the whole regency's work
    with pytest.raises(NotAllowed):
        claim_task(svc.engine, prepare.id, officers["sup1"])
    db.session.rollback()
    with pytest.raises(NotAllowed):  # a finance officer of one district does not work the regency's cycle
        claim_task(svc.engine, prepare.id, fin["fin_far"])
    db.session.rollback()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit", "prepare_notes": "list checked"})
    approve = task("approve_cycle")
    with pytest.raises(FourEyesViolation):
        claim_task(svc.engine, approve.id, fin["fin1"])
    db.session.rollback()
    assert cycle().status == "entitled"
    # The checker sends it back: the maker prepares again; then the checker approves.
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "return", "cycle_approval_notes": "recount"})
    assert task("prepare_cycle") is not None
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    c = cycle()
    assert c.status == "approved" and c.prepared_by == "fin1" and c.approved_by == "fin2"
    assert task("dispatch_batches").queue == "finance_officer"


def test_batches_per_channel_carry_control_totals(svc, fin):
    for channel, account in (("BRI", "111"), ("BRI", "222"), ("BNI", "333"), ("POS", None)):
        family([("PKH", "SD", 1), ("PKH", "child_0_6", 1)], channel=channel, account=account)
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    c = cycle()
    batches = {b.channel: b for b in db.session.scalars(select(PaymentBatch).where(PaymentBatch.cycle_id == c.id))}
    assert {k: (b.count, b.total) for k, b in batches.items()} == {
        "BRI": (2, 2 * 975_000),
        "BNI": (1, 975_000),
        "POS": (1, 975_000),
    }
    assert all(len(b.control_hash) == 64 for b in batches.values())
    payments = db.session.scalars(select(Payment).where(Payment.cycle_id == c.id)).all()
    assert len({p.reference for p in payments}) == 4 and all(p.status == "planned" for p in payments)
    assert all(p.batch_id == batches[p.channel].id for p in payments)


def test_a_cycle_opens_once_and_only_from_the_schedule(svc, fin):
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    with pytest.raises(CycleExists):
        open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    with pytest.raises(CycleUnknown):
        open_cycle(svc.engine, schedule(), "PKH-NOPE", fin["fin1"])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 1


def test_a_cancelled_cycle_ends(svc, fin):
    open_cycle(svc.engine, schedule(), "BPNT-TEST-T1", fin["fin1"])
    db.session.commit()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "cancel"})
    c = cycle("BPNT-TEST-T1")
    assert c.status == "cancelled" and c.closed_at is not None


def test_a_supplementary_cycle_pays_the_stage_to_families_enrolled_after_the_main_cut_off(svc, fin):
    from datetime import timedelta

    from payments.cycles import SupplementTooEarly

    on_time = family([("PKH", "SD", 1)])
    db.session.commit()
    with pytest.raises(SupplementTooEarly):
        open_cycle(svc.engine, schedule(), "PKH-TEST-T1-S1", fin["fin1"])
    db.session.rollback()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    main = cycle()
    late = family([("PKH", "SD", 2)], enrolled_at=main.cut_off + timedelta(hours=1))  # e.g. an appeal overturned
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1-S1", fin["fin1"])
    db.session.commit()
    supplement = cycle("PKH-TEST-T1-S1")
    members = db.session.scalars(select(CycleMember.application_id).where(CycleMember.cycle_id == supplement.id)).all()
    assert members == [late.id] and supplement.supplements_cycle_id == main.id
    assert supplement.planned_total == 2 * 225_000
    main_members = db.session.scalars(select(CycleMember.application_id).where(CycleMember.cycle_id == main.id)).all()
    assert main_members == [on_time.id]


def test_a_component_counts_from_its_first_day(svc, fin):
    """A row with `valid_from` (a child added later) is frozen only by a cycle whose cut-off day is on or after
    it; the rows of one category add up."""
    from datetime import timedelta

    grown = family([("PKH", "SD", 1)])
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == grown.id)).one()
    tomorrow = utcnow().date() + timedelta(days=1)  # the test cycles' cut-off day
    db.session.add_all(
        [
            EnrolmentComponent(enrolment_id=enrolment.id, programme="PKH", category="SD", units=1, valid_from=tomorrow),
            EnrolmentComponent(
                enrolment_id=enrolment.id,
                programme="PKH",
                category="child_0_6",
                units=1,
                valid_from=tomorrow + timedelta(days=1),
            ),
        ]
    )
    only_later = family([])
    later = db.session.scalars(select(Enrolment).where(Enrolment.application_id == only_later.id)).one()
    db.session.add(
        EnrolmentComponent(
            enrolment_id=later.id, programme="PKH", category="SD", units=1, valid_from=tomorrow + timedelta(days=1)
        )
    )
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    c = cycle()
    members = {
        m.application_id: m.id for m in db.session.scalars(select(CycleMember).where(CycleMember.cycle_id == c.id))
    }
    assert set(members) == {grown.id}  # a family whose only component starts after the cut-off is not on the list
    frozen = {
        (x.category, x.units)
        for x in db.session.scalars(
            select(CycleMemberComponent).where(CycleMemberComponent.member_id == members[grown.id])
        )
    }
    assert frozen == {("SD", 2)}
