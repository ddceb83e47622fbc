"""Many tasks at once: supervisors reassign and approve a selection; each task checked and audited alone."""

import re

import pytest
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.models import Officer
from cases.operations import create_officer
from cases.taskbatch import approve_many, officers_for, reassign_many
from engine.db import db
from tests.helpers import case, fresh_client, open_task, submit, work

PASSWORD = "correct-horse-battery"
REVIEW_OK = {"review_decision": "approve", "review_notes": "checked at the village office"}


def _officer(username):
    return db.session.execute(select(Officer).where(Officer.username == username)).scalar_one()


@pytest.fixture
def two_approvals(svc, personas, officers):
    """Two cases awaiting approval: one reviewed by cwsup (four eyes for them), one by cw1."""
    first = submit(svc, personas["eligible_head_without_photo"]).case_number
    second = submit(svc, personas["not_in_dtsen"]).case_number
    work(svc, first, "review", officers["cwsup"], REVIEW_OK)
    work(svc, second, "review", officers["cw1"], REVIEW_OK)
    return first, second


def test_approve_many_approves_each_it_may_and_names_the_four_eyes_refusal(svc, officers, two_approvals):
    first, second = two_approvals
    ids = [open_task(first, "approve").id, open_task(second, "approve").id]
    results = approve_many(svc.engine, ids, officers["cwsup"])
    assert [(r.task_id, r.ok, r.code) for r in results] == [(ids[0], False, "FOUR_EYES"), (ids[1], True, None)]
    assert open_task(second, "approve") is None and case(second).status != "AWAITING_APPROVAL"
    assert case(first).status == "AWAITING_APPROVAL"
    assert open_task(first, "approve").status == "open"  # the refused task was not left claimed
    done = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "task.complete")).all()
    assert [e.target_id for e in done if e.actor == "cwsup" and e.detail["task"] == "approve"] == [str(ids[1])]


def test_reassign_many_checks_the_target_on_every_task(svc, personas, officers):
    numbers = [submit(svc, personas[k]).case_number for k in ("eligible_head_without_photo", "not_in_dtsen")]
    rows = [open_task(n, "review") for n in numbers]
    far = "25"
    assert all(r.region != far for r in rows)
    candidates = officers_for(db.session, rows)
    for row in rows:
        names = [u for u, _n in candidates[row.id]]
        assert "cw1" in names and "cwsup" in names and "cw_far" not in names and "sup1" not in names
    results = reassign_many(svc.engine, [r.id for r in rows], officers["sup1"], _officer("cw_far"))
    assert [r.code for r in results] == ["NOT_ALLOWED", "NOT_ALLOWED"]
    results = reassign_many(svc.engine, [r.id for r in rows] + [999999], officers["sup1"], _officer("cw2"))
    assert [(r.ok, r.code) for r in results] == [(True, None), (True, None), (False, "TASK_NOT_FOUND")]
    db.session.expire_all()
    assert [open_task(n, "review").assignee for n in numbers] == ["cw2", "cw2"]


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_batch_pages_list_each_outcome_and_audit_the_batch(svc, officers, two_approvals):
    first, second = two_approvals
    create_officer(db.session, "b_sup", "Batch Sup", ["caseworker", "supervisor"], None, password=PASSWORD)
    db.session.commit()
    ids = [open_task(first, "approve").id, open_task(second, "approve").id]
    with fresh_client() as client:
        client.post("/login", data={"username": "b_sup", "password": PASSWORD, "csrf_token": _csrf(client, "/login")})
        html = client.get("/desk/approvals").get_data(as_text=True)
        assert f'name="task_ids" value="{ids[0]}" form="batch"' in html and 'id="batch-approve"' in html
        token = _csrf(client, "/desk/approvals")
        response = client.post(
            "/tasks/batch",
            data={"action": "approve", "task_ids": [str(i) for i in ids], "back": "approvals", "csrf_token": token},
        )
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and "2 tugas disetujui, 0 ditolak" in page
        assert f'id="result-{ids[0]}" class=""' in page
        refused = client.post(
            "/tasks/batch", data={"action": "approve", "task_ids": [str(i) for i in ids], "csrf_token": token}
        ).get_data(as_text=True)
        assert refused.count("table-danger") == 2 and "0 tugas disetujui, 2 ditolak" in refused
        empty = client.post("/tasks/batch", data={"action": "approve", "csrf_token": token})
        assert empty.status_code == 400 and "Pilih setidaknya satu tugas." in empty.get_data(as_text=True)
        stranger = client.post(
            "/tasks/batch", data={"action": "reassign", "to": "nobody", "task_ids": "1", "csrf_token": token}
        )
        assert stranger.status_code == 400
    assert open_task(first, "approve") is None and open_task(second, "approve") is None
    batches = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "task.batch_approve")).all()
    assert [sorted(e.detail["done"]) for e in batches] == [sorted(ids), []]
    assert batches[1].detail["refused"] == {str(i): "TASK_NOT_READY" for i in ids}


def test_caseworkers_may_not_run_batches(svc, officers):
    create_officer(db.session, "b_cw", "Batch Cw", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        client.post("/login", data={"username": "b_cw", "password": PASSWORD, "csrf_token": _csrf(client, "/login")})
        token = _csrf(client, "/inbox")
        assert (
            client.post("/tasks/batch", data={"action": "approve", "task_ids": "1", "csrf_token": token}).status_code
            == 403
        )


def test_a_refused_reassignment_is_audited_per_task(svc, personas, officers):
    create_officer(db.session, "r_sup", "Reassigning Sup", ["caseworker", "supervisor"], None, password=PASSWORD)
    db.session.commit()
    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    assert task.region != "25"
    with fresh_client() as client:
        client.post("/login", data={"username": "r_sup", "password": PASSWORD, "csrf_token": _csrf(client, "/login")})
        html = client.get("/inbox").get_data(as_text=True)
        row = re.search(rf'<tr class="[^"]*" id="task-{task.id}">.*?</tr>', html, re.S).group(0)
        assert '<option value="cw1">' in row and '<option value="cw_far">' not in row
        page = client.post(
            "/tasks/batch",
            data={
                "action": "reassign",
                "to": "cw_far",
                "task_ids": str(task.id),
                "csrf_token": _csrf(client, "/inbox"),
            },
        ).get_data(as_text=True)
        assert "cw_far tidak boleh mengambil tugas ini" in page
    [refusal] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "task.refused")).all()
    assert (refusal.target_id, refusal.detail["code"], refusal.detail["target"]) == (
        str(task.id),
        "NOT_ALLOWED",
        "cw_far",
    )
    assert open_task(number, "review").assignee is None
