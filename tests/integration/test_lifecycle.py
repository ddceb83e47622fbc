"""Every path of the application lifecycle, end to end on the real engine and database."""

import csv
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from cases.models import Appeal, Application, CaseEvent, Enrolment, EvidenceRecord, enrolment_components
from cases.operations import AppealNotAllowed, DuplicateApplication, NikRejected, file_appeal
from engine.db import db
from engine.errors import FormInvalid, FourEyesViolation, MessageNotExpected, NotAllowed, TaskAlreadyClaimed
from engine.humantasks import claim_task, complete_task
from engine.models import HumanTask, ProcessInstance
from integrations.sandbox.tables import disbursements, outbox
from tests.conftest import faces_or_skip
from tests.helpers import case, civil_servant_in_poor_family, later, open_task, submit, wake_all, work

APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}
SUP_APPROVE = {"approval_decision": "approve"}


def other_photo_of(faces, file_name):
    """Return another photo of the person in `file_name`, from the manifest."""
    with (faces / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    person = next(r["person"] for r in rows if r["file"] == file_name)
    return next(
        faces / r["file"] for r in rows if r["person"] == person and r["file"] != file_name and r["faces"] == "1"
    )


def test_auto_approve_enrols_with_evidence_and_benefits(svc, population):
    faces = faces_or_skip()
    nik = population["personas"]["eligible_head_with_photo"]
    selfie = other_photo_of(faces, population["photo_holders"][nik]).read_bytes()
    app = submit(svc, nik, selfie=selfie)
    app = case(app.case_number)
    assert app.status == "ENROLLED"
    assert app.decision == "approve" and app.decided_by == "rules" and app.reasons == []
    assert app.rule_version.startswith("application@") and "eligibility.dmn" in app.rule_version
    sources = set(db.session.scalars(select(EvidenceRecord.source).where(EvidenceRecord.application_id == app.id)))
    assert {"civil_registry", "face", "dtsen", "bpjs_health", "bpjs_employment", "assets", "civil_service"} <= sources
    assert "payments" not in sources  # enrolment asks no bank for anything
    face = db.session.scalars(
        select(EvidenceRecord).where(EvidenceRecord.application_id == app.id, EvidenceRecord.source == "face")
    ).one()
    assert face.value["outcome"] == "match" and face.value["distance"] < 0.6
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).one()
    assert "PKH" in enrolment.programmes or "BPNT" in enrolment.programmes
    assert app.benefits["first_payment"] > 0 and isinstance(app.benefits["first_payment"], int)
    # Enrolment moves no money: no disbursement request, no reference; the payment cycles pay the family.
    assert db.session.scalar(select(func.count()).select_from(disbursements)) == 0
    assert enrolment.disbursement_ref is None
    # It records the payment plan: the channel the cycles pay through and the cycle expected to pay first.
    from payments.plan import plan_for

    plan = enrolment.payment_plan
    assert plan["channel"] == app.payment_channel and plan["account_on_file"] is True
    # its cash programmes: those it has a component of (PKH without a child, an elder... pays nothing)
    assert plan["programmes"] == sorted({p for p, _, _ in enrolment_components(app.benefits, app.programmes)})
    assert plan["programmes"]
    assert plan == plan_for(
        svc.engine.settings,
        db.session,
        app.benefits,
        app.programmes,
        app.payment_channel,
        app.bank_account,
        today=date.fromisoformat(plan["registered_on"]),
    )
    assert all(c["cut_off"] >= plan["registered_on"] and c["estimated"] > 0 for c in plan["cycles"])
    # The diagram's own notify step tells the family, by SMS and in the portal, with the expected first stage.
    sent = db.session.execute(
        select(outbox.c.channel, outbox.c.params).where(
            outbox.c.recipient_nik == nik, outbox.c.template == "decision_enrolled"
        )
    ).all()
    assert sorted(c for c, _ in sent) == ["PORTAL", "SMS"]
    first = min(plan["cycles"], key=lambda c: c["months"][0]) if plan["cycles"] else None
    for _, params in sent:
        params = json.loads(params) if isinstance(params, str) else params
        assert params.get("cycle") == (first["cycle"] if first else None)
    # The next cycle of its programme pays it (the whole stage: nothing was paid at enrolment).
    from payments.cycles import open_cycle
    from payments.models import CycleMember
    from tests.integration.payment_support import finance_officers, schedule

    code = "PKH-TEST-T1" if "PKH" in plan["programmes"] else "BPNT-TEST-T1"
    open_cycle(svc.engine, schedule(), code, finance_officers()["fin1"])
    db.session.commit()
    member = db.session.scalars(select(CycleMember).where(CycleMember.application_id == app.id)).one()
    assert member.channel == app.payment_channel and member.account == app.bank_account
    from payments.models import Entitlement
    from payments.plan import estimate

    test_schedule = schedule()
    spec = test_schedule.cycles[code]
    units = {c: n for p, c, n in enrolment_components(app.benefits, app.programmes) if p == spec.programme}
    due = db.session.scalar(select(func.sum(Entitlement.amount)).where(Entitlement.member_id == member.id))
    assert due == estimate(test_schedule, spec, units) > 0
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.status == "completed" and instance.wake_at is None


