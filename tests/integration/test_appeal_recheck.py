"""An overturned appeal runs the rules again: the grounds the appeals officer did not overturn still
count, programmes are recomputed, and a family that qualifies for nothing is never enrolled (Rp0)."""

import pytest
from sqlalchemy import select

from cases.models import Application, Enrolment
from cases.operations import create_officer, file_appeal
from engine.db import db
from integrations.sandbox.tables import civil_service, dtsen, outbox, people
from tests.helpers import case, fresh_client, open_task, submit, work
from tests.integration.portal_helpers import portal, sign_in_applicant  # noqa: F401  (fixture)
from tests.integration.test_web import PASSWORD, login

RETIRED = {"reason": "My husband retired years ago and gets no pension now."}


def civil_servant_in_rich_family():
    """A living civil servant whose family's DTSEN decile is above every programme's cut-off (> 5)."""
    nik = db.session.execute(
        select(people.c.nik)
        .join(civil_service, civil_service.c.nik == people.c.nik)
        .join(dtsen, dtsen.c.kk_number == people.c.kk_number)
        .where(civil_service.c.category.in_(("ASN", "TNI", "POLRI")), people.c.alive.is_(True), dtsen.c.decile > 5)
        .order_by(people.c.nik)
        .limit(1)
    ).scalar_one_or_none()
    if nik is None:
        pytest.skip("the synthetic population has no civil servant in a family above decile 5")
    return nik


def test_overturning_one_ground_of_two_leaves_the_family_not_enrolled(svc, officers, portal):  # noqa: F811
    nik = civil_servant_in_rich_family()
    number = submit(svc, nik).case_number
    codes = {r["code"] for r in case(number).reasons}
    assert {"CIVIL_SERVANT_HOUSEHOLD", "DECILE_ABOVE_CUTOFF"} <= codes and case(number).status == "REJECTED"
    file_appeal(svc.engine, number, RETIRED)
    db.session.commit()
    app = work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {
            "appeal_outcome": "overturn",
            "appeal_overturned_ground": "CIVIL_SERVANT_HOUSEHOLD",
            "appeal_notes": "the pension ended in 2019",
        },
    )
    assert app.status == "AWAITING_APPROVAL"
    # The rules ran again: the overturned ground is set aside, the decile still fails, no programme.
    assert app.programmes == []
    outcomes = {e["criterion"]: e["outcome"] for e in app.explanation}
    assert outcomes["DECILE_ABOVE_CUTOFF"] == "fail" and outcomes["PROGRAMME_PBI"] == "not_eligible"

    # The approver sees why before approving, beside the approval form.
    create_officer(db.session, "w_approver", "Approver", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        login(client, "w_approver")
        html = client.get(f"/cases/{number}").get_data(as_text=True)
    assert "data-approval-warning" in html
    warning = html.split("data-approval-warning", 1)[1].split("</div>", 1)[0]
    assert "DECILE_ABOVE_CUTOFF" in warning and "NO_PROGRAMME" in warning
    assert "CIVIL_SERVANT_HOUSEHOLD" in warning.split("</ul>", 1)[1]  # only as the ground set aside

    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "CLOSED_REJECTED" and app.decision == "reject"
    codes = [r["code"] for r in app.reasons]
    assert "DECILE_ABOVE_CUTOFF" in codes and "NO_PROGRAMME" in codes and "CIVIL_SERVANT_HOUSEHOLD" not in codes
    assert all(r["id"] and r["en"] for r in app.reasons)  # words the applicant can read
    assert db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).first() is None
    sent = db.session.execute(select(outbox.c.template).where(outbox.c.recipient_nik == nik)).scalars().all()
    assert "decision_enrolled" not in sent and "decision_rejected" in sent
    assert app.benefits in (None, {})
    outcomes = {e["criterion"]: e["outcome"] for e in app.explanation}
    assert outcomes["CIVIL_SERVANT_HOUSEHOLD"] == "set_aside" and outcomes["DECILE_ABOVE_CUTOFF"] == "fail"

    # The applicant reads why, in their words; the overturned ground is not among the reasons.
    sign_in_applicant(portal, nik)
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    reasons = html.split('id="reasons-title"', 1)[1].split("</ul>", 1)[0]
    assert "Keluarga tidak memenuhi syarat program bansos mana pun" in reasons
    assert "Peringkat kesejahteraan (desil) keluarga di DTSEN berada di atas batas program." in reasons
    assert "ASN, TNI atau Polri" not in reasons
    assert "Dikesampingkan dalam banding: Ada anggota keluarga yang menjadi ASN, TNI atau Polri" in html


