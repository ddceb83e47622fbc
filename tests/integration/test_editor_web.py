"""The administrators' process editor on the web: drafts, checks on elements, deploy, versions, diff, migration."""

import io

import pytest
from sqlalchemy import select

from cases.audit import AuditEntry
from engine.db import db
from engine.editing import current_bundle
from engine.models import ProcessDraft, ProcessInstance, ProcessVersion
from tests.helpers import case, open_task, submit
from tests.integration.test_web import ROLES, csrf_of, login, post, web  # noqa: F401  (fixture)

COVERED_ENDPOINTS = {
    "editor.index",
    "editor.edit",
    "editor.source",
    "editor.save",
    "editor.discard",
    "editor.upload",
    "editor.deploy",
    "versions.index",
    "versions.diff",
    "versions.diff_data",
    "versions.plan",
    "versions.run",
    "versions.file",
    "versions.restore",
}


def application_xml():
    return current_bundle(db.session)[0]["application.bpmn"]


def renamed(xml):
    return xml.replace('name="Tinjau kasus / Review case"', 'name="Tinjau ulang / Re-check"')


def save_json(client, xml, name="application.bpmn"):
    token = csrf_of(client, "/admin/processes")
    return client.post(f"/admin/processes/files/{name}/draft", json={"xml": xml}, headers={"X-CSRFToken": token})


