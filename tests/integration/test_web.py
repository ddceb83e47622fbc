"""Officers' web: sign-in and lock-out, CSRF, headers, translations, the authorization matrix, task forms."""

import re

import pytest

from cases.operations import create_officer
from engine.db import db
from tests.helpers import case, fresh_client, open_task, submit

PASSWORD = "correct-horse-battery"
ROLES = ("caseworker", "supervisor", "appeals_officer", "administrator", "auditor", "facilitator")


@pytest.fixture
def web(ctx):
    """A test client and one officer per role (all districts), plus a caseworker of district 25 only."""
    for role in ROLES:
        create_officer(db.session, f"w_{role}", role.title(), [role], None, password=PASSWORD)
    create_officer(db.session, "w_far", "Far Caseworker", ["caseworker"], ["25"], password=PASSWORD)
    create_officer(db.session, "w_cwsup", "Both", ["caseworker", "supervisor"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        yield client


def csrf_of(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username, password=PASSWORD):
    token = csrf_of(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def post(client, path, data=None):
    token = csrf_of(client, "/inbox")
    return client.post(path, data={**(data or {}), "csrf_token": token})


def test_sign_in_lock_out_and_sign_out(web):
    assert web.get("/inbox").status_code == 302
    for _ in range(5):
        assert login(web, "w_caseworker", "wrong-password").status_code == 401
    response = login(web, "w_caseworker")
    assert response.status_code == 429  # locked, even with the right password now
    assert login(web, "nobody", "whatever-pass").status_code == 401
    assert login(web, "w_supervisor").status_code == 302
    assert web.get("/inbox").status_code == 200
    post(web, "/logout")
    assert web.get("/inbox").status_code == 302


def test_open_redirect_after_login_is_ignored(web):
    token = csrf_of(web)
    response = web.post(
        "/login?next=//evil.example/x", data={"username": "w_caseworker", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]


def test_forged_or_missing_csrf_token_is_refused(web, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    login(web, "w_caseworker")
    assert web.post(f"/tasks/{task.id}/claim").status_code == 400
    assert web.post(f"/tasks/{task.id}/claim", data={"csrf_token": "forged"}).status_code == 400
    assert open_task(number, "review").status == "open"
    assert post(web, f"/tasks/{task.id}/claim").status_code == 302
    db.session.expire_all()
    assert open_task(number, "review").assignee == "w_caseworker"


def test_pages_are_indonesian_first_english_on_request_and_send_security_headers(web):
    login(web, "w_caseworker")
    response = web.get("/inbox")
    html = response.get_data(as_text=True)
    assert "Kotak tugas" in html and 'lang="id"' in html
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    web.get("/lang/en")
    assert "Inbox" in web.get("/inbox").get_data(as_text=True)


def _expected(role, route):
    """What each role gets on each route (the matrix the product promises)."""
    readers = {"caseworker", "supervisor", "appeals_officer", "administrator", "auditor"}
    workers = {"caseworker", "supervisor", "appeals_officer"}
    if role is None:
        return {302} if route[0] == "GET" else {302, 400}
    allowed = {
        "inbox": workers,
        "case": readers,
        "photo": workers,
        "claim": workers,
        "unclaim": workers,
        "reassign": {"supervisor", "administrator"},
        "complete": workers,
        "desk": {"supervisor", "administrator"},
        "resolve": {"administrator"},
        "audit": {"auditor", "administrator"},
        "export": {"auditor", "administrator"},
    }[route[1]]
    if role not in allowed:
        return {403}
    return {
        "inbox": {200},
        "case": {200},
        "photo": {200, 404},
        "claim": {302},
        "unclaim": {302, 409},
        "reassign": {302, 400},
        "complete": {409, 422, 302},
        "desk": {200},
        "resolve": {302, 404},
        "audit": {200},
        "export": {200},
    }[route[1]]


# Endpoints this module's matrix checks (tests/integration/test_route_coverage.py requires every route in one).
COVERED_ENDPOINTS = {
    "inbox.index",
    "inbox.claim",
    "inbox.unclaim",
    "inbox.reassign",
    "casepages.show",
    "casepages.complete",
    "casepages.photo",
    "desk.index",
    "desk.resolve",
    "auditpages.index",
    "auditpages.export",
    "auth.logout",
}
PUBLIC_ENDPOINTS = {"static", "status.index", "status.health", "status.favicon", "auth.login", "auth.set_language"}


@pytest.mark.parametrize("role", [None, *ROLES])
def test_authorization_matrix(web, svc, personas, role):
    faces_app = submit(svc, personas["not_in_dtsen"])
    number = faces_app.case_number
    task = open_task(number, "review")
    routes = [
        ("GET", "inbox", "/inbox"),
        ("GET", "case", f"/cases/{number}"),
        ("GET", "photo", f"/cases/{number}/photos/selfie"),
        ("POST", "claim", f"/tasks/{task.id}/claim"),
        ("POST", "unclaim", f"/tasks/{task.id}/unclaim"),
        ("POST", "reassign", f"/tasks/{task.id}/reassign"),
        ("POST", "complete", f"/cases/{number}/tasks/{task.id}"),
        ("GET", "desk", "/desk"),
        ("POST", "resolve", "/incidents/999999/retry"),
        ("GET", "audit", "/audit"),
        ("GET", "export", "/audit/export.csv"),
    ]
    if role is not None:
        assert login(web, f"w_{role}").status_code == 302
    for method, name, path in routes:
        if method == "GET":
            status = web.get(path).status_code
        elif role is None:
            status = web.post(path).status_code
        else:
            status = post(web, path, {"to": "w_caseworker"}).status_code
        assert status in _expected(role, (method, name)), (role, name, status)


def test_a_caseworker_of_another_district_cannot_open_the_case(web, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    if case(number).district_code == "25":
        pytest.skip("the persona lives in district 25")
    login(web, "w_far")
    assert web.get(f"/cases/{number}").status_code == 404
    assert web.get(f"/cases/{number}/photos/selfie").status_code == 404


def stamp_of(client, number):
    html = client.get(f"/cases/{number}").get_data(as_text=True)
    return re.search(r'name="claim_stamp" value="([^"]*)"', html).group(1)


def test_review_form_errors_four_eyes_and_stale_forms_through_the_web(web, svc, personas):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    review = open_task(number, "review")
    login(web, "w_cwsup")
    post(web, f"/tasks/{review.id}/claim")
    page = web.get(f"/cases/{number}").get_data(as_text=True)
    assert personas["eligible_head_without_photo"] not in page and "3510**·" in page  # masked NIK
    stale = stamp_of(web, number)
    response = post(web, f"/cases/{number}/tasks/{review.id}", {"claim_stamp": stale, "review_decision": "reject"})
    assert response.status_code == 422
    assert "is-invalid" in response.get_data(as_text=True)
    # The task was released and claimed again (another tab, a reassignment): the old form is stale.
    post(web, f"/tasks/{review.id}/unclaim")
    post(web, f"/tasks/{review.id}/claim")
    response = post(web, f"/cases/{number}/tasks/{review.id}", {"claim_stamp": stale, "review_decision": "approve"})
    assert response.status_code == 409 and open_task(number, "review") is not None
    response = post(
        web, f"/cases/{number}/tasks/{review.id}", {"claim_stamp": stamp_of(web, number), "review_decision": "approve"}
    )
    assert response.status_code == 302
    assert case(number).status == "AWAITING_APPROVAL"
    # The same form sent twice (double submit): the second is refused, nothing happens twice.
    response = post(web, f"/cases/{number}/tasks/{review.id}", {"claim_stamp": stale, "review_decision": "approve"})
    assert response.status_code == 409
    approve = open_task(number, "approve")
    response = post(web, f"/tasks/{approve.id}/claim")
    assert response.status_code == 302 and open_task(number, "approve").status == "open"  # four eyes
    post(web, "/logout")
    login(web, "w_supervisor")
    post(web, f"/tasks/{approve.id}/claim")
    response = post(
        web,
        f"/cases/{number}/tasks/{approve.id}",
        {"claim_stamp": stamp_of(web, number), "approval_decision": "approve"},
    )
    assert response.status_code == 302
    assert case(number).status == "ENROLLED"


def test_a_supervisor_cannot_reassign_tasks_outside_their_districts(web, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    other = "25" if task.region != "25" else "24"
    create_officer(db.session, "w_farsup", "Far Supervisor", ["supervisor"], [other], password=PASSWORD)
    db.session.commit()
    login(web, "w_farsup")
    post(web, f"/tasks/{task.id}/reassign", {"to": "w_caseworker"})
    db.session.expire_all()
    assert open_task(number, "review").assignee is None


def test_views_and_sign_ins_are_audited_and_the_chain_verifies(web, svc, personas):
    from sqlalchemy import select

    from cases.audit import AuditEntry

    number = submit(svc, personas["not_in_dtsen"]).case_number
    login(web, "w_caseworker", "wrong-password")
    login(web, "w_caseworker")
    web.get(f"/cases/{number}")
    task = open_task(number, "review")
    post(web, f"/tasks/{task.id}/claim")
    post(web, "/logout")
    login(web, "w_auditor")
    page = web.get("/audit")
    assert page.status_code == 200 and "alert-success" in page.get_data(as_text=True)
    csv_text = web.get("/audit/export.csv").get_data(as_text=True)
    db.session.expire_all()
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    actions = [(e.actor, e.action) for e in entries]
    assert ("w_caseworker", "login.failed") in actions and ("w_caseworker", "login.success") in actions
    assert ("w_caseworker", "case.view") in actions and ("w_caseworker", "task.claim") in actions
    view = next(e for e in entries if e.action == "case.view")
    assert view.target_id == number and view.ip == "127.0.0.1"
    assert all(e.hash in csv_text for e in entries if e.action != "audit.export")
    assert personas["not_in_dtsen"] not in csv_text
    login(web, "w_caseworker")
    assert web.get("/audit").status_code == 403


def test_supervisor_desk_and_incident_retry_through_the_web(web, svc, personas):
    from tests.helpers import later, wake_all

    nik = personas["not_in_dtsen"]
    svc.integrations.faults.inject("bpjs_health", nik, "timeout", times=3)
    number = submit(svc, nik).case_number
    for day in (1, 2):
        with later(day):
            wake_all(svc)
    assert case(number).status == "SUBMITTED"
    login(web, "w_caseworker")
    assert web.get("/desk").status_code == 403
    post(web, "/logout")
    login(web, "w_supervisor")
    page = web.get("/desk").get_data(as_text=True)
    assert "Meja supervisor" in page and number in page and "IntegrationTimeout" in page
    incident_id = re.search(r"/incidents/(\d+)/retry", page)
    assert incident_id is None  # supervisors see incidents; administrators handle them
    post(web, "/logout")
    login(web, "w_administrator")
    page = web.get("/desk").get_data(as_text=True)
    incident_id = re.search(r"/incidents/(\d+)/retry", page).group(1)
    assert post(web, f"/incidents/{incident_id}/retry").status_code == 302
    assert case(number).status == "IN_REVIEW"
    assert "Tidak ada insiden terbuka." in web.get("/desk").get_data(as_text=True)


def test_refusals_are_audited_with_who_what_and_where(web, svc, personas):
    from sqlalchemy import select

    from cases.audit import AuditEntry

    number = submit(svc, personas["not_in_dtsen"]).case_number
    other = "25" if case(number).district_code != "25" else "24"
    create_officer(db.session, "w_elsewhere", "Elsewhere", ["caseworker"], [other], password=PASSWORD)
    db.session.commit()
    login(web, "w_caseworker")
    assert web.get("/desk").status_code == 403
    assert web.post("/tasks/1/claim", data={"csrf_token": "forged"}).status_code == 400
    post(web, "/logout")
    login(web, "w_elsewhere")
    assert web.get(f"/cases/{number}").status_code == 404
    entries = {e.action: e for e in db.session.scalars(select(AuditEntry))}
    assert entries["access.refused"].actor == "w_caseworker" and entries["access.refused"].detail["path"] == "/desk"
    assert entries["access.refused"].ip == "127.0.0.1"
    assert entries["csrf.refused"].actor == "w_caseworker"
    assert entries["case.view_refused"].target_id == number and entries["case.view_refused"].actor == "w_elsewhere"
