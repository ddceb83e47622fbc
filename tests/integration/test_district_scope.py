"""District scope (engine/scope.py): every route acting on a district-bound object refuses an officer of
another district, lists show only the viewer's districts, and a district-limited administrator cannot
widen anyone's districts. tests/integration/test_route_coverage.py requires every such route here."""

import re

import pytest
from sqlalchemy import func, select

from cases.audit import AuditEntry
from cases.models import Objection, Officer
from cases.officers import DISTRICT_CODES
from cases.operations import actor_for, create_officer
from engine.db import db
from engine.humantasks import claim_task
from engine.models import HumanTask, Incident
from tests.helpers import case, fresh_client, later, open_task, submit, wake_all, work
from tests.integration.test_objections import APPROVE, SUP_APPROVE, _file, _neighbour

PASSWORD = "correct-horse-battery"
# Routes acting on one district-bound object (case, task, incident, objection, officer account).
DISTRICT_SCOPED_ENDPOINTS = {
    "casepages.show",
    "casepages.photo",
    "casepages.complete",
    "casepages.processing",
    "evidence.officer_file",
    "inbox.claim",
    "inbox.unclaim",
    "inbox.reassign",
    "desk.resolve",
    "objections.show",
    "objections.complete",
    "admin.edit",
    "admin.act",
    "admin.password",
    "api_cases.show",
    "api_cases.diagram",
    "api_tasks.show",
    "api_tasks.claim",
    "api_tasks.unclaim",
    "api_tasks.complete",
    "api_tasks.reassign",
}


def _login(client, username):
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert (
        client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}).status_code == 302
    )
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/profile").get_data(as_text=True)).group(1)


@pytest.fixture
def world(svc, personas, officers):
    """Work of two home districts (a claimed review task, an incident, an objection) and officers of a third."""
    review_case = submit(svc, personas["not_in_dtsen"]).case_number
    home = case(review_case).district_code
    create_officer(db.session, "h_cw", "Home Caseworker", ["caseworker"], [home], password=PASSWORD)
    db.session.commit()
    claim_task(svc.engine, open_task(review_case, "review").id, actor_for(_officer("h_cw")))
    # An enrolled family with a community objection waiting for verification.
    enrolled = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, enrolled, "review", officers["cw1"], APPROVE)
    recipient = work(svc, enrolled, "approve", officers["sup1"], SUP_APPROVE)
    objection = _file(svc, _neighbour(recipient), recipient)
    # An incident: the health-insurance registry times out on every attempt.
    nik = personas["civil_servant"]
    svc.integrations.faults.inject("bpjs_health", nik, "timeout", times=3)
    incident_case = submit(svc, nik).case_number
    for day in (1, 2):
        with later(day):
            wake_all(svc)
    incident = db.session.scalars(select(Incident).where(Incident.business_key == incident_case)).one()
    homes = {home, recipient.district_code, case(incident_case).district_code}
    other = next(code for code in reversed(DISTRICT_CODES) if code not in homes)
    for name, roles in {
        "x_cw": ["caseworker"],
        "x_sup": ["supervisor"],
        "x_app": ["appeals_officer"],
        "x_admin": ["administrator", "supervisor"],
        "x_all": ["caseworker", "supervisor"],
    }.items():
        create_officer(db.session, name, name, roles, [other], password=PASSWORD)
    create_officer(db.session, "h_sup", "Home Supervisor", ["supervisor"], [home], password=PASSWORD)
    db.session.commit()
    return {
        "review_case": review_case,
        "review": open_task(review_case, "review").id,
        "home": home,
        "objection": objection.number,
        "objection_task": open_task(objection.number).id,
        "incident": incident.id,
        "incident_case": incident_case,
        "other": other,
    }


def _officer(username):
    db.session.expire_all()
    return db.session.execute(select(Officer).where(Officer.username == username)).scalar_one()


def _task(task_id):
    db.session.expire_all()
    row = db.session.get(HumanTask, task_id)
    return row.status, row.assignee


