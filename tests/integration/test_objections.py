"""Community objections (usul/sanggah): own village only, 14-day verification, escalation, re-check, privacy."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.models import Application, CaseEvent, Objection, Recheck
from cases.objections import (
    DuplicateObjection,
    RecipientNotInVillage,
    TooManyObjections,
    file_objection,
    resident_for,
    village_recipients,
)
from cases.operations import create_officer
from engine.db import db
from engine.errors import FormInvalid
from engine.humantasks import claim_task, complete_task
from engine.models import HumanTask
from integrations.nik import mask_nik
from integrations.sandbox.tables import outbox, people
from tests.helpers import case, fresh_client, later, open_task, submit, wake_all, work
from tests.integration.portal_helpers import sign_in_applicant
from tests.integration.test_web import PASSWORD, ROLES, csrf_of, login

APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}
SUP_APPROVE = {"approval_decision": "approve"}
REASON = "He drives his own car to the market every day and owns a shop."
UPHOLD = {"objection_outcome": "upheld", "objection_notes": "Visited: a car registered to the son is parked there."}
DISMISS = {"objection_outcome": "dismissed", "objection_notes": "Visited: no car; the neighbour's car was seen."}


@pytest.fixture
def recipient(svc, personas, officers):
    """An enrolled family (reviewed and approved by two officers)."""
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, number, "review", officers["cw1"], APPROVE)
    app = work(svc, number, "approve", officers["sup1"], SUP_APPROVE)
    assert app.status == "ENROLLED" and app.village
    return app


def _neighbour(app, same_village=True, skip=()):
    """A living resident of the recipient's village (or of another village), outside the family."""
    query = select(people.c.nik).where(
        people.c.alive.is_(True), people.c.kk_number != app.kk_number, people.c.nik.notin_(list(skip))
    )
    if same_village:
        query = query.where(people.c.district_code == app.district_code, people.c.village == app.village)
    else:
        query = query.where(people.c.village != app.village)
    return db.session.execute(query.order_by(people.c.nik).limit(1)).scalar_one()


def _file(svc, objector_nik, app, ground="FOUR_WHEEL_VEHICLE", per_day=3, reason=REASON):
    resident = resident_for(svc.integrations, objector_nik)
    objection = file_objection(
        svc.engine, resident, {"recipient": app.id, "ground": ground, "reason": reason}, per_day=per_day
    )
    db.session.commit()
    return objection


def verify(svc, number, bpmn_id, actor, data):
    """Claim and complete an objection's verification task as `actor`, and commit."""
    row = open_task(number, bpmn_id)
    assert row is not None, f"no open {bpmn_id} task on {number}"
    claim_task(svc.engine, row.id, actor)
    db.session.commit()
    complete_task(svc.engine, row.id, actor, data)
    db.session.commit()


def _enrolled_neighbour(app, nik):
    """A second enrolled family in the same village (a record, for the daily limit)."""
    other = Application(
        nik=nik,
        active_nik=nik,
        case_number=f"TPT-2026-9{nik[-6:]}",
        district_code=app.district_code,
        village=app.village,
        applicant_name="Second Family",
        consent_version="2025-01",
        status="ENROLLED",
        reasons=[],
        review_flags=[],
        programmes=["BPNT"],
    )
    db.session.add(other)
    db.session.commit()
    return other


def test_objection_in_own_village_becomes_a_task_due_14_days_later(svc, recipient):
    objector = _neighbour(recipient)
    filed_at = datetime(2026, 3, 6, 3, 0, tzinfo=UTC)  # a Friday: calendar days, not working days
    with time_machine.travel(filed_at, tick=False):
        objection = _file(svc, objector, recipient)
    assert re.fullmatch(r"SGH-2026-\d{7}", objection.number)
    assert objection.status == "open" and objection.village == recipient.village
    task = open_task(objection.number, "verify_objection")
    assert task.queue == "caseworker" and task.region == recipient.district_code
    assert task.form_name == "objection_review"
    assert task.due_at == filed_at + timedelta(days=14)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "objection.file")).one()
    assert entry.target_id == objection.number and objector not in str(entry.detail) and objector not in entry.actor