def audit_actions():
    return [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


@pytest.mark.parametrize("role", [None, *ROLES])
def test_only_administrators_reach_the_editor(web, svc, personas, role):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    version = db.session.get(ProcessInstance, case(number).instance_id).version_id
    base = "/admin/processes"
    routes = [
        ("GET", f"{base}"),
        ("GET", f"{base}/files/application.bpmn"),
        ("GET", f"{base}/files/application.bpmn/source.json"),
        ("POST", f"{base}/files/application.bpmn/draft"),
        ("POST", f"{base}/files/application.bpmn/discard"),
        ("POST", f"{base}/upload"),
        ("POST", f"{base}/deploy"),
        ("GET", f"{base}/application/versions"),
        ("GET", f"{base}/application/diff"),
        ("GET", f"{base}/application/diff/application.bpmn/data.json?old={version}&new={version}"),
        ("GET", f"{base}/application/migrate"),
        ("POST", f"{base}/application/migrate"),
        ("GET", f"{base}/application/versions/{version}/application.bpmn"),
        ("POST", f"{base}/application/versions/{version}/restore"),
    ]
    if role is not None:
        assert login(web, f"w_{role}").status_code == 302
    for method, path in routes:
        if method == "GET":
            status = web.get(path).status_code
        elif role is None:
            status = web.post(path).status_code
        else:
            status = post(web, path, {"old": version, "new": version}).status_code
        if role is None:
            assert status in ({302} if method == "GET" else {302, 400}), (path, status)
        elif role != "administrator":
            assert status == 403, (role, path, status)
        else:
            assert status in (200, 302, 303, 400), (path, status)


def test_save_marks_problems_on_elements_and_deploy_makes_a_version_new_cases_use(web, svc, personas):
    login(web, "w_administrator")
    assert "Proses dan aturan" in web.get("/admin/processes").get_data(as_text=True)
    assert web.get("/admin/processes/files/application.bpmn").status_code == 200
    assert web.get("/admin/processes/files/nope.bpmn").status_code == 404
    bad = application_xml().replace('value="case_review"', 'value="no_such_form"', 1)
    answer = save_json(web, bad).get_json()
    assert answer["saved"] is True
    assert {p["element_id"] for p in answer["problems"]} == {"review"}
    assert "no_such_form" in answer["problems"][0]["text"] and "Formulir" in answer["problems"][0]["text"]
    # Missing CSRF token: refused.
    assert web.post("/admin/processes/files/application.bpmn/draft", json={"xml": bad}).status_code == 400
    # The draft is kept: reopening the editor shows it with its problems.
    source = web.get("/admin/processes/files/application.bpmn/source.json").get_json()
    assert source["source"] == "draft" and source["problems"]
    # Deploy refuses while a problem is left.
    before = db.session.query(ProcessVersion).count()
    page = post(web, "/admin/processes/deploy")
    assert page.status_code == 303 and db.session.query(ProcessVersion).count() == before
    answer = save_json(web, renamed(application_xml())).get_json()
    assert answer["saved"] and answer["problems"] == []
    assert post(web, "/admin/processes/deploy").status_code == 303
    db.session.expire_all()
    newest = db.session.scalars(
        select(ProcessVersion).where(ProcessVersion.process_id == "application").order_by(ProcessVersion.id.desc())
    ).first()
    assert newest.deployed_by == "w_administrator" and db.session.scalars(select(ProcessDraft)).all() == []
    number = submit(svc, personas["not_in_dtsen"]).case_number
    assert db.session.get(ProcessInstance, case(number).instance_id).version_id == newest.id
    assert open_task(number, "review").name == "Tinjau ulang / Re-check"
    versions = web.get("/admin/processes/application/versions").get_data(as_text=True)
    assert "w_administrator" in versions and f'data-version="{newest.id}"' in versions
    actions = audit_actions()
    assert "process.draft_saved" in actions and "process.deployed" in actions and "process.deploy_refused" in actions


XXE = b"""<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>"""


@pytest.mark.parametrize(
    "filename, content, expect",
    [
        ("application.bpmn", XXE, "DOCTYPE"),
        ("application.bpmn", b"<x>" + b"a" * (4 * 1024 * 1024) + b"</x>", "2 MiB"),
        ("tool.exe", b"MZ\x90\x00", "a-z, 0-9"),
        ("application.bpmn", b"not xml at all", "well-formed"),
    ],
)
def test_bad_uploads_are_refused_clearly_logged_and_nothing_is_kept(web, svc, filename, content, expect):
    login(web, "w_administrator")
    token = csrf_of(web, "/admin/processes")
    response = web.post(
        "/admin/processes/upload",
        data={"csrf_token": token, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "alert-danger" in html
    assert expect in html
    assert db.session.scalars(select(ProcessDraft)).all() == []
    assert "process.upload_refused" in audit_actions()


def test_an_uploaded_path_keeps_only_its_base_name(web, svc):
    login(web, "w_administrator")
    token = csrf_of(web, "/admin/processes")
    web.post(
        "/admin/processes/upload",
        data={"csrf_token": token, "file": (io.BytesIO(b"<x/>"), "../../etc/cron.bpmn")},
        content_type="multipart/form-data",
    )
    assert [d.file_name for d in db.session.scalars(select(ProcessDraft))] == ["cron.bpmn"]


def test_upload_of_a_script_escape_is_kept_as_draft_with_the_problem_and_cannot_deploy(web, svc):
    login(web, "w_administrator")
    xml = application_xml().replace(
        "decided_by = 'officer'", "decided_by = ().__class__.__bases__[0].__subclasses__()", 1
    )
    token = csrf_of(web, "/admin/processes")
    response = web.post(
        "/admin/processes/upload",
        data={"csrf_token": token, "file": (io.BytesIO(xml.encode()), "application.bpmn")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "alert-warning" in response.get_data(as_text=True)
    draft = db.session.scalars(select(ProcessDraft)).one()
    assert {p["element_id"] for p in draft.problems} == {"review_rejected"}
    before = db.session.query(ProcessVersion).count()
    html = post(web, "/admin/processes/deploy").status_code
    assert html == 303 and db.session.query(ProcessVersion).count() == before


def test_diff_and_migration_pages(web, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    old = db.session.get(ProcessInstance, case(number).instance_id).version_id
    login(web, "w_administrator")
    save_json(web, renamed(application_xml()))
    post(web, "/admin/processes/deploy")
    db.session.expire_all()
    new = db.session.scalars(
        select(ProcessVersion.id).where(ProcessVersion.process_id == "application").order_by(ProcessVersion.id.desc())
    ).first()
    html = web.get(f"/admin/processes/application/diff?old={old}&new={new}").get_data(as_text=True)
    assert "Tinjau ulang / Re-check" in html and "<code>review</code>" in html
    data = web.get(f"/admin/processes/application/diff/application.bpmn/data.json?old={old}&new={new}").get_json()
    assert data["changed"] == ["review"] and data["added"] == [] and "<bpmn:definitions" in data["old"]
    plan = web.get(f"/admin/processes/application/migrate?old={old}&new={new}").get_data(as_text=True)
    assert f'data-case="{number}"' in plan and "dapat dipindah" in plan
    instance_id = case(number).instance_id
    response = post(web, "/admin/processes/application/migrate", {"old": old, "new": new, "instance": instance_id})
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance_id).version_id == new
    assert "process.migrated" in audit_actions() and "process.migration_dry_run" in audit_actions()
    # Another process's version or an unknown one is not found.
    assert web.get("/admin/processes/application/diff?old=999999").status_code == 404
    downloaded = web.get(f"/admin/processes/application/versions/{new}/application.bpmn")
    assert downloaded.headers["Content-Disposition"].startswith("attachment") and b"Tinjau ulang" in downloaded.data


def test_restoring_an_older_version_makes_its_content_current_again_as_a_new_version(web, svc, personas):
    login(web, "w_administrator")
    first = db.session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == "application")).one()
    save_json(web, renamed(application_xml()))
    post(web, "/admin/processes/deploy")
    assert post(web, f"/admin/processes/application/versions/{first.id}/restore").status_code == 303
    assert [d.file_name for d in db.session.scalars(select(ProcessDraft))] == ["application.bpmn"]
    post(web, "/admin/processes/deploy")
    db.session.expire_all()
    versions = db.session.scalars(
        select(ProcessVersion).where(ProcessVersion.process_id == "application").order_by(ProcessVersion.id)
    ).all()
    assert len(versions) == 3 and versions[2].content_hash == first.content_hash
    number = submit(svc, personas["not_in_dtsen"]).case_number
    assert db.session.get(ProcessInstance, case(number).instance_id).version_id == versions[2].id
    assert open_task(number, "review").name == "Tinjau kasus / Review case"
    assert "process.version_restored_as_drafts" in audit_actions()
