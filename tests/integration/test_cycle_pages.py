"""The payment cycle pages as finance officers, readers and outsiders use them."""

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from cases.audit import AuditEntry
from cases.operations import create_officer
from engine.db import db
from engine.models import HumanTask
from integrations.sandbox.paying_bank import results_lines
from payments.cycles import open_cycle
from payments.models import Payment, PaymentBatch, PaymentCycle
from tests.integration.payment_support import family, schedule, take_uploads
from tests.integration.portal_helpers import PASSWORD, csrf_of, fresh_client, officer_login
from web.labels import district_label

TODAY = date.today()
FOUR_EYES_TEXT = "petugas lain"
ROLES = ("caseworker", "supervisor", "appeals_officer", "administrator", "auditor", "facilitator", "finance_officer")
# Endpoints this module's matrix checks (tests/integration/test_route_coverage.py requires every route in one).
COVERED_ENDPOINTS = {
    "cycles.index",
    "cycles.open_",
    "cycles.show",
    "cycles.claim",
    "cycles.complete",
    "cycles.export",
    "cycles.report_export",
    "cycles.batch_file",
    "cycles.upload_results",
    "cycles.import_errors",
    "cycles.import_progress",
}
# Tasks of a cycle are the whole regency's: an officer of one district is refused (404).
DISTRICT_SCOPED_ENDPOINTS = {"cycles.claim", "cycles.complete"}


@pytest.fixture
def people(svc):
    for username, roles, regions in (
        ("fin1", ["finance_officer"], None),
        ("fin2", ["finance_officer"], None),
        ("fin_far", ["finance_officer"], ["25"]),
        ("cw", ["caseworker"], None),
        ("aud", ["auditor"], None),
    ):
        create_officer(db.session, username, username.upper(), roles, regions, password=PASSWORD)
    db.session.commit()


def client_for(username):
    client = fresh_client().__enter__()
    assert officer_login(client, username).status_code == 302
    return client


def post(client, path, data=None, **kwargs):
    page = client.get(kwargs.pop("page", "/cycles/PKH-TEST-T1")).get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_of(page), **(data or {})}, **kwargs)


def task_id(bpmn_id, code="PKH-TEST-T1"):
    db.session.expire_all()
    return db.session.execute(
        select(HumanTask.id).where(
            HumanTask.bpmn_id == bpmn_id,
            HumanTask.business_key == f"CYCLE-{code}",
            HumanTask.status.in_(("open", "claimed")),
        )
    ).scalar_one()


