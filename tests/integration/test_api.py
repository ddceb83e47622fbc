"""The JSON API: authorization matrix (token and session), district scoping, a task round trip, CSRF,
JSON errors, and the OpenAPI document against what the endpoints enforce."""

import json

import pytest
from sqlalchemy import select

from cases.audit import AuditEntry
from engine.db import db
from tests.helpers import case, open_task, submit
from tests.integration.api_support import ROLES, api  # noqa: F401  (the fixture)

READERS = {"caseworker", "supervisor", "appeals_officer", "administrator", "auditor"}
WORKERS = {"caseworker", "supervisor", "appeals_officer"}

# Endpoints this module's matrix requests as every role and anonymous (tests/integration/test_route_coverage.py).
COVERED_ENDPOINTS = {
    "api_cases.index",
    "api_cases.search",
    "api_cases.show",
    "api_cases.diagram",
    "api_tasks.index",
    "api_tasks.show",
    "api_tasks.claim",
    "api_tasks.unclaim",
    "api_tasks.complete",
    "api_tasks.reassign",
    "api_processes.index",
    "api_processes.version",
    "api_processes.file",
}
# The OpenAPI document and its Swagger UI page describe the API and hold no data.
PUBLIC_ENDPOINTS = {"api-docs.openapi_json", "api_docs.docs"}


def _expected(role, name):
    """The status each role gets, in the order the matrix requests (claim, release, complete, reassign)."""
    if role is None:
        return 200 if name in ("spec", "docs") else 401
    allowed = {
        "spec": set(ROLES),
        "docs": set(ROLES),
        "cases": READERS,
        "search": READERS,
        "case": READERS,
        "diagram": READERS,
        "tasks": WORKERS,
        "task": READERS,
        "claim": WORKERS,
        "unclaim": WORKERS,
        "complete": WORKERS,
        "reassign": {"supervisor", "administrator"},
        "processes": READERS,
        "version": READERS,
        "file": {"administrator"},
    }[name]
    if role not in allowed:
        return 403
    if name == "claim":
        return 200 if role == "caseworker" else 403  # the review is the caseworkers' queue
    if name == "unclaim":
        return 200 if role == "caseworker" else 409  # only the caseworker holds it
    if name == "complete":
        return 409  # released just before: not claimed
    return 200


@pytest.mark.parametrize("role, mode", [(None, "anonymous")] + [(r, m) for r in ROLES for m in ("token", "session")])
def test_authorization_matrix(api, svc, personas, role, mode):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    version = svc.engine.latest_version("application")
    base = f"/api/v1/processes/application/versions/{version.id}"
    routes = [
        ("GET", "spec", "/api/v1/openapi.json"),
        ("GET", "docs", "/api/v1/docs"),
        ("GET", "cases", "/api/v1/cases"),
        ("POST", "search", "/api/v1/cases/search"),
        ("GET", "case", f"/api/v1/cases/{number}"),
        ("GET", "diagram", f"/api/v1/cases/{number}/diagram"),
        ("GET", "tasks", "/api/v1/tasks"),
        ("GET", "task", f"/api/v1/tasks/{task.id}"),
        ("POST", "claim", f"/api/v1/tasks/{task.id}/claim"),
        ("POST", "unclaim", f"/api/v1/tasks/{task.id}/unclaim"),
        ("POST", "complete", f"/api/v1/tasks/{task.id}/complete"),
        ("POST", "reassign", f"/api/v1/tasks/{task.id}/reassign"),
        ("GET", "processes", "/api/v1/processes"),
        ("GET", "version", base),
        ("GET", "file", f"{base}/files/application.bpmn"),
    ]
    username = f"a_{role}"
    headers = {}
    if mode == "token" and role is not None:
        headers = api.bearer(username)
    elif mode == "session":
        headers = {"X-CSRFToken": api.login(username)}
    bodies = {"complete": {"review_decision": "approve"}, "reassign": {"to": "a_cw2"}, "search": {"q": number}}
    for method, name, path in routes:
        if method == "GET":
            response = api.client.get(path, headers=headers)
        else:
            response = api.client.post(path, json=bodies.get(name, {}), headers=headers)
        assert response.status_code == _expected(role, name), (role, mode, name, response.get_json())
        if name not in ("docs", "file"):
            assert response.is_json, (name, response.content_type)


