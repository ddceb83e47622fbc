"""Officer lists to Excel (web/exports.py): each export has the page's rows under its filters and the
officer's districts, NIKs masked as on the page, no cell a formula, and every export audited."""

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.operations import create_officer
from engine.db import db, utcnow
from integrations.nik import mask_nik
from tests.helpers import case, fresh_client, later, open_task, submit, wake_all, work
from tests.integration.portal_helpers import PASSWORD, csrf_of, officer_login

COVERED_ENDPOINTS = {"inbox.export", "search.export", "desk.export", "desk.approvals_export", "cycles.list_export"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def sheet_rows(response, sheet=0):
    """(note, headers, rows) of a sheet of an Excel response."""
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"] == XLSX and "attachment;" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    rows = list(book.worksheets[sheet].iter_rows())
    return rows[0][0].value, [c.value for c in rows[1]], rows[2:]


def values(rows, column=0):
    return [r[column].value for r in rows]


def exported():
    db.session.expire_all()
    return [
        (e.actor, e.target_id, e.detail)
        for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "list.exported").order_by(AuditEntry.id)
        )
    ]


def login(username, roles, regions):
    create_officer(db.session, username, username.title(), roles, regions, password=PASSWORD)
    db.session.commit()
    client = fresh_client().__enter__()
    assert officer_login(client, username).status_code == 302
    return client


@pytest.fixture
def two_districts(svc, personas):
    """Two cases waiting for review in two districts; the first overdue, flagged, and named like a formula."""
    numbers = [submit(svc, personas[p]).case_number for p in ("not_in_dtsen", "eligible_head_without_photo")]
    a, b = (case(n) for n in numbers)
    assert a.district_code != b.district_code
    task = open_task(a.case_number, "review")
    task.due_at = utcnow() - timedelta(days=1)
    task.flags = ["DUPLICATE_FACE_SUSPECTED"]
    a.applicant_name = '=HYPERLINK("http://evil.example","x")'
    db.session.commit()
    return a.case_number, a.district_code, b.case_number, b.district_code


def test_the_inbox_export_honours_its_filters_and_the_officers_districts(two_districts):
    a, district_a, b, district_b = two_districts
    everyone = login("cw_all", ["caseworker"], None)
    note, headers, rows = sheet_rows(everyone.get("/inbox/export.xlsx"))
    assert headers[:3] == ["Kasus", "Pemohon", "Tugas"] and sorted(values(rows)) == sorted([a, b])
    assert note == "Filter: view=queue, sort=due"  # the page's defaults, written on the sheet
    # The formula-like name is text in the file, never a formula.
    name = next(r[1] for r in rows if r[0].value == a)
    assert name.value == '=HYPERLINK("http://evil.example","x")' and name.data_type == "s"
    assert values(sheet_rows(everyone.get(f"/inbox/export.xlsx?district={district_b}&view=all"))[2]) == [b]
    assert values(sheet_rows(everyone.get("/inbox/export.xlsx?due=overdue"))[2]) == [a]
    assert values(sheet_rows(everyone.get("/inbox/export.xlsx?flag=DUPLICATE_FACE_SUSPECTED"))[2]) == [a]
    assert values(sheet_rows(everyone.get("/inbox/export.xlsx?view=mine"))[2]) == []
    # An officer of district A exports A's work only, even when asking for B.
    limited = login("cw_a", ["caseworker"], [district_a])
    assert values(sheet_rows(limited.get("/inbox/export.xlsx"))[2]) == [a]
    assert values(sheet_rows(limited.get(f"/inbox/export.xlsx?district={district_b}"))[2]) == []
    audits = exported()
    assert [(actor, target) for actor, target, _d in audits][:2] == [("cw_all", "inbox"), ("cw_all", "inbox")]
    assert audits[1][2]["filters"]["district"] == district_b and audits[1][2]["rows"] == 1
    assert audits[-1][0] == "cw_a" and audits[-1][2]["rows"] == 0