def test_auto_reject_then_appeal_overturned_then_approved(svc, personas, officers):
    # A poor family rejected on one ground only: the overturn leaves nothing failing, so it is enrolled.
    with civil_servant_in_poor_family(personas["eligible_head_without_photo"]) as nik:
        number = submit(svc, nik).case_number
        app = case(number)
        assert app.status == "REJECTED" and app.decision == "reject"
        assert [r["code"] for r in app.reasons] == ["CIVIL_SERVANT_HOUSEHOLD"]
        reason = app.reasons[0]
        assert reason["id"] and reason["en"] and reason["id"] != reason["en"]
        sent = db.session.execute(select(outbox.c.template).where(outbox.c.recipient_nik == app.nik)).scalars().all()
        assert "decision_rejected" in sent

        file_appeal(svc.engine, number, {"reason": "My husband retired years ago and gets no pension now."})
        db.session.commit()
        assert case(number).status == "APPEAL_REVIEW"
        task = open_task(number, "appeal_review")
        assert task.queue == "appeals_officer" and task.due_at is not None

        app = work(
            svc,
            number,
            "appeal_review",
            officers["app1"],
            {
                "appeal_outcome": "overturn",
                "appeal_overturned_ground": "CIVIL_SERVANT_HOUSEHOLD",
                "appeal_notes": "pension ended in 2019",
            },
        )
        assert app.status == "AWAITING_APPROVAL" and app.programmes
        assert db.session.scalars(select(Appeal.outcome)).one() == "overturn"
        app = work(svc, number, "approve", officers["sup1"], SUP_APPROVE)
        assert app.status == "ENROLLED" and app.decided_by == "officer"
        assert app.benefits["first_payment"] > 0
        # The enrolment's components, counted per category: what payment cycles freeze.
        from cases.models import EnrolmentComponent

        components = db.session.execute(
            select(EnrolmentComponent.programme, EnrolmentComponent.category, EnrolmentComponent.units)
        ).all()
        expected = {}
        for c in app.benefits["components"]:
            expected[(c["programme"], c["category"])] = expected.get((c["programme"], c["category"]), 0) + 1
        assert {(p, c): n for p, c, n in components} == expected and expected


def test_appeal_upheld_closes_the_case(svc, personas, officers):
    number = submit(svc, personas["high_wage"]).case_number
    assert "WAGE_ABOVE_MINIMUM" in {r["code"] for r in case(number).reasons}
    file_appeal(svc.engine, number, {"reason": "The wage on record belongs to a job I lost in May."})
    db.session.commit()
    app = work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {
            "appeal_outcome": "uphold",
            "appeal_reason_codes": "APPEAL_REGISTRY_CONFIRMS",
            "appeal_notes": "employer confirms the wage",
        },
    )
    assert app.status == "CLOSED_REJECTED" and app.active_nik is None
    # Closed: the person may apply again.
    assert submit(svc, personas["high_wage"]).case_number != number


def test_appeal_window_times_out_and_later_appeals_are_refused(svc, personas):
    number = submit(svc, personas["deceased"]).case_number
    app = case(number)
    assert app.status == "REJECTED" and "DECEASED" in {r["code"] for r in app.reasons}
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.wake_at is not None  # the 30-day timer, stored for the scheduler's query
    assert wake_all(svc) == 0  # nothing is due yet
    with later(31):
        assert wake_all(svc) == 1
    assert case(number).status == "CLOSED_REJECTED"
    with pytest.raises(AppealNotAllowed):
        file_appeal(svc.engine, number, {"reason": "I am alive and well, please check again."})
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Appeal)) == 0


def test_manual_review_then_four_eyes_approval(svc, personas, officers):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    app = case(number)
    assert app.status == "IN_REVIEW" and app.decision == "review"
    assert "FACE_CANNOT_DECIDE" in {r["code"] for r in app.reasons}
    task = open_task(number, "review")
    assert task.queue == "caseworker" and task.due_at is not None and task.region == app.district_code

    app = work(svc, number, "review", officers["cwsup"], APPROVE)
    assert app.status == "AWAITING_APPROVAL"
    approve = open_task(number, "approve")
    with pytest.raises(FourEyesViolation):
        claim_task(svc.engine, approve.id, officers["cwsup"])
    db.session.rollback()
    app = work(svc, number, "approve", officers["sup2"], SUP_APPROVE)
    assert app.status == "ENROLLED"
    kinds = db.session.scalars(select(CaseEvent.kind).where(CaseEvent.application_id == app.id)).all()
    assert "task_completed" in kinds and "task_claim" in kinds


