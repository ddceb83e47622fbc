"""Enrolment pays nothing by itself, also for a case still running the older diagram (which had a
'request disbursement' step): the family is registered for the payment cycles, which pay it."""
from sqlalchemy import func, select

from cases.models import Enrolment, enrolment_components
from engine.db import db
from engine.models import ProcessInstance
from integrations.sandbox.tables import disbursements
from tests.conftest import faces_or_skip
from tests.helpers import case, submit
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