def _refusals(action):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def test_pages_refuse_another_districts_cases_tasks_incidents_and_objections(world):
    number, review = world["review_case"], world["review"]
    claimed = _task(review)
    with fresh_client() as client:
        token = _login(client, "x_all")
        for path in (
            f"/cases/{number}",
            f"/cases/{number}/photos/selfie",
            f"/cases/{number}/evidence-files/k1",
            f"/cases/{number}/processing",
            f"/objections/{world['objection']}",
        ):
            assert client.get(path).status_code == 404, path
        before = _refusals("task.refused")
        client.post(f"/tasks/{review}/unclaim", data={"csrf_token": token})  # the defect: a supervisor released it
        client.post(f"/tasks/{review}/reassign", data={"csrf_token": token, "to": "x_all"})
        client.post(f"/tasks/{world['objection_task']}/claim", data={"csrf_token": token})
        assert _task(review) == claimed and _task(world["objection_task"]) == ("open", None)
        assert _refusals("task.refused") == before + 3
        response = client.post(
            f"/cases/{number}/tasks/{review}", data={"csrf_token": token, "review_decision": "approve"}
        )
        assert response.status_code == 404 and _task(review) == claimed
        response = client.post(
            f"/objections/{world['objection']}/tasks/{world['objection_task']}",
            data={"csrf_token": token, "objection_outcome": "dismissed"},
        )
        assert response.status_code == 404 and _task(world["objection_task"]) == ("open", None)
        # Lists: the inbox and the desk show nothing of the other districts.
        inbox = client.get("/inbox?view=all").get_data(as_text=True)
        desk = client.get("/desk").get_data(as_text=True)
        approvals = client.get("/desk/approvals").get_data(as_text=True)
        for page in (inbox, desk, approvals):
            assert number not in page and world["objection"] not in page and world["incident_case"] not in page
    with fresh_client() as client:
        token = _login(client, "x_admin")
        assert world["incident_case"] not in client.get("/desk").get_data(as_text=True)
        for action in ("retry", "skip"):
            client.post(f"/incidents/{world['incident']}/{action}", data={"csrf_token": token})
            db.session.expire_all()
            assert db.session.get(Incident, world["incident"]).status == "open"
        assert _refusals("incident.refused") == 2
    assert _refusals("case.view_refused") >= 2 and _refusals("objection.view_refused") == 2