def test_the_village_list_shows_initials_and_masked_niks_only(svc, recipient):
    resident = resident_for(svc.integrations, _neighbour(recipient))
    listed = village_recipients(db.session, resident)
    assert [r["id"] for r in listed] == [recipient.id]
    assert listed[0]["nik"] == mask_nik(recipient.nik)
    assert re.fullmatch(r"([A-Z]\. ?)+", listed[0]["initials"])
    assert recipient.applicant_name not in str(listed)
    own = resident_for(svc.integrations, recipient.nik)
    assert village_recipients(db.session, own) == []  # never yourself


def test_objection_about_another_village_is_refused(svc, recipient):
    with pytest.raises(RecipientNotInVillage):
        _file(svc, _neighbour(recipient, same_village=False), recipient)
    db.session.rollback()
    with pytest.raises(RecipientNotInVillage):  # nor about yourself
        _file(svc, recipient.nik, recipient)
    db.session.rollback()
    assert db.session.scalars(select(Objection)).all() == []
    assert db.session.scalars(select(HumanTask).where(HumanTask.business_key.like("SGH-%"))).all() == []


def test_bad_input_is_refused_with_field_errors(svc, recipient):
    with pytest.raises(FormInvalid) as refused:
        _file(svc, _neighbour(recipient), recipient, ground="DISLIKES_HIM", reason="short")
    assert set(refused.value.errors) == {"ground", "reason"}


def test_duplicate_objection_and_daily_limit_are_refused(svc, recipient):
    objector = _neighbour(recipient)
    _file(svc, objector, recipient)
    with pytest.raises(DuplicateObjection):
        _file(svc, objector, recipient)
    db.session.rollback()
    second = _enrolled_neighbour(recipient, _neighbour(recipient, skip={objector}))
    with pytest.raises(TooManyObjections):
        _file(svc, objector, second, per_day=1)
    db.session.rollback()
    assert len(db.session.scalars(select(Objection)).all()) == 1
    with later(1.1):  # a day later the limit allows another objection
        assert _file(svc, objector, second, per_day=1).status == "open"


def test_upheld_objection_starts_a_recheck_that_sends_the_family_to_review(svc, recipient, officers):
    objector = _neighbour(recipient)
    objection = _file(svc, objector, recipient)
    verify(svc, objection.number, "verify_objection", officers["cw1"], UPHOLD)
    db.session.expire_all()
    objection = db.session.get(Objection, objection.id)
    assert objection.status == "upheld" and objection.decided_by == "cw1" and objection.recheck == "started"
    recheck = db.session.scalars(select(Recheck).where(Recheck.application_id == recipient.id)).one()
    assert recheck.outcome == "review"  # the rules alone would keep the family; the objection sends it to review
    assert case(recipient.case_number).status == "REMOVAL_REVIEW"
    task = open_task(recipient.case_number, "removal_review")
    assert task.queue == "caseworker" and "COMMUNITY_OBJECTION" in task.flags  # flagged in the inbox
    # A second officer confirms the removal (the re-check's four eyes); the reason says why, not who.
    verify(
        svc,
        recipient.case_number,
        "removal_review",
        officers["cw2"],
        {"removal_decision": "remove", "removal_notes": "confirmed: the family owns a car"},
    )
    verify(svc, recipient.case_number, "approve_removal", officers["sup1"], SUP_APPROVE)
    assert case(recipient.case_number).status == "REMOVED"
    reasons = case(recipient.case_number).reasons
    assert any(r["code"] == "COMMUNITY_OBJECTION" for r in reasons)
    # The objector is told the outcome; the family learns nothing about who objected.
    sent = db.session.execute(select(outbox.c.template).where(outbox.c.recipient_nik == objector)).scalars().all()
    assert "objection_upheld" in sent
    objector_name = objection.objector_name
    for event in db.session.scalars(select(CaseEvent).where(CaseEvent.application_id == recipient.id)):
        assert objector not in str(event.detail) and objector_name not in event.summary
    assert objector not in str(reasons) and objector_name not in str(reasons)
    to_family = db.session.execute(select(outbox.c.params).where(outbox.c.recipient_nik == recipient.nik)).all()
    assert objector not in str(to_family) and objector_name not in str(to_family)
    audit = db.session.scalars(select(AuditEntry.action)).all()
    assert {"objection.file", "task.claim", "task.complete", "objection.recheck"} <= set(audit)