def test_overturning_every_ground_still_enrols_only_with_a_programme(svc, officers):
    """Without naming a ground the appeal sets aside every ground; the decile still gives no programme."""
    nik = civil_servant_in_rich_family()
    number = submit(svc, nik).case_number
    file_appeal(svc.engine, number, RETIRED)
    db.session.commit()
    work(svc, number, "appeal_review", officers["app1"], {"appeal_outcome": "overturn", "appeal_notes": "all wrong"})
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "CLOSED_REJECTED"
    assert [r["code"] for r in app.reasons] == ["NO_PROGRAMME"]
    assert db.session.scalars(select(Application.status)).all() == ["CLOSED_REJECTED"]


def test_an_approver_may_still_reject_with_their_own_reason(svc, officers):
    nik = civil_servant_in_rich_family()
    number = submit(svc, nik).case_number
    file_appeal(svc.engine, number, RETIRED)
    db.session.commit()
    work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {"appeal_outcome": "overturn", "appeal_overturned_ground": "DECILE_ABOVE_CUTOFF", "appeal_notes": "x" * 5},
    )
    assert open_task(number, "approve") is not None
    app = work(
        svc,
        number,
        "approve",
        officers["sup1"],
        {
            "approval_decision": "reject",
            "approval_reason_codes": ["CIVIL_SERVANT_HOUSEHOLD"],
            "approval_notes": "still employed",
        },
    )
    assert app.status == "CLOSED_REJECTED" and app.reasons[0]["code"] == "CIVIL_SERVANT_HOUSEHOLD"


def test_a_case_on_the_previous_version_keeps_running_and_its_approver_is_warned(svc, officers):
    """A case started before this change stays on its version: no crash, and its approver is warned
    that approving would enrol the family with no programme."""
    from flask import current_app

    from engine.deploy import read_folder
    from engine.models import Incident, ProcessInstance
    from tests.conftest import DATA_DIR

    files = read_folder(current_app.config["BANSOS_PROCESS_DIR"])
    files["application.bpmn"] = (DATA_DIR / "application_before_recheck.bpmn").read_text()
    svc.engine.deploy_files(files, deployed_by="tests")
    db.session.commit()
    number = submit(svc, civil_servant_in_rich_family()).case_number
    old_version = db.session.get(ProcessInstance, case(number).instance_id).version_id
    svc.engine.deploy_folder(deployed_by="tests")  # the new diagram arrives while the case waits
    db.session.commit()
    file_appeal(svc.engine, number, RETIRED)
    db.session.commit()
    app = work(
        svc, number, "appeal_review", officers["app1"], {"appeal_outcome": "overturn", "appeal_notes": "pension ended"}
    )
    assert app.status == "AWAITING_APPROVAL"
    assert db.session.get(ProcessInstance, app.instance_id).version_id == old_version

    create_officer(db.session, "w_old_approver", "Approver", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        login(client, "w_old_approver")
        page = client.get(f"/cases/{number}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "data-approval-warning" in html and "versi proses lama" in html
    app = work(
        svc,
        number,
        "approve",
        officers["sup1"],
        {"approval_decision": "reject", "approval_reason_codes": ["DECILE_ABOVE_CUTOFF"], "approval_notes": "Rp0"},
    )
    assert app.status == "CLOSED_REJECTED"
    assert db.session.scalars(select(Incident)).first() is None
