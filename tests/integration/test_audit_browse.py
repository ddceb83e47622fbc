"""Auditors browse the trail: by officer, NIK, case, action and dates; who viewed a NIK; a formula-safe export."""

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import select

from cases import audit
from cases.audit import AuditEntry
from cases.audit_browse import AuditFilter, browse, targets_of, viewers_of
from cases.operations import create_officer
from engine.db import db, utcnow
from integrations.nik import mask_nik
from tests.helpers import fresh_client, open_task, submit

PASSWORD = "correct-horse-battery"


def _setup(svc, personas):
    nik = personas["not_in_dtsen"]
    number = submit(svc, nik).case_number
    task = open_task(number, "review")
    audit.record(db.session, "cw1", "case.view", "case", number)
    db.session.commit()
    audit.record(db.session, "cw1", "case.view", "case", number)
    db.session.commit()
    audit.record(db.session, "cw2", "case.view", "case", number)
    db.session.commit()
    audit.record(db.session, "cw2", "task.claim", "task", task.id, detail={"case": number})
    db.session.commit()
    audit.record(db.session, "fac1", "applicant.sign_in", "applicant", nik)  # stored masked
    db.session.commit()
    audit.record(db.session, '=HYPERLINK("x")', "case.view", "case", "TPT-2026-9999999")
    db.session.commit()
    return nik, number, task


def test_filters_find_a_nik_through_its_cases_tasks_and_masked_form(svc, personas):
    nik, number, task = _setup(svc, personas)
    targets = targets_of(db.session, nik)
    assert targets.cases == (number,) and str(task.id) in targets.tasks and targets.masked == (mask_nik(nik),)
    rows, more, _t = browse(db.session, AuditFilter(nik=nik))
    assert {(e.actor, e.action) for e in rows} >= {
        ("cw1", "case.view"),
        ("cw2", "task.claim"),
        ("fac1", "applicant.sign_in"),
    }
    assert all(e.target_id != "TPT-2026-9999999" for e in rows) and not more
    assert viewers_of(db.session, nik)[0][:2] == ("cw1", 2) and [v[0] for v in viewers_of(db.session, nik)] == [
        "cw1",
        "cw2",
    ]
    rows, _m, _t = browse(db.session, AuditFilter(actor="cw2", action="case."))
    assert [(e.actor, e.action) for e in rows] == [("cw2", "case.view")]
    assert browse(db.session, AuditFilter(case=number, action="task.claim"))[0][0].actor == "cw2"
    tomorrow = (utcnow() + timedelta(days=2)).date()
    assert browse(db.session, AuditFilter(date_from=tomorrow))[0] == []
    assert browse(db.session, AuditFilter(nik="3510999999999999"))[0] == []  # no case: only its masked form
    page_one, more, _t = browse(db.session, AuditFilter(), per_page=2)
    page_two, _m, _t = browse(db.session, AuditFilter(page=2), per_page=2)
    assert more and len(page_one) == 2 and {e.id for e in page_one}.isdisjoint({e.id for e in page_two})


def _csrf(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_the_browser_page_and_the_export_are_audited_and_formula_safe(svc, personas):
    nik, number, _task = _setup(svc, personas)
    create_officer(db.session, "b_aud", "Auditor", ["auditor"], None, password=PASSWORD)
    create_officer(db.session, "b_cw", "Caseworker", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        client.post("/login", data={"username": "b_cw", "password": PASSWORD, "csrf_token": _csrf(client, "/login")})
        assert client.get("/audit/entries").status_code == 403
        assert client.get("/audit/entries.csv").status_code == 403
    with fresh_client() as client:
        client.post("/login", data={"username": "b_aud", "password": PASSWORD, "csrf_token": _csrf(client, "/login")})
        assert "never put in a web address" not in client.get("/audit/entries").get_data(as_text=True)
        refused = client.get(f"/audit/entries?nik={nik}")
        assert refused.status_code == 400 and nik not in refused.get_data(as_text=True)
        token = _csrf(client, "/audit/entries")
        html = client.post("/audit/entries", data={"nik": nik, "csrf_token": token}).get_data(as_text=True)
        viewers = re.search(r'<table class="table table-sm small mb-0" id="viewers">.*?</table>', html, re.S).group(0)
        assert ">cw1</a></td><td>2<" in viewers and "fac1" not in viewers
        assert "cocok tersamar" in html and html.count(nik) == 2  # the filter field and the export form only
        bad = client.post(
            "/audit/entries",
            data={"nik": "123", "date_from": "2026-12-05", "date_to": "2026-12-01", "csrf_token": token},
        )
        text = bad.get_data(as_text=True)
        assert bad.status_code == 400 and "NIK terdiri dari 16 angka." in text and "sesudah tanggal pertama" in text
        export = client.get("/audit/entries.csv?action=case.view")
        assert export.status_code == 200 and export.headers["Cache-Control"] == "no-store"
        rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
        assert {r["actor"] for r in rows} == {"cw1", "cw2", '\'=HYPERLINK("x")'}
        assert all(r["action"] == "case.view" for r in rows)
    searches = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.search")).all()
    filters = [e.detail["filter"] for e in searches]
    assert {"nik": mask_nik(nik)} in filters and {"nik": "123"} not in filters
    assert all(nik not in str(e.detail) for e in searches)
    [exported] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "audit.export_filtered")).all()
    assert exported.detail == {"filter": {"action": "case.view"}, "rows": 4, "cut": False}