def test_the_search_export_masks_niks_and_keeps_to_the_officers_districts(two_districts):
    a, district_a, b, district_b = two_districts
    nik_b = case(b).nik
    everyone = login("cw_all", ["caseworker"], None)
    page = everyone.post(
        "/search", data={"q": nik_b, "csrf_token": csrf_of(everyone.get("/search").get_data(as_text=True))}
    )
    html = page.get_data(as_text=True)
    assert 'id="export-xlsx"' in html and "/search/export.xlsx" in html
    token = csrf_of(html)
    note, headers, rows = sheet_rows(everyone.post("/search/export.xlsx", data={"q": nik_b, "csrf_token": token}))
    assert values(rows) == [b] and headers[2] == "NIK"
    assert rows[0][2].value == mask_nik(nik_b)
    assert nik_b not in note and nik_b not in str(exported())
    assert exported()[-1][2]["cases"] == [b] and exported()[-1][2]["filters"]["kind"] == "nik"
    # Limited to district A: B's case is not found by its NIK, nor by a case-number search.
    limited = login("cw_a", ["caseworker"], [district_a])
    token = csrf_of(limited.get("/search").get_data(as_text=True))
    assert values(sheet_rows(limited.post("/search/export.xlsx", data={"q": nik_b, "csrf_token": token}))[2]) == []
    assert values(sheet_rows(limited.post("/search/export.xlsx", data={"q": b, "csrf_token": token}))[2]) == []
    assert values(sheet_rows(limited.post("/search/export.xlsx", data={"q": a, "csrf_token": token}))[2]) == [a]
    # Nothing searchable: a clear refusal, not an empty file.
    assert limited.post("/search/export.xlsx", data={"q": "ab", "csrf_token": token}).status_code == 400
    # Without the CSRF token the export is refused (POST keeps NIKs out of addresses, and is a form).
    assert limited.post("/search/export.xlsx", data={"q": a}).status_code == 400


def test_the_approval_queue_and_desk_exports_keep_to_the_supervisors_districts(svc, two_districts, officers):
    a, district_a, b, district_b = two_districts
    for number in (a, b):
        work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "ok"})
    assert case(a).status == case(b).status == "AWAITING_APPROVAL"
    everyone = login("sup_all", ["supervisor"], None)
    assert 'id="export-xlsx"' in everyone.get("/desk/approvals").get_data(as_text=True)
    _note, headers, rows = sheet_rows(everyone.get("/desk/approvals/export.xlsx"))
    assert sorted(values(rows)) == sorted([a, b]) and headers[-1] == "Anda"
    limited = login("sup_a", ["supervisor"], [district_a])
    note, _headers, rows = sheet_rows(limited.get("/desk/approvals/export.xlsx"))
    assert values(rows) == [a] and district_a in note
    # The desk's tables: deadlines per district (the supervisor's districts only), throughput, incidents.
    assert 'id="export-xlsx"' in limited.get("/desk").get_data(as_text=True)
    response = limited.get("/desk/export.xlsx")
    _note, headers, rows = sheet_rows(response)
    assert headers == ["Kecamatan", "Terbuka", "Terlambat", "Tenggat dalam sehari"]
    assert len(rows) == 1 and rows[0][1].value == 1
    book = load_workbook(io.BytesIO(response.data))
    assert len(book.worksheets) == 4
    officer_rows = list(book.worksheets[1].iter_rows(values_only=True))[2:]
    assert officer_rows == [("cw1", 1, 1)]  # cw1's one (late) review in district A; the one in B is not counted
    _note, _headers, all_officers = sheet_rows(everyone.get("/desk/export.xlsx"), sheet=1)
    assert [(r[0].value, r[1].value) for r in all_officers] == [("cw1", 2)]
    _note, _headers, everyone_sla = sheet_rows(everyone.get("/desk/export.xlsx"))
    assert len(everyone_sla) == 2
    assert [t for _a, t, _d in exported()] == ["approvals", "approvals", "desk", "desk", "desk"]