def test_a_caseworker_of_another_district_sees_none_of_its_cases_or_tasks(api, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    if case(number).district_code == "25":
        pytest.skip("the persona lives in district 25")
    task = open_task(number, "review")
    assert api.get("/api/v1/cases", "a_far").get_json()["total"] == 0
    assert api.get("/api/v1/cases?district=" + case(number).district_code, "a_far").get_json()["items"] == []
    assert api.get("/api/v1/tasks", "a_far").get_json()["total"] == 0
    for path in (f"/api/v1/cases/{number}", f"/api/v1/cases/{number}/diagram", f"/api/v1/tasks/{task.id}"):
        response = api.get(path, "a_far")
        assert response.status_code == 404 and response.get_json()["error"] in ("CASE_NOT_FOUND", "TASK_NOT_FOUND")
    for action in ("claim", "unclaim", "complete"):
        assert api.post(f"/api/v1/tasks/{task.id}/{action}", "a_far", json={}).status_code == 404
    assert open_task(number, "review").status == "open"
    # A caseworker of every district sees it, and filters narrow the list.
    listed = api.get("/api/v1/cases?status=IN_REVIEW", "a_caseworker").get_json()
    assert [c["case_number"] for c in listed["items"]] == [number] and listed["total"] == 1
    assert api.get("/api/v1/cases?status=ENROLLED", "a_caseworker").get_json()["total"] == 0
    assert api.get("/api/v1/cases?district=ab", "a_caseworker").status_code == 422


def test_task_round_trip_with_form_errors_four_eyes_and_conflicts(api, svc, personas):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    review = open_task(number, "review")
    shown = api.get(f"/api/v1/tasks/{review.id}", "a_cwsup").get_json()
    assert shown["form"]["name"] == "case_review" and shown["case_number"] == number
    assert {f["name"] for f in shown["form"]["fields"]} == {
        "review_decision",
        "review_reason_codes",
        "review_message",
        "review_notes",
    }
    assert (
        api.post(f"/api/v1/tasks/{review.id}/complete", "a_cwsup", json={"review_decision": "approve"}).get_json()[
            "error"
        ]
        == "TASK_NOT_CLAIMED"
    )
    claimed = api.post(f"/api/v1/tasks/{review.id}/claim", "a_cwsup").get_json()
    assert claimed["task"]["status"] == "claimed" and claimed["task"]["assignee"] == "a_cwsup"
    assert api.post(f"/api/v1/tasks/{review.id}/claim", "a_cw2").get_json()["error"] == "TASK_ALREADY_CLAIMED"
    mine = api.get("/api/v1/tasks?view=mine", "a_cwsup").get_json()
    assert [t["id"] for t in mine["items"]] == [review.id]

    response = api.post(f"/api/v1/tasks/{review.id}/complete", "a_cwsup", json={"review_decision": "reject"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "FORM_INVALID" and "review_reason_codes" in body["errors"]["json"]
    response = api.post(f"/api/v1/tasks/{review.id}/complete", "a_cwsup", json=["approve"])
    assert response.status_code == 422 and "_schema" in response.get_json()["errors"]["json"]
    assert case(number).status == "IN_REVIEW"

    done = api.post(
        f"/api/v1/tasks/{review.id}/complete",
        "a_cwsup",
        json={"review_decision": "approve", "review_notes": "checked at the village office"},
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["case"]["status"] == "AWAITING_APPROVAL" == case(number).status
    again = api.post(f"/api/v1/tasks/{review.id}/complete", "a_cwsup", json={"review_decision": "approve"})
    assert again.status_code == 409 and again.get_json()["error"] == "TASK_NOT_READY"

    approve = open_task(number, "approve")
    refused = api.post(f"/api/v1/tasks/{approve.id}/claim", "a_cwsup", **{"Accept-Language": "en"})
    assert refused.status_code == 403
    body = refused.get_json()
    assert body["error"] == "FOUR_EYES" and body["detail"]["earlier"] == "review" and "four eyes" in body["message"]
    assert open_task(number, "approve").status == "open"

    # A supervisor hands it to a caseworker who may not approve (422 on "to"), then to a second supervisor.
    wrong = api.post(f"/api/v1/tasks/{approve.id}/reassign", "a_supervisor", json={"to": "a_cw2"})
    assert wrong.status_code == 422 and "to" in wrong.get_json()["errors"]["json"]
    unknown = api.post(f"/api/v1/tasks/{approve.id}/reassign", "a_supervisor", json={"to": "nobody"})
    assert unknown.status_code == 422 and unknown.get_json()["error"] == "OFFICER_NOT_FOUND"
    moved = api.post(f"/api/v1/tasks/{approve.id}/reassign", "a_supervisor", json={"to": "a_sup2"})
    assert moved.status_code == 200 and moved.get_json()["task"]["assignee"] == "a_sup2"
    finished = api.post(f"/api/v1/tasks/{approve.id}/complete", "a_sup2", json={"approval_decision": "approve"})
    assert finished.get_json()["case"]["status"] == "ENROLLED" == case(number).status

    db.session.expire_all()
    actions = [(e.actor, e.action) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert ("a_cwsup", "task.claim") in actions and ("a_cwsup", "task.complete") in actions
    assert ("a_supervisor", "task.reassign") in actions and ("a_sup2", "task.complete") in actions


def test_session_writes_need_the_csrf_token_and_token_writes_do_not(api, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    csrf = api.login("a_caseworker")
    refused = api.client.post(f"/api/v1/tasks/{task.id}/claim")
    assert refused.status_code == 400 and refused.get_json()["error"] == "CSRF_FAILED"
    refused = api.client.post(f"/api/v1/tasks/{task.id}/claim", headers={"X-CSRFToken": "forged"})
    assert refused.status_code == 400
    assert open_task(number, "review").status == "open"
    assert api.client.get(f"/api/v1/tasks/{task.id}").status_code == 200  # reads need none
    assert api.client.post(f"/api/v1/tasks/{task.id}/claim", headers={"X-CSRFToken": csrf}).status_code == 200
    assert api.client.post(f"/api/v1/tasks/{task.id}/unclaim", headers={"X-CSRFToken": csrf}).status_code == 200
    api.logout()
    # A token decides alone: no CSRF token, and the session cookie next to it is not used.
    assert api.post(f"/api/v1/tasks/{task.id}/claim", "a_cw2").status_code == 200
    api.login("a_caseworker")
    response = api.client.post(f"/api/v1/tasks/{task.id}/unclaim", headers=api.bearer("a_auditor"))
    assert response.status_code == 403


def test_case_detail_masks_identifiers_has_no_photos_and_each_view_is_audited(api, svc, personas):
    nik = personas["not_in_dtsen"]
    number = submit(svc, nik).case_number
    response = api.get(f"/api/v1/cases/{number}", "a_auditor")
    assert response.status_code == 200
    data = response.get_json()
    text = json.dumps(data)
    assert nik not in text and data["applicant"]["nik"].startswith("3510") and "*" in data["applicant"]["nik"]
    assert data["household"] and all("*" in m["nik"] for m in data["household"])
    assert data["status"] == "IN_REVIEW" and {r["code"] for r in data["reasons"]} >= {"NOT_IN_DTSEN"}
    assert data["explanation"] and data["timeline"] and data["tasks"][0]["bpmn_id"] == "review"
    assert {e["source"] for e in data["evidence"]} >= {"civil_registry", "dtsen"}
    assert not {"photos", "selfie", "selfie_ref"} & set(data) and "selfie_ref" not in text
    db.session.expire_all()
    view = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "case.view")).one()
    assert view.actor == "a_auditor" and view.target_id == number and view.ip == "127.0.0.1"
    assert view.detail["via"] == "api-token" and view.detail["token"] == api.tokens["a_auditor"][:12]


def test_diagram_of_a_case_for_the_pages_script(api, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    api.login("a_caseworker")
    page = api.client.get(f"/cases/{number}").get_data(as_text=True)
    assert f'data-src="/api/v1/cases/{number}/diagram"' in page
    data = api.client.get(f"/api/v1/cases/{number}/diagram").get_json()
    assert data["process_id"] == "application" and "<bpmn:definitions" in data["xml"]
    assert "review" in data["active"] and "verify_identity" in data["done"]


def test_errors_under_api_are_json_and_pages_keep_html(api, svc):
    for method, path, status in (
        ("GET", "/api/v1/nothing-here", 404),
        ("POST", "/api/v1/cases", 405),
        ("GET", "/api/v1/tasks/999999", 404),
        ("GET", "/api/v1/cases/TPT-0", 404),
        ("GET", "/api/v1/processes/application/versions/999999", 404),
    ):
        response = api.client.open(path, method=method, headers=api.bearer("a_caseworker"))
        assert response.status_code == status and response.is_json, (path, response.status_code)
        body = response.get_json()
        assert body["code"] == status and body["error"] and body["message"]
    assert "GET" in api.client.post("/api/v1/cases").headers["Allow"]
    response = api.get("/api/v1/tasks?view=everything", "a_caseworker")
    assert response.status_code == 422 and "view" in response.get_json()["errors"]["query"]
    assert not api.client.get("/no-such-page").is_json
    api.login("a_auditor")
    assert not api.client.get("/inbox").is_json  # a page's 403 stays a page


def test_processes_versions_and_files(api, svc, personas):
    submit(svc, personas["not_in_dtsen"])
    listed = {p["process_id"]: p for p in api.get("/api/v1/processes", "a_auditor").get_json()}
    application = listed["application"]
    latest = application["versions"][0]
    assert latest["latest"] and latest["id"] == application["latest_version"] and latest["deployed_by"] == "tests"
    assert sum(latest["instances"].values()) == 1 and len(latest["content_hash"]) == 64
    assert latest["number"] == application["latest_number"] == 1 and listed["recheck"]["latest_number"] == 1
    detail = api.get(f"/api/v1/processes/application/versions/{latest['id']}", "a_auditor").get_json()
    names = {f["name"]: f for f in detail["files"]}
    assert {"application.bpmn", "eligibility.dmn"} <= set(names)
    xml = api.get(names["application.bpmn"]["url"], "a_administrator")
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and b"<bpmn:definitions" in xml.data
    assert api.get(names["application.bpmn"]["url"], "a_auditor").status_code == 403
    assert api.get(f"/api/v1/processes/recheck/versions/{latest['id']}", "a_auditor").status_code == 404
    missing = api.get(f"/api/v1/processes/application/versions/{latest['id']}/files/x.bpmn", "a_administrator")
    assert missing.status_code == 404 and missing.is_json


def _resolve(spec, ref):
    node = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_openapi_document_describes_every_endpoint_and_its_refs_resolve(app, api):
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] and spec["info"]["version"]
    assert {"bearerToken", "browserSession"} <= set(spec["components"]["securitySchemes"])
    assert spec["security"] == [{"bearerToken": []}, {"browserSession": []}]
    documented = {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    from tests.integration.test_api_applications import COVERED_ENDPOINTS as APPLICATIONS

    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in COVERED_ENDPOINTS | APPLICATIONS:
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", f"{{{arg}}}").replace(f"<{arg}>", f"{{{arg}}}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            assert operation["summary"] and "200" in operation["responses"], (path, method)
            assert "401" in operation["responses"], (path, method)
    refs = []

    def walk(node):
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert refs and all(_resolve(spec, ref) for ref in refs)


def test_documented_request_schemas_are_what_the_endpoints_enforce(api, svc, personas):
    spec = api.client.get("/api/v1/openapi.json").get_json()
    number = submit(svc, personas["not_in_dtsen"]).case_number
    review = open_task(number, "review")

    # Reassign: the documented body is exactly what is accepted.
    body = spec["paths"]["/api/v1/tasks/{task_id}/reassign"]["post"]["requestBody"]["content"]["application/json"]
    reassign = _resolve(spec, body["schema"]["$ref"])
    assert reassign["required"] == ["to"] and reassign["additionalProperties"] is False
    assert api.post(f"/api/v1/tasks/{review.id}/reassign", "a_supervisor", json={}).get_json()["errors"]["json"] == {
        "to": ["Missing data for required field."]
    }
    extra = api.post(f"/api/v1/tasks/{review.id}/reassign", "a_supervisor", json={"to": "a_cw2", "why": "x"})
    assert extra.status_code == 422 and "why" in extra.get_json()["errors"]["json"]

    # Complete: the task names its form; the documented schema of that form is what the engine enforces.
    body = spec["paths"]["/api/v1/tasks/{task_id}/complete"]["post"]["requestBody"]["content"]["application/json"]
    assert {"$ref": "#/components/schemas/CaseReviewForm"} in body["schema"]["oneOf"]
    task = api.get(f"/api/v1/tasks/{review.id}", "a_caseworker").get_json()
    documented = _resolve(spec, task["form"]["schema_ref"])  # one schema per decision (test_api_forms.py)
    variants = [_resolve(spec, ref["$ref"]) for ref in documented["oneOf"]]
    assert task["form"]["schema"]["oneOf"] == variants
    assert all(v["additionalProperties"] is False and "review_decision" in v["required"] for v in variants)
    choices = [v["properties"]["review_decision"]["enum"][0] for v in variants]
    api.post(f"/api/v1/tasks/{review.id}/claim", "a_caseworker")
    for wrong, field in (
        ({}, "review_decision"),
        ({"review_decision": "maybe"}, "review_decision"),
        ({"review_decision": choices[0], "shoe_size": 42}, "shoe_size"),
        ({"review_decision": choices[0], "review_notes": "x" * 2001}, "review_notes"),
    ):
        response = api.post(f"/api/v1/tasks/{review.id}/complete", "a_caseworker", json=wrong)
        assert response.status_code == 422 and field in response.get_json()["errors"]["json"], wrong
    assert all(v["properties"]["review_notes"]["maxLength"] == 2000 for v in variants)
    ok = api.post(f"/api/v1/tasks/{review.id}/complete", "a_caseworker", json={"review_decision": choices[0]})
    assert ok.status_code == 200


def test_tasks_of_other_processes_go_through_the_api_without_a_case(api, svc, personas):
    from cases.objections import file_objection, resident_for
    from cases.operations import actor_for
    from integrations.sandbox.tables import people
    from tests.helpers import work

    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, number, "review", actor_for(api.officers["a_cw2"]), {"review_decision": "approve"})
    app = work(svc, number, "approve", actor_for(api.officers["a_sup2"]), {"approval_decision": "approve"})
    neighbour = db.session.execute(
        select(people.c.nik)
        .where(
            people.c.alive.is_(True),
            people.c.kk_number != app.kk_number,
            people.c.district_code == app.district_code,
            people.c.village == app.village,
        )
        .order_by(people.c.nik)
        .limit(1)
    ).scalar_one()
    objection = file_objection(
        svc.engine,
        resident_for(svc.integrations, neighbour),
        {
            "recipient": app.id,
            "ground": "FOUR_WHEEL_VEHICLE",
            "reason": "He drives his own car to the market every day.",
        },
        per_day=3,
    )
    db.session.commit()
    task = open_task(objection.number)
    claimed = api.post(f"/api/v1/tasks/{task.id}/claim", "a_caseworker")
    assert claimed.status_code == 200 and claimed.get_json()["case"] is None
    shown = api.get(f"/api/v1/tasks/{task.id}", "a_caseworker").get_json()
    assert shown["form"]["name"] == task.form_name and shown["case_number"] == objection.number
    assert api.get(f"/api/v1/cases/{objection.number}", "a_caseworker").status_code == 404