def test_review_rejection_by_officer(svc, personas, officers):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    assert "NOT_IN_DTSEN" in {r["code"] for r in case(number).reasons}
    app = work(
        svc,
        number,
        "review",
        officers["cw1"],
        {
            "review_decision": "reject",
            "review_reason_codes": ["DECILE_ABOVE_CUTOFF"],
            "review_notes": "field survey: decile 8",
        },
    )
    assert app.status == "REJECTED" and app.decided_by == "officer"
    assert app.reasons[0]["code"] == "DECILE_ABOVE_CUTOFF"


def test_review_sla_breach_escalates_to_supervisor(svc, personas, officers):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    assert open_task(number, "review") is not None
    with later(6):  # more than 3 working days, whatever the weekday
        assert wake_all(svc) == 1
    assert open_task(number, "review") is None
    escalated = open_task(number, "review_escalated")
    assert escalated.queue == "supervisor" and escalated.priority > 50
    assert case(number).status == "IN_REVIEW_ESCALATED"
    cancelled = db.session.scalars(select(HumanTask.status).where(HumanTask.bpmn_id == "review")).one()
    assert cancelled == "cancelled"
    work(svc, number, "review_escalated", officers["sup1"], APPROVE)
    # The supervisor who reviewed may not approve: another supervisor must.
    approve = open_task(number, "approve")
    with pytest.raises(FourEyesViolation):
        claim_task(svc.engine, approve.id, officers["sup1"])
    db.session.rollback()
    assert work(svc, number, "approve", officers["sup2"], SUP_APPROVE).status == "ENROLLED"


def test_unknown_nik_goes_to_a_caseworker(svc):
    number = submit(svc, "3510014101900999").case_number  # well-formed, not in the registry
    app = case(number)
    assert app.status == "IN_REVIEW"
    assert "NIK_UNKNOWN" in app.review_flags
    assert app.reasons[0]["code"] == "IDENTITY_NOT_CONFIRMED"


def test_photo_with_two_faces_goes_to_a_caseworker(svc, personas):
    faces = faces_or_skip()
    number = submit(
        svc, personas["eligible_head_with_photo"], selfie=(faces / "two_people.jpg").read_bytes()
    ).case_number
    app = case(number)
    assert app.status == "IN_REVIEW" and "MULTIPLE_FACES" in app.review_flags


def test_face_mismatch_goes_to_a_caseworker(svc, population):
    faces = faces_or_skip()
    nik = population["personas"]["eligible_head_with_photo"]
    stranger = "biden.jpg" if "obama" in population["photo_holders"][nik] else "obama.jpg"
    app = case(submit(svc, nik, selfie=(faces / stranger).read_bytes()).case_number)
    assert app.status == "IN_REVIEW" and "FACE_NOT_MATCHED" in {r["code"] for r in app.reasons}


def test_malformed_nik_is_refused_and_creates_nothing(svc):
    with pytest.raises(NikRejected):
        submit(svc, "3510013213900001")  # month 13
    db.session.rollback()
    with pytest.raises(FormInvalid):
        submit(svc, "35100")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Application)) == 0


def test_second_submission_for_open_case_is_refused(svc, personas):
    first = submit(svc, personas["not_in_dtsen"]).case_number
    with pytest.raises(DuplicateApplication) as err:
        submit(svc, personas["not_in_dtsen"])
    db.session.rollback()
    assert err.value.details["case_number"] == first
    assert db.session.scalar(select(func.count()).select_from(Application)) == 1


def test_form_errors_lose_nothing_and_a_task_completes_once(svc, personas, officers):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    row = open_task(number, "review")
    claim_task(svc.engine, row.id, officers["cw1"])
    db.session.commit()
    with pytest.raises(FormInvalid) as err:
        complete_task(svc.engine, row.id, officers["cw1"], {"review_decision": "reject"})
    db.session.rollback()
    assert "review_reason_codes" in err.value.errors
    with pytest.raises(FormInvalid):
        complete_task(svc.engine, row.id, officers["cw1"], {"review_decision": "maybe", "extra": 1})
    db.session.rollback()
    assert open_task(number, "review").status == "claimed"
    with pytest.raises(TaskAlreadyClaimed):
        complete_task(svc.engine, row.id, officers["cw2"], APPROVE)
    db.session.rollback()
    complete_task(svc.engine, row.id, officers["cw1"], APPROVE)
    db.session.commit()
    from engine.errors import TaskNotReady

    with pytest.raises(TaskNotReady):
        complete_task(svc.engine, row.id, officers["cw1"], APPROVE)
    db.session.rollback()
    assert case(number).status == "AWAITING_APPROVAL"