def test_the_desk_export_names_an_incidents_step_and_summarises_its_error_as_the_page_does(svc, personas):
    from engine.models import Incident

    # The health-insurance registry times out on every attempt: an incident on the step "BPJS Kesehatan".
    nik = personas["civil_servant"]
    svc.integrations.faults.inject("bpjs_health", nik, "timeout", times=3)
    number = submit(svc, nik).case_number
    for day in (1, 2):
        with later(day):
            wake_all(svc)
    incident = db.session.scalars(select(Incident).where(Incident.business_key == number)).one()
    assert incident.bpmn_id == "lookup_bpjs_health"
    incident.error = "IntegrationUnavailable: bpjs timed out\n" + "  Traceback line " * 40  # a long, multi-line error
    db.session.commit()
    supervisor = login("sup_inc", ["supervisor"], None)
    page = supervisor.get("/desk").get_data(as_text=True)
    _note, headers, rows = sheet_rows(supervisor.get("/desk/export.xlsx"), sheet=3)
    assert headers == ["#", "Kasus", "Tugas", "Galat", "Percobaan"]
    [row] = [[c.value for c in r] for r in rows]
    assert row[:3] == [incident.id, number, "BPJS Kesehatan"]  # the diagram's name, not lookup_bpjs_health
    assert row[3].startswith("IntegrationUnavailable: bpjs timed out Traceback line") and row[3].endswith("…")
    assert len(row[3]) <= 160
    assert "\n" not in row[3] and row[4] == incident.attempts
    # The page shows the same step name and the same summary.
    assert "BPJS Kesehatan" in page and "lookup_bpjs_health" not in page and f"<code>{row[3]}</code>" in page


def test_the_cycle_list_export(svc, two_districts):
    finance = login("fin", ["finance_officer"], None)
    assert 'id="export-xlsx"' in finance.get("/cycles").get_data(as_text=True)
    note, headers, rows = sheet_rows(finance.get("/cycles/export.xlsx"))
    assert headers[0] == "Siklus" and note == "Filter: tidak ada"
    assert rows == []  # no cycle opened yet (cycles cover the whole regency: no district filter)
    assert exported()[-1][:2] == ("fin", "cycles")


@pytest.mark.parametrize(
    "path,allowed",
    [
        ("/inbox/export.xlsx", {"caseworker", "supervisor", "appeals_officer", "finance_officer"}),
        ("/desk/export.xlsx", {"supervisor", "administrator"}),
        ("/desk/approvals/export.xlsx", {"supervisor", "administrator"}),
        ("/cycles/export.xlsx", {"finance_officer", "supervisor", "administrator", "auditor"}),
    ],
)
def test_who_may_export_each_list(svc, path, allowed):
    roles = (
        "caseworker",
        "supervisor",
        "appeals_officer",
        "administrator",
        "auditor",
        "finance_officer",
        "facilitator",
    )
    with fresh_client() as anonymous:
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    for role in roles:
        client = login(f"m_{role}", [role], None)
        assert (client.get(path).status_code == 200) == (role in allowed), (path, role)


def test_who_may_export_search_results(svc, personas):
    number = submit(svc, personas["civil_servant"]).case_number
    with fresh_client() as anonymous:
        assert anonymous.post("/search/export.xlsx", data={"q": number}).status_code == 400  # no CSRF token
    for role in (
        "caseworker",
        "supervisor",
        "appeals_officer",
        "administrator",
        "auditor",
        "finance_officer",
        "facilitator",
    ):
        client = login(f"s_{role}", [role], None)
        token = csrf_of(client.get("/profile").get_data(as_text=True))
        status = client.post("/search/export.xlsx", data={"q": number, "csrf_token": token}).status_code
        assert (status == 200) == (
            role in ("caseworker", "supervisor", "appeals_officer", "administrator", "auditor")
        ), (role, status)
