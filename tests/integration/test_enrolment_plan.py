"""Enrolment pays nothing by itself, also for a case still running the older diagram (which had a
'request disbursement' step): the family is registered for the payment cycles, which pay it."""

from sqlalchemy import func, select

from cases.models import Enrolment, enrolment_components
from engine.db import db
from engine.models import ProcessInstance
from integrations.sandbox.tables import disbursements
from tests.conftest import faces_or_skip
from tests.helpers import case, submit
from tests.integration.portal_helpers import portal  # noqa: F401  (fixture)
from tests.integration.test_lifecycle import other_photo_of


def test_a_case_on_the_older_diagram_reaches_enrolment_and_pays_nothing_outside_the_cycles(svc, population):
    from flask import current_app

    from engine.deploy import read_folder
    from tests.conftest import DATA_DIR

    faces = faces_or_skip()
    old = (DATA_DIR / "application_before_recheck.bpmn").read_text()
    assert 'serviceTaskOperator id="payments.request_disbursement"' in old  # the older step is in it
    files = read_folder(current_app.config["BANSOS_PROCESS_DIR"])
    files["application.bpmn"] = old
    svc.engine.deploy_files(files, deployed_by="tests")
    db.session.commit()
    nik = population["personas"]["eligible_head_with_photo"]
    selfie = other_photo_of(faces, population["photo_holders"][nik]).read_bytes()
    app = case(submit(svc, nik, selfie=selfie).case_number)
    assert app.status == "ENROLLED"
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.status == "completed"
    assert db.session.scalar(select(func.count()).select_from(disbursements)) == 0
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).one()
    assert enrolment.disbursement_ref is None
    # The plan is completed from the case's benefits (the older step passed none).
    plan = enrolment.payment_plan
    assert plan["programmes"] == sorted({p for p, _, _ in enrolment_components(app.benefits, app.programmes)})
    assert plan["programmes"] and plan["channel"] == app.payment_channel


def _enrol_with_plan(number, today):
    """Make a submitted case an enrolled BRI family with two primary-school children, as join_cycles records it."""
    from cases.models import EnrolmentComponent
    from payments.plan import build_plan
    from tests.integration.payment_support import schedule

    app = case(number)
    app.status, app.payment_channel, app.bank_account, app.programmes = "ENROLLED", "BRI", "0012345678", ["PKH"]
    benefits = {
        "components": [{"programme": "PKH", "category": "SD", "annual": 900_000}] * 2,
        "annual_cash_total": 1_800_000,
        "first_payment": 450_000,
    }
    app.benefits = benefits
    plan = build_plan(schedule(), benefits, ["PKH"], "BRI", "0012345678", today)
    enrolment = Enrolment(application_id=app.id, nik=app.nik, programmes=["PKH"], benefits=benefits, payment_plan=plan)
    db.session.add(enrolment)
    db.session.flush()
    db.session.add(EnrolmentComponent(enrolment_id=enrolment.id, programme="PKH", category="SD", units=2))
    db.session.commit()
    return enrolment


def test_the_portal_and_the_case_page_show_the_expected_first_payment_then_the_cycle_payment(svc, personas, portal):
    from datetime import date

    from cases.operations import actor_for, create_officer
    from payments.cycles import open_cycle
    from tests.integration.payment_support import schedule
    from tests.integration.portal_helpers import PASSWORD, fresh_client, officer_login, sign_in_applicant
    from tests.integration.test_payment_cycles import do

    nik = personas["eligible_head_without_photo"]
    number = submit(svc, nik).case_number
    enrolment = _enrol_with_plan(number, date.today())
    assert [c["cycle"] for c in enrolment.payment_plan["cycles"]] == ["PKH-TEST-T1"]
    officers = {
        u: actor_for(create_officer(db.session, u, u.upper(), roles, None, password=PASSWORD))
        for u, roles in (("fin1", ["finance_officer"]), ("fin2", ["finance_officer"]), ("cw", ["caseworker"]))
    }
    db.session.commit()
    sign_in_applicant(portal, nik)
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    # Stage T1 of the test schedule: 2 SD children x 225,000.
    assert 'data-cycle="PKH-TEST-T1"' in html and "Pembayaran PKH pertama Anda ikut tahap PKH-TEST-T1" in html
    assert "450.000" in html.split('data-cycle="PKH-TEST-T1"', 1)[1].split("</p>", 1)[0]
    from flask import current_app

    shown = current_app.test_cli_runner().invoke(args=["case", "show", number]).output
    assert "first payment: PKH stage PKH-TEST-T1 (2026-10..2026-12" in shown and "about Rp450,000 via BRI" in shown
    assert "Pembayaran Anda" not in html  # nothing paid yet
    with fresh_client() as officer:
        assert officer_login(officer, "cw").status_code == 302
        page = officer.get(f"/cases/{number}").get_data(as_text=True)
        assert "Perkiraan pembayaran pertama: PKH, tahap PKH-TEST-T1" in page

        # The cycle pays it: the expectation gives way to the payment.
        open_cycle(svc.engine, schedule(), "PKH-TEST-T1", officers["fin1"])
        db.session.commit()
        do(svc, "prepare_cycle", officers["fin1"], {"prepare_decision": "submit"})
        do(svc, "approve_cycle", officers["fin2"], {"cycle_approval_decision": "approve"})
        do(svc, "dispatch_batches", officers["fin1"], {"sp2d_number": "SP2D-1", "sp2d_date": date.today().isoformat()})
        page = officer.get(f"/cases/{number}").get_data(as_text=True)
        assert "Perkiraan pembayaran pertama" not in page
        history = page.split("Riwayat pembayaran", 1)[1].split("</table>", 1)[0]
        assert "PKH-TEST-T1" in history and "450.000" in history
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert 'data-cycle="PKH-TEST-T1"' not in html
    payments = html.split("Pembayaran Anda", 1)[1].split("</section>", 1)[0]
    assert "tahap PKH-TEST-T1" in payments and "450.000" in payments


def test_a_first_stage_paid_at_enrolment_by_the_older_path_stays_in_the_history(svc, personas, portal):
    from datetime import date

    from cases.operations import create_officer
    from tests.integration.portal_helpers import PASSWORD, fresh_client, officer_login, sign_in_applicant

    nik = personas["eligible_head_without_photo"]
    number = submit(svc, nik).case_number
    enrolment = _enrol_with_plan(number, date.today())
    enrolment.payment_plan, enrolment.disbursement_ref = None, f"{number}-T1"  # as the older step left it
    create_officer(db.session, "cw", "CW", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    sign_in_applicant(portal, nik)
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    payments = html.split("Pembayaran Anda", 1)[1].split("</section>", 1)[0]
    assert "tahap pertama, dibayar saat pendaftaran" in payments and "450.000" in payments
    from flask import current_app

    shown = current_app.test_cli_runner().invoke(args=["case", "show", number]).output
    assert f"paid at enrolment: {number}-T1  Rp450,000" in shown and "first payment:" not in shown
    with fresh_client() as officer:
        assert officer_login(officer, "cw").status_code == 302
        history = officer.get(f"/cases/{number}").get_data(as_text=True).split("Riwayat pembayaran", 1)[1]
        history = history.split("</table>", 1)[0]
        assert "Saat pendaftaran" in history and f"{number}-T1" in history and "450.000" in history