def test_dismissed_objection_changes_nothing_and_may_be_filed_again(svc, recipient, officers):
    objector = _neighbour(recipient)
    objection = _file(svc, objector, recipient)
    verify(svc, objection.number, "verify_objection", officers["cw1"], DISMISS)
    db.session.expire_all()
    assert db.session.get(Objection, objection.id).status == "dismissed"
    assert case(recipient.case_number).status == "ENROLLED"
    assert db.session.scalars(select(Recheck)).all() == []
    sent = db.session.execute(select(outbox.c.template).where(outbox.c.recipient_nik == objector)).scalars().all()
    assert "objection_dismissed" in sent
    assert _file(svc, objector, recipient, ground="OTHER").status == "open"  # new facts, after the decision


def test_an_overdue_verification_escalates_to_a_supervisor(svc, recipient, officers):
    objection = _file(svc, _neighbour(recipient), recipient)
    with later(13):
        assert wake_all(svc) == 0
    assert open_task(objection.number, "verify_objection") is not None
    with later(14.01):
        assert wake_all(svc) == 1
        db.session.expire_all()
        assert open_task(objection.number, "verify_objection") is None
        escalated = open_task(objection.number, "verify_objection_escalated")
        assert escalated.queue == "supervisor" and escalated.priority == 80
        assert escalated.region == recipient.district_code and escalated.due_at is not None
        verify(svc, objection.number, "verify_objection_escalated", officers["sup1"], DISMISS)
    assert db.session.get(Objection, objection.id).status == "dismissed"


# --- the web -------------------------------------------------------------------------------------