def test_the_cycle_pages_from_opening_to_reconciled(svc, people):
    for n in range(9):
        family(
            [("PKH", "SD", 1)],
            district=("01", "02", "25")[n % 3],
            channel=("BRI", "POS")[n % 2],
            account=f"77{n:08d}" if n % 2 == 0 else None,
        )
    db.session.commit()
    fin1, fin2 = client_for("fin1"), client_for("fin2")
    listing = fin1.get("/cycles").get_data(as_text=True)
    assert "Siklus pembayaran" in listing and "PKH-2026-T4" in listing  # Indonesian first; the shipped schedule
    # Opening from the page uses the shipped schedule: BPNT-2026-T4 opens (its members depend on today's date).
    response = post(fin1, "/cycles", {"code": "BPNT-2026-T4"}, page="/cycles")
    assert response.status_code == 302 and response.headers["Location"].endswith("/cycles/BPNT-2026-T4")
    assert post(fin1, "/cycles", {"code": "=1+1"}, page="/cycles").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(PaymentCycle)) == 1

    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", _actor("fin1"))
    db.session.commit()
    page = fin1.get("/cycles/PKH-TEST-T1").get_data(as_text=True)
    assert "Siapkan siklus pembayaran" in page and "Keluarga pada daftar yang dibekukan" in page
    # The maker prepares on the page.
    assert post(fin1, f"/cycles/PKH-TEST-T1/tasks/{task_id('prepare_cycle')}/claim").status_code == 302
    response = post(
        fin1,
        f"/cycles/PKH-TEST-T1/tasks/{task_id('prepare_cycle')}/complete",
        {"prepare_decision": "submit", "prepare_notes": "dicek"},
    )
    assert response.status_code == 302
    # The maker cannot take the approval (refused, audited); the checker can.
    response = post(fin1, f"/cycles/PKH-TEST-T1/tasks/{task_id('approve_cycle')}/claim", follow_redirects=True)
    assert FOUR_EYES_TEXT in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == "task.refused")) == 1
    assert post(fin2, f"/cycles/PKH-TEST-T1/tasks/{task_id('approve_cycle')}/claim").status_code == 302
    assert (
        post(
            fin2,
            f"/cycles/PKH-TEST-T1/tasks/{task_id('approve_cycle')}/complete",
            {"cycle_approval_decision": "approve"},
        ).status_code
        == 302
    )
    # A bad SP2D date is refused with a translated error, on the page.
    post(fin1, f"/cycles/PKH-TEST-T1/tasks/{task_id('dispatch_batches')}/claim")
    response = post(
        fin1,
        f"/cycles/PKH-TEST-T1/tasks/{task_id('dispatch_batches')}/complete",
        {"sp2d_number": "SP2D-1/2026", "sp2d_date": "kemarin"},
    )
    assert response.status_code == 422
    assert (
        post(
            fin1,
            f"/cycles/PKH-TEST-T1/tasks/{task_id('dispatch_batches')}/complete",
            {"sp2d_number": "SP2D-1/2026", "sp2d_date": TODAY.isoformat()},
        ).status_code
        == 302
    )
    # The batch file, downloaded and audited; the sandbox bank answers; the answer is uploaded.
    csv = fin1.get("/cycles/PKH-TEST-T1/batches/BRI.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).splitlines(keepends=True)
    assert lines[0].startswith("H,PKH-TEST-T1-BRI,BRI,")
    xlsx = fin1.get("/cycles/PKH-TEST-T1/batches/BRI.xlsx")
    assert load_workbook(io.BytesIO(xlsx.data), read_only=True).sheetnames == ["Kontrol", "Pembayaran"]
    answer = results_lines(lines, TODAY)
    bad = f"R,PKH-TEST-T1-424242-1,{answer[1].split(',')[2]},CREDITED,,{TODAY}\n"
    total = sum(int(x.split(",")[2]) for x in answer[1:]) + int(answer[1].split(",")[2])
    body = f"H,PKH-TEST-T1-BRI,{len(answer)},{total}\n" + "".join(answer[1:]) + bad
    response = post(
        fin1,
        "/cycles/PKH-TEST-T1/batches/BRI/results",
        {"results": (io.BytesIO(body.encode()), "bri.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    # The request only keeps the file: the page follows its check and taking (the in-process scheduler's work).
    assert response.status_code == 200 and "diproses di latar belakang" in text
    assert 'data-status="received"' in text and "Memeriksa berkas" in text and 'hx-trigger="every 2s"' in text
    import_id = re.search(r'id="import-(\d+)"', text).group(1)
    assert db.session.scalar(select(func.count()).where(Payment.status != "sent")) == 0
    assert take_uploads(svc) >= 2  # the file's run, then the run of its lines
    panel = fin1.get(f"/cycles/PKH-TEST-T1/imports/{import_id}/progress")
    assert panel.status_code == 200 and panel.headers["Cache-Control"] == "no-store"
    panel_text = panel.get_data(as_text=True)
    assert 'data-status="applied"' in panel_text and "hx-trigger" not in panel_text  # done: it stops asking
    assert 'data-figure="refused">1' in panel_text and "Baris kontrol berkas" in panel_text
    text = fin1.get("/cycles/PKH-TEST-T1").get_data(as_text=True)
    assert "Referensi tidak dikenal" in text
    link = re.search(r'href="(/cycles/PKH-TEST-T1/imports/\d+/errors.xlsx)"', text).group(1)
    rows = list(load_workbook(io.BytesIO(fin1.get(link).data), read_only=True)["Ditolak"].iter_rows(values_only=True))
    assert rows[1][1] == "PKH-TEST-T1-424242-1" and rows[1][2] == "UNKNOWN_REFERENCE"
    pos = "".join(
        results_lines(
            fin1.get("/cycles/PKH-TEST-T1/batches/POS.csv").get_data(as_text=True).splitlines(keepends=True), TODAY
        )
    )
    post(
        fin1,
        "/cycles/PKH-TEST-T1/batches/POS/results",
        {"results": (io.BytesIO(pos.encode()), "pos.csv")},
        content_type="multipart/form-data",
    )
    take_uploads(svc)
    assert db.session.scalar(select(PaymentCycle.status).where(PaymentCycle.code == "PKH-TEST-T1")) == "reconciled"
    export = load_workbook(io.BytesIO(fin1.get("/cycles/PKH-TEST-T1/figures.xlsx").data), read_only=True)
    assert export.sheetnames == ["Hak", "Pembayaran", "Rapel"]
    assert sum(r[3] for r in export["Hak"].iter_rows(min_row=2, values_only=True)) == 9
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {
        "cycle.open",
        "cycle.batch_downloaded",
        "cycle.results_imported",
        "cycle.errors_downloaded",
        "cycle.figures_exported",
        "task.complete",
    } <= actions

    # A family's payment shows on its case page.
    member_app = db.session.execute(select(Payment).where(Payment.channel == "BRI")).scalars().first()
    from payments.models import CycleMember

    number = db.session.get(CycleMember, member_app.member_id).case_number
    case_page = client_for("cw").get(f"/cases/{number}").get_data(as_text=True)
    assert "Riwayat pembayaran" in case_page and "PKH-TEST-T1" in case_page


def _actor(username):
    from cases.models import Officer
    from cases.operations import actor_for

    return actor_for(db.session.execute(select(Officer).where(Officer.username == username)).scalar_one())


def test_roles_and_districts_on_every_cycle_route(svc, people):
    family([("PKH", "SD", 1)], district="01")
    family([("PKH", "SD", 1)], district="25")
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", _actor("fin1"))
    db.session.commit()
    caseworker = client_for("cw")
    for path in (
        "/cycles",
        "/cycles/PKH-TEST-T1",
        "/cycles/PKH-TEST-T1/figures.xlsx",
        "/cycles/PKH-TEST-T1/report.xlsx",
        "/cycles/PKH-TEST-T1/batches/BRI.csv",
    ):
        assert caseworker.get(path).status_code == 403, path
    # An auditor reads but does not work the cycle.
    auditor = client_for("aud")
    assert auditor.get("/cycles/PKH-TEST-T1").status_code == 200
    assert auditor.get("/cycles/PKH-TEST-T1/batches/BRI.csv").status_code == 403
    assert post(auditor, f"/cycles/PKH-TEST-T1/tasks/{task_id('prepare_cycle')}/claim").status_code == 403
    # A finance officer of one district sees that district's figures only, and no regency-wide files.
    far = client_for("fin_far")
    page = far.get("/cycles/PKH-TEST-T1").get_data(as_text=True)
    everyone = client_for("fin1").get("/cycles/PKH-TEST-T1").get_data(as_text=True)
    assert district_label("25") in page and district_label("01") not in page
    assert district_label("01") in everyone
    fin1 = client_for("fin1")
    post(fin1, f"/cycles/PKH-TEST-T1/tasks/{task_id('prepare_cycle')}/claim")
    post(fin1, f"/cycles/PKH-TEST-T1/tasks/{task_id('prepare_cycle')}/complete", {"prepare_decision": "submit"})
    fin2 = client_for("fin2")
    post(fin2, f"/cycles/PKH-TEST-T1/tasks/{task_id('approve_cycle')}/claim")
    post(fin2, f"/cycles/PKH-TEST-T1/tasks/{task_id('approve_cycle')}/complete", {"cycle_approval_decision": "approve"})
    assert db.session.scalar(select(func.count()).select_from(PaymentBatch)) == 1
    assert far.get("/cycles/PKH-TEST-T1/batches/BRI.csv").status_code == 404
    assert (
        db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.file_refused")).one().actor == "fin_far"
    )
    assert fin1.get("/cycles/PKH-TEST-T1/batches/BRI.exe").status_code == 404
    assert fin1.get("/cycles/NOPE-1").status_code == 404
    assert fin1.get("/cycles/PKH-TEST-T1/imports/999/errors.xlsx").status_code == 404


@pytest.mark.parametrize("role", [None, *ROLES])
def test_authorization_matrix(svc, people, role):
    """Every cycle route, as every role and anonymous: readers read, finance officers work, others are refused."""
    family([("PKH", "SD", 1)])
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", _actor("fin1"))
    db.session.commit()
    prepare = task_id("prepare_cycle")
    username = f"m_{role}"
    if role is not None:
        create_officer(db.session, username, username, [role], None, password=PASSWORD)
        db.session.commit()
    client = client_for(username) if role else fresh_client().__enter__()
    routes = [
        ("GET", "read", "/cycles"),
        ("GET", "read", "/cycles/PKH-TEST-T1"),
        ("GET", "read", "/cycles/PKH-TEST-T1/figures.xlsx"),
        ("GET", "read", "/cycles/PKH-TEST-T1/report.xlsx"),
        ("POST", "work", "/cycles"),
        ("POST", "work", f"/cycles/PKH-TEST-T1/tasks/{prepare}/claim"),
        ("POST", "work", f"/cycles/PKH-TEST-T1/tasks/{prepare}/complete"),
        ("GET", "file", "/cycles/PKH-TEST-T1/batches/BRI.csv"),
        ("POST", "file", "/cycles/PKH-TEST-T1/batches/BRI/results"),
        ("GET", "file", "/cycles/PKH-TEST-T1/imports/1/errors.xlsx"),
        ("GET", "read", "/cycles/PKH-TEST-T1/imports/1/progress"),
    ]
    readers = {"finance_officer", "supervisor", "administrator", "auditor"}
    for method, kind, path in routes:
        if method == "GET":
            status = client.get(path).status_code
        elif role is None:
            status = client.post(path).status_code
        else:
            status = post(client, path, {"code": "PKH-NOPE"}, page="/profile")
        status = getattr(status, "status_code", status)
        if role is None:
            assert status in ((302,) if method == "GET" else (302, 400)), (path, status)  # sign in (or no CSRF token)
        elif (kind == "read" and role not in readers) or (kind != "read" and role != "finance_officer"):
            assert status == 403, (role, path, status)
        else:  # allowed: the page, a redirect after acting, 409/422 for a form, 404 for what does not exist yet
            assert status in (200, 302, 404, 409, 422), (role, path, status)


def test_an_officer_of_one_district_cannot_claim_or_complete_the_regencys_cycle_tasks(svc, people):
    family([("PKH", "SD", 1)], district="25")
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", _actor("fin1"))
    db.session.commit()
    far = client_for("fin_far")
    prepare = task_id("prepare_cycle")
    assert post(far, f"/cycles/PKH-TEST-T1/tasks/{prepare}/claim").status_code == 404
    assert post(far, f"/cycles/PKH-TEST-T1/tasks/{prepare}/complete", {"prepare_decision": "submit"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(HumanTask, prepare).status == "open"
    refusals = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "task.view_refused")).all()
    assert len(refusals) == 2 and all(r.actor == "fin_far" for r in refusals)
    # Nor through the inbox's own claim route: the engine refuses another region's task.
    post(far, f"/tasks/{prepare}/claim", page="/inbox")
    db.session.expire_all()
    assert db.session.get(HumanTask, prepare).status == "open"


def test_an_upload_taken_by_the_workers_shows_as_being_taken_until_its_chunks_are_done(svc, people, monkeypatch):
    """Celery mode: the upload only keeps the file; the page says it is being checked, then that its lines are being
    taken, then the figures once the runs' chunks are done (here run in process, as a worker would)."""
    from engine.runs import Run
    from payments.runs import RESULTS, RESULTS_FILE, run_inline
    from tests.integration.test_payment_cycles import do

    for n in range(6):
        family([("PKH", "SD", 1)], channel="BRI", account=f"77{n:08d}")
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", _actor("fin1"))
    db.session.commit()
    do(svc, "prepare_cycle", _actor("fin1"), {"prepare_decision": "submit"})
    do(svc, "approve_cycle", _actor("fin2"), {"cycle_approval_decision": "approve"})
    do(svc, "dispatch_batches", _actor("fin1"), {"sp2d_number": "SP2D-1", "sp2d_date": TODAY.isoformat()})
    fin1 = client_for("fin1")
    lines = fin1.get("/cycles/PKH-TEST-T1/batches/BRI.csv").get_data(as_text=True).splitlines(keepends=True)
    answer = "".join(results_lines(lines, TODAY))
    monkeypatch.setattr(svc.engine, "defer_steps", True)  # the workers take the chunks (no broker here: no hint)
    response = post(
        fin1,
        "/cycles/PKH-TEST-T1/batches/BRI/results",
        {"results": (io.BytesIO(answer.encode()), "bri.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    assert "Memeriksa berkas" in text and "sedang diperiksa" in text
    assert db.session.scalar(select(func.count()).where(Payment.status != "sent")) == 0
    monkeypatch.setattr(svc.engine, "defer_steps", False)
    run_inline(svc.engine, db.session.scalars(select(Run.id).where(Run.kind == RESULTS_FILE)).one())
    text = fin1.get("/cycles/PKH-TEST-T1").get_data(as_text=True)
    assert "Mengambil baris" in text and "sedang diproses (6 baris)" in text and 'value="0"' in text
    assert db.session.scalar(select(func.count()).where(Payment.status != "sent")) == 0
    run_inline(svc.engine, db.session.scalars(select(Run.id).where(Run.kind == RESULTS)).one())
    text = fin1.get("/cycles/PKH-TEST-T1").get_data(as_text=True)
    assert "sedang diproses" not in text and 'data-figure="accepted">6' in text
    db.session.expire_all()
    assert db.session.scalar(select(PaymentBatch.status).where(PaymentBatch.channel == "BRI")) == "reconciled"