def test_officer_outside_region_cannot_claim(svc, personas, officers):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    row = open_task(number, "review")
    if row.region == "25":
        pytest.skip("persona happens to live in the far officer's district")
    with pytest.raises(NotAllowed):
        claim_task(svc.engine, row.id, officers["cw_far"])
    db.session.rollback()
    with pytest.raises(NotAllowed):
        claim_task(svc.engine, row.id, officers["app1"])  # wrong role


def test_message_to_a_case_not_waiting_is_refused(svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    with pytest.raises(MessageNotExpected):
        svc.engine.send_message(number, "appeal_filed", {"reason": "x"})
    db.session.rollback()
    with pytest.raises(MessageNotExpected):
        svc.engine.send_message("TPT-0000-9999999", "appeal_filed", {})


def test_unclaim_and_reassign(svc, personas, officers):
    from engine.humantasks import reassign_task, unclaim_task

    number = submit(svc, personas["not_in_dtsen"]).case_number
    row = open_task(number, "review")
    claim_task(svc.engine, row.id, officers["cw1"])
    db.session.commit()
    with pytest.raises(NotAllowed):
        unclaim_task(svc.engine, row.id, officers["cw2"])  # not the holder, not a supervisor
    db.session.rollback()
    with pytest.raises(NotAllowed):
        reassign_task(svc.engine, row.id, officers["cw1"], officers["cw2"])  # caseworkers do not reassign
    db.session.rollback()
    with pytest.raises(NotAllowed):
        reassign_task(svc.engine, row.id, officers["sup1"], officers["app1"])  # target lacks the role
    db.session.rollback()
    reassign_task(svc.engine, row.id, officers["sup1"], officers["cw2"])
    db.session.commit()
    assert open_task(number, "review").assignee == "cw2"
    unclaim_task(svc.engine, row.id, officers["cw2"])
    db.session.commit()
    row = open_task(number, "review")
    assert row.status == "open" and row.assignee is None
    events = db.session.scalars(select(CaseEvent.kind).where(CaseEvent.application_id == case(number).id)).all()
    assert {"task_claim", "task_reassign", "task_unclaim"} <= set(events)


def test_scheduler_job_fires_due_timers(svc, personas):
    from flask import current_app

    from web.scheduler import fire_due

    number = submit(svc, personas["rich_decile"]).case_number
    assert case(number).status == "REJECTED"
    app = current_app._get_current_object()
    assert fire_due(app) == 0
    with later(31):
        assert fire_due(app) == 1
    assert case(number).status == "CLOSED_REJECTED"


def test_same_face_under_another_nik_is_flagged_for_a_caseworker(svc, population):
    faces = faces_or_skip()
    holder = next(nik for nik, photo in population["photo_holders"].items() if photo == "obama.jpg")
    first = case(submit(svc, holder, selfie=(faces / "obama2.jpg").read_bytes()).case_number)
    assert "DUPLICATE_FACE_SUSPECTED" not in first.review_flags
    other = population["personas"]["eligible_head_without_photo"]
    second = case(submit(svc, other, selfie=(faces / "obama3.jpg").read_bytes()).case_number)
    assert second.status == "IN_REVIEW"
    assert "DUPLICATE_FACE_SUSPECTED" in second.review_flags
    assert "DUPLICATE_FACE_SUSPECTED" in {r["code"] for r in second.reasons}
    task = open_task(second.case_number, "review")
    assert "DUPLICATE_FACE_SUSPECTED" in task.flags
    dedup = db.session.scalars(
        select(EvidenceRecord).where(EvidenceRecord.application_id == second.id, EvidenceRecord.source == "face_index")
    ).one()
    assert first.case_number in json.dumps(dedup.value)


def test_a_50_mb_photo_is_refused_before_anything_is_stored(svc, personas):
    with pytest.raises(FormInvalid) as err:
        submit(svc, personas["not_in_dtsen"], selfie=b"\xff\xd8" + b"\0" * (50 * 1024 * 1024))
    db.session.rollback()
    assert "selfie" in err.value.errors
    assert db.session.scalar(select(func.count()).select_from(Application)) == 0


def test_a_submission_whose_process_fails_to_start_leaves_no_case_behind(svc, personas, monkeypatch):
    from cases.operations import submit_application

    nik = personas["not_in_dtsen"]

    def broken_start(*args, **kwargs):
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(svc.engine, "start", broken_start)
    with pytest.raises(RuntimeError):
        submit_application(svc.engine, {"nik": nik, "consent": True, "bank_account": "1234567890"})
    db.session.rollback()
    # Nothing was committed half-way (on SQLite a released savepoint used to commit the case row).
    assert db.session.scalars(select(Application).where(Application.nik == nik)).all() == []