@pytest.fixture
def web(ctx):
    for role in ROLES:
        create_officer(db.session, f"w_{role}", role.title(), [role], None, password=PASSWORD)
    create_officer(db.session, "w_far", "Far Caseworker", ["caseworker"], ["25"], password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        yield client


def sign_in_resident(client, svc, nik):
    """Sign a resident in through the portal's sandbox digital ID (OIDC, one-time code by SMS)."""
    sign_in_applicant(client, nik)


def _post(client, path, data, token_page):
    return client.post(path, data={**data, "csrf_token": csrf_of(client, token_page)})


def test_a_resident_objects_in_the_portal_and_sees_the_outcome(web, svc, recipient, officers):
    objector = _neighbour(recipient)
    sign_in_resident(web, svc, objector)
    page = web.get("/portal/objections/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and recipient.village in html
    assert recipient.nik not in html and recipient.applicant_name not in html
    assert mask_nik(recipient.nik) in html
    response = _post(
        web,
        "/portal/objections/new",
        {"recipient": str(recipient.id), "ground": "FOUR_WHEEL_VEHICLE", "reason": "short"},
        "/portal/objections/new",
    )
    assert response.status_code == 422 and "is-invalid" in response.get_data(as_text=True)
    response = _post(
        web,
        "/portal/objections/new",
        {"recipient": str(recipient.id), "ground": "FOUR_WHEEL_VEHICLE", "reason": REASON},
        "/portal/objections/new",
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/portal/objections")
    mine = web.get("/portal/objections").get_data(as_text=True)
    number = re.search(r"SGH-\d{4}-\d{7}", mine).group(0)
    assert "Sedang diverifikasi" in mine and recipient.applicant_name not in mine
    response = _post(
        web,
        "/portal/objections/new",
        {"recipient": str(recipient.id), "ground": "OTHER", "reason": REASON},
        "/portal/objections/new",
    )
    assert response.status_code == 409  # a duplicate, with a clear message
    assert "sedang diverifikasi" in response.get_data(as_text=True)
    verify(svc, number, "verify_objection", officers["cw1"], UPHOLD)
    mine = web.get("/portal/objections").get_data(as_text=True)
    assert "Dikabulkan" in mine and UPHOLD["objection_notes"] not in mine  # the officer's notes stay inside


def test_a_resident_cannot_object_about_another_village_through_the_portal(web, svc, recipient):
    sign_in_resident(web, svc, _neighbour(recipient, same_village=False))
    page = web.get("/portal/objections/new").get_data(as_text=True)
    assert f'value="{recipient.id}"' not in page
    response = _post(
        web,
        "/portal/objections/new",
        {"recipient": str(recipient.id), "ground": "DECEASED", "reason": REASON},
        "/portal/objections/new",
    )
    assert response.status_code == 403 and "desa Anda sendiri" in response.get_data(as_text=True)
    assert db.session.scalars(select(Objection)).all() == []


def test_officers_work_the_objection_from_the_inbox(web, svc, recipient):
    objector = _neighbour(recipient)
    objection = _file(svc, objector, recipient)
    task = open_task(objection.number, "verify_objection")
    login(web, "w_caseworker")
    inbox = web.get("/inbox").get_data(as_text=True)
    assert objection.number in inbox
    opened = web.get(f"/cases/{objection.number}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/objections/{objection.number}")
    claimed = _post(web, f"/tasks/{task.id}/claim", {}, "/inbox")
    assert claimed.status_code == 302
    page = web.get(f"/objections/{objection.number}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and REASON in html and objection.objector_name in html
    assert objector not in html and mask_nik(objector) in html  # the objector, masked
    assert recipient.case_number in html
    response = _post(
        web,
        f"/objections/{objection.number}/tasks/{task.id}",
        {"objection_outcome": "upheld"},
        f"/objections/{objection.number}",
    )
    assert response.status_code == 422 and "is-invalid" in response.get_data(as_text=True)
    response = _post(
        web, f"/objections/{objection.number}/tasks/{task.id}", {**UPHOLD}, f"/objections/{objection.number}"
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Objection, objection.id).status == "upheld"
    assert case(recipient.case_number).status == "REMOVAL_REVIEW"
    flagged = web.get("/inbox?flag=COMMUNITY_OBJECTION").get_data(as_text=True)
    assert recipient.case_number in flagged and "Sanggahan masyarakat" in flagged  # the removal review, flagged
    views = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "objection.view")).all()
    assert views and views[0].actor == "w_caseworker"


def test_an_officer_of_another_district_cannot_open_the_objection(web, svc, recipient):
    if recipient.district_code == "25":
        pytest.skip("the persona lives in district 25")
    objection = _file(svc, _neighbour(recipient), recipient)
    login(web, "w_far")
    assert web.get(f"/objections/{objection.number}").status_code == 404
    assert objection.number not in web.get("/inbox").get_data(as_text=True)


# Endpoints this module's matrix checks (tests/integration/test_route_coverage.py).
COVERED_ENDPOINTS = {"objections.mine", "objections.new", "objections.file", "objections.show", "objections.complete"}
RESIDENT = "resident"


def _expected(who, name):
    readers = {"caseworker", "supervisor", "administrator", "auditor"}
    workers = {"caseworker", "supervisor"}
    if name in ("mine", "new", "file"):  # the portal: signed-in residents only; everyone else to its sign-in
        return {200, 422} if who == RESIDENT else {302, 400}
    if who in (None, RESIDENT):  # the officer pages: to the officers' sign-in (or CSRF refusal)
        return {302, 400}
    allowed = readers if name == "show" else workers
    if who not in allowed:
        return {403}
    return {200} if name == "show" else {409}  # the task is not claimed by this officer


@pytest.mark.parametrize("who", [None, RESIDENT, *ROLES])
def test_authorization_matrix(web, svc, recipient, who):
    objection = _file(svc, _neighbour(recipient), recipient)
    task = open_task(objection.number, "verify_objection")
    routes = [
        ("GET", "mine", "/portal/objections"),
        ("GET", "new", "/portal/objections/new"),
        ("POST", "file", "/portal/objections/new"),
        ("GET", "show", f"/objections/{objection.number}"),
        ("POST", "complete", f"/objections/{objection.number}/tasks/{task.id}"),
    ]
    if who == RESIDENT:
        sign_in_resident(web, svc, _neighbour(recipient, skip={objection.objector_nik}))
    elif who is not None:
        assert login(web, f"w_{who}").status_code == 302
    for method, name, path in routes:
        if method == "GET":
            status = web.get(path).status_code
        elif who is None:
            status = web.post(path).status_code
        else:
            token_page = "/portal/objections" if who == RESIDENT else "/login"
            status = _post(web, path, {**UPHOLD}, token_page).status_code
        assert status in _expected(who, name), (who, name, status)
    db.session.expire_all()
    assert db.session.get(Objection, objection.id).status == "open"


def test_an_objection_whose_process_fails_to_start_leaves_nothing_behind(svc, recipient, monkeypatch):
    objector = _neighbour(recipient)

    def broken_start(*args, **kwargs):
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(svc.engine, "start", broken_start)
    with pytest.raises(RuntimeError):
        _file(svc, objector, recipient)
    db.session.rollback()
    # Nothing committed half-way (on SQLite a released savepoint used to commit the objection row).
    assert db.session.scalars(select(Objection)).all() == []
