"""A family exited by a re-check may appeal within the window stated in its notice: an appeals officer who
took no part in the removal judges it; upheld, the family stays out; overturned, its enrolment resumes."""

import pytest
from sqlalchemy import select

from cases.models import Appeal, CaseEvent, Enrolment
from cases.operations import AppealNotAllowed, file_appeal, recheck_enrolment
from engine.db import db
from engine.errors import FourEyesViolation, NotAllowed
from engine.humantasks import claim_task
from integrations.sandbox.tables import outbox
from tests.helpers import case, later, open_task, submit, wake_all, work
from tests.integration.portal_helpers import portal, sign_in_applicant  # noqa: F401  (fixture)
from tests.integration.test_explanation import dtsen_update  # noqa: F401  (fixture)

APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}
APPEAL = {"reason": "Our DTSEN data is out of date: my husband lost his job in October."}


def exited(svc, personas, officers, dtsen_update):  # noqa: F811
    number = submit(svc, personas["eligible_family_with_children"]).case_number
    work(svc, number, "review", officers["cw1"], APPROVE)
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "ENROLLED"
    dtsen_update(app.kk_number, 9)
    recheck_enrolment(svc.engine, number)
    db.session.commit()
    work(svc, number, "removal_review", officers["cw2"], {"removal_decision": "remove", "removal_notes": "decile 9"})
    app = work(svc, number, "approve_removal", officers["sup2"], {"approval_decision": "approve"})
    assert app.status == "REMOVED" and app.active_nik is None
    assert db.session.scalar(select(Enrolment.ended_at).where(Enrolment.application_id == app.id)) is not None
    return app


def test_an_overturned_exit_restores_the_enrolment_with_a_notice_and_arrears_from_the_exit(
    svc, personas, officers, dtsen_update, portal
):  # noqa: F811
    app = exited(svc, personas, officers, dtsen_update)
    number = app.case_number
    # The applicant sees the window and files through the portal.
    sign_in_applicant(portal, app.nik)
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert f"/portal/cases/{number}/appeal" in html
    file_appeal(svc.engine, number, APPEAL)
    db.session.commit()
    app = case(number)
    assert app.status == "APPEAL_REVIEW" and open_task(number, "appeal_review") is not None
    # Four eyes: neither the removal's reviewer nor its approver may judge the appeal; an appeals officer can.
    for officer in ("cw2", "sup2"):
        with pytest.raises((FourEyesViolation, NotAllowed)):
            claim_task(svc.engine, open_task(number, "appeal_review").id, officers[officer])
        db.session.rollback()
    app = work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {"appeal_outcome": "overturn", "appeal_notes": "termination letter seen; DTSEN not yet updated"},
    )
    assert app.status == "ENROLLED" and app.active_nik == app.nik and app.reasons == []
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).one()
    assert enrolment.ended_at is None and enrolment.arrears_from is not None
    appeal = db.session.scalars(select(Appeal).where(Appeal.application_id == app.id)).one()
    assert (appeal.outcome, appeal.decided_by) == ("overturn", "app1")
    events = {e.kind: e for e in db.session.scalars(select(CaseEvent).where(CaseEvent.application_id == app.id))}
    assert "reinstated" in events
    assert events["reinstated"].actor == "app1"
    sent = db.session.execute(select(outbox.c.template).where(outbox.c.recipient_nik == app.nik)).scalars().all()
    assert "decision_reinstated" in sent
    # The applicant reads it in catalogue words; the officer's internal note stays internal.
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "termination letter seen" not in html
    assert 'data-status="ENROLLED"' in html


def test_an_upheld_exit_stays_removed_and_cannot_be_appealed_again(svc, personas, officers, dtsen_update, ctx):  # noqa: F811
    app = exited(svc, personas, officers, dtsen_update)
    number = app.case_number
    result = ctx.test_cli_runner().invoke(args=["appeal", number, "--reason", APPEAL["reason"]])
    assert result.exit_code == 0, result.output
    assert "APPEAL_REVIEW" in result.output
    app = work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {
            "appeal_outcome": "uphold",
            "appeal_reason_codes": ["APPEAL_REGISTRY_CONFIRMS"],
            "appeal_notes": "DTSEN confirmed by the village",
        },
    )
    assert app.status == "REMOVED" and app.active_nik is None
    assert db.session.scalar(select(Enrolment.ended_at).where(Enrolment.application_id == app.id)) is not None
    sent = db.session.execute(select(outbox.c.template).where(outbox.c.recipient_nik == app.nik)).scalars().all()
    assert "decision_appeal_upheld" in sent
    with pytest.raises(AppealNotAllowed):
        file_appeal(svc.engine, number, APPEAL)
    db.session.rollback()


def test_an_exit_is_final_once_the_appeal_window_has_passed(svc, personas, officers, dtsen_update):  # noqa: F811
    app = exited(svc, personas, officers, dtsen_update)
    with later(31):
        wake_all(svc)
        assert svc.engine.instance_for_key(app.case_number) is None  # the window's timer ended the re-check
        with pytest.raises(AppealNotAllowed):
            file_appeal(svc.engine, app.case_number, APPEAL)
        db.session.rollback()
    assert case(app.case_number).status == "REMOVED"


def test_a_rejection_overturned_on_appeal_owes_arrears_from_the_application_date(svc, personas, officers):
    from tests.helpers import civil_servant_in_poor_family

    with civil_servant_in_poor_family(personas["eligible_head_without_photo"]) as nik:
        number = submit(svc, nik).case_number
        assert case(number).status == "REJECTED"
        file_appeal(svc.engine, number, {"reason": "My husband retired in 2015 and gets no salary now."})
        db.session.commit()
        work(svc, number, "appeal_review", officers["app1"], {"appeal_outcome": "overturn", "appeal_notes": "retired"})
        app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "ENROLLED"
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).one()
    assert enrolment.arrears_from == app.created_at and enrolment.ended_at is None


def test_an_enrolment_without_an_appeal_owes_no_arrears(svc, personas, officers):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, number, "review", officers["cw1"], APPROVE)
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).one().arrears_from is None