def test_the_home_districts_officers_still_act(world):
    """The same routes work for the district's own supervisor (the refusals above are about district)."""
    create_officer(db.session, "all_sup", "Every District", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        _login(client, "all_sup")
        assert world["incident_case"] in client.get("/desk").get_data(as_text=True)
    with fresh_client() as client:
        token = _login(client, "h_sup")
        assert client.get(f"/cases/{world['review_case']}").status_code == 200
        client.post(f"/tasks/{world['review']}/unclaim", data={"csrf_token": token})
        assert _task(world["review"]) == ("open", None)


def test_the_api_refuses_another_districts_cases_and_tasks(world):
    number, review = world["review_case"], world["review"]
    claimed = _task(review)
    with fresh_client() as client:
        token = _login(client, "x_all")
        headers = {"X-CSRFToken": token}
        for path in (f"/api/v1/cases/{number}", f"/api/v1/cases/{number}/diagram", f"/api/v1/tasks/{review}"):
            assert client.get(path).status_code == 404, path
        for action, body in (
            ("claim", None),
            ("unclaim", None),
            ("complete", {"review_decision": "approve"}),
            ("reassign", {"to": "x_all"}),
        ):
            response = client.post(f"/api/v1/tasks/{review}/{action}", json=body or {}, headers=headers)
            assert response.status_code == 404 and response.get_json()["error"] == "TASK_NOT_FOUND", action
        assert _task(review) == claimed
        assert number not in str(client.get("/api/v1/cases").get_json())
        assert str(review) not in [str(t["id"]) for t in client.get("/api/v1/tasks?view=all").get_json()["items"]]
    assert _refusals("task.refused") >= 5 and _refusals("case.refused") == 2


def test_the_command_line_refuses_too(world):
    """The engine's checks (engine/scope.py) hold for `tepat ... --as`: refused with status 2."""
    from flask import current_app

    runner = current_app.test_cli_runner()
    claimed = _task(world["review"])
    for args in (
        ("tasks", "unclaim", str(world["review"]), "--as", "x_sup"),
        ("tasks", "reassign", str(world["review"]), "--to", "x_cw", "--as", "x_sup"),
        ("incidents", "retry", str(world["incident"]), "--as", "x_admin"),
        ("incidents", "skip", str(world["incident"]), "--as", "x_admin"),
    ):
        result = runner.invoke(args=list(args), catch_exceptions=False)
        assert result.exit_code == 2 and "NOT_ALLOWED" in result.output, (args, result.output)
    assert _task(world["review"]) == claimed
    db.session.expire_all()
    assert db.session.get(Incident, world["incident"]).status == "open"


def test_a_district_limited_administrator_cannot_widen_scopes_or_manage_other_districts(world):
    home_cw, x_cw, me = _officer("h_cw"), _officer("x_cw"), _officer("x_admin")
    other, home = world["other"], world["home"]
    with fresh_client() as client:
        token = _login(client, "x_admin")
        listed = client.get("/admin/officers").get_data(as_text=True)
        assert "x_cw" in listed and "h_cw" not in listed and "cw1" not in listed  # only officers they manage
        form = client.get("/admin/officers/new").get_data(as_text=True)
        assert 'value="all"' not in form and re.findall(r'name="regions" value="(\d+)"', form) == [world["other"]]
        # Officers of other districts (or of every district) are not theirs to manage.
        for target in (home_cw, _officer("admin")):
            assert client.get(f"/admin/officers/{target.id}").status_code == 404
            for action in ("deactivate", "unlock", "reactivate"):
                assert (
                    client.post(f"/admin/officers/{target.id}/{action}", data={"csrf_token": token}).status_code == 404
                )
            assert (
                client.post(
                    f"/admin/officers/{target.id}/password",
                    data={"csrf_token": token, "password": "long-enough-pass", "password_confirm": "long-enough-pass"},
                ).status_code
                == 404
            )
            assert (
                client.post(
                    f"/admin/officers/{target.id}",
                    data={
                        "csrf_token": token,
                        "name": "X",
                        "roles": "caseworker",
                        "region_scope": "some",
                        "regions": other,
                    },
                ).status_code
                == 404
            )
        assert _officer("h_cw").regions == [home] and _officer("h_cw").active
        # Within their district they manage, but give only their own districts: never "every district".
        widen = [{"region_scope": "all"}, {"region_scope": "some", "regions": [other, home]}]
        for scope in widen:
            for target in (x_cw, me):
                roles = ["caseworker"] if target is x_cw else ["administrator", "supervisor"]
                response = client.post(
                    f"/admin/officers/{target.id}",
                    data={"csrf_token": token, "name": target.name, "roles": roles, **scope},
                )
                assert response.status_code == 422 and "wilayah kerja Anda" in response.get_data(as_text=True)
            response = client.post(
                "/admin/officers/new",
                data={
                    "csrf_token": token,
                    "username": "wide_one",
                    "name": "Wide",
                    "roles": "caseworker",
                    "password": "long-enough-pass",
                    "password_confirm": "long-enough-pass",
                    **scope,
                },
            )
            assert response.status_code == 422
        assert _officer("x_cw").regions == [other] and _officer("x_admin").regions == [other]
        assert db.session.scalar(select(func.count()).select_from(Officer).where(Officer.username == "wide_one")) == 0
        assert _refusals("officer.refused") == 2 * 6 + 6
        response = client.post(
            f"/admin/officers/{x_cw.id}",
            data={
                "csrf_token": token,
                "name": "Renamed",
                "roles": "caseworker",
                "region_scope": "some",
                "regions": other,
            },
        )
        assert response.status_code == 302 and _officer("x_cw").name == "Renamed"
    assert db.session.scalar(select(func.count()).select_from(Objection)) == 1
