"""A payment cycle in the browser: prepare, approve (another officer), download the bank file, upload the
results, reconciled; the family sees its payment in the portal (also on a 360 px phone)."""

import io
import os
from datetime import date
from pathlib import Path

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from cases.models import Enrolment, EnrolmentComponent
from cases.operations import actor_for, create_officer
from engine.db import db
from integrations.sandbox.paying_bank import results_lines, results_workbook
from payments.cycles import open_cycle
from payments.models import PaymentCycle
from tests.helpers import case, submit
from tests.integration.payment_support import family, schedule, take_uploads

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_portal_journey import portal_sign_in

SHOTS = Path(os.environ.get("TEPAT_SCREENSHOTS", "/tmp/tepat_shots"))


def _enrol(number):
    """Make a submitted case an enrolled BRI family with two primary-school children."""
    app = case(number)
    app.status, app.payment_channel, app.bank_account, app.programmes = "ENROLLED", "BRI", "0012345678", ["PKH"]
    enrolment = Enrolment(application_id=app.id, nik=app.nik, programmes=["PKH"], benefits={})
    db.session.add(enrolment)
    db.session.flush()
    db.session.add(EnrolmentComponent(enrolment_id=enrolment.id, programme="PKH", category="SD", units=2))
    db.session.commit()


def _officer_page(browser, live, username):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems = watch(page)
    sign_in(page, live, username)
    return page, problems


def _work(page, live, task_name, choose, fill=None):
    page.goto(f"{live}/cycles/PKH-TEST-T1")
    page.locator(".border", has_text=task_name).get_by_role("button", name="Ambil").click()
    page.wait_for_selector("form button:has-text('Selesaikan tugas')")
    for name, value in choose.items():
        page.select_option(f"select[name={name}]", value)
    for name, value in (fill or {}).items():
        page.fill(f"[name={name}]", value)
    page.get_by_role("button", name="Selesaikan tugas").click()
    page.wait_for_selector(".alert-success")


def test_prepare_approve_download_upload_reconciled_and_the_family_sees_it(live, browser, svc, personas, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for username in ("fin1", "fin2", "cw1"):
        create_officer(
            db.session,
            username,
            {"fin1": "Maya Keuangan", "fin2": "Yoga Keuangan", "cw1": "Sari"}[username],
            ["caseworker"] if username == "cw1" else ["finance_officer"],
            None,
            password=PASSWORD,
        )
    nik = personas["eligible_head_without_photo"]
    number = submit(svc, nik).case_number
    _enrol(number)
    for n in range(12):
        family(
            [("PKH", "SD", 1 + n % 3), ("PKH", "child_0_6", n % 2)],
            district=f"{1 + n % 5:02d}",
            channel=("BRI", "BNI", "POS")[n % 3],
            account=None if n % 3 == 2 else f"55{n:08d}",
        )
    db.session.commit()
    from cases.models import Officer

    fin1_actor = actor_for(db.session.execute(select(Officer).where(Officer.username == "fin1")).scalar_one())
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin1_actor)
    db.session.commit()

    maker, problems = _officer_page(browser, live, "fin1")
    maker.goto(f"{live}/cycles")
    maker.screenshot(path=str(SHOTS / "cycles-list.png"), full_page=True)
    assert "PKH-TEST-T1" in maker.content()
    _work(maker, live, "Siapkan siklus pembayaran", {"prepare_decision": "submit"})
    maker.screenshot(path=str(SHOTS / "cycle-prepared.png"), full_page=True)
    # The maker is not offered the approval (four eyes); the engine would refuse it anyway (integration tests).
    approval = maker.locator(".border", has_text="Setujui siklus pembayaran")
    assert "petugas keuangan lain" in approval.inner_text() and approval.get_by_role("button").count() == 0

    checker, problems2 = _officer_page(browser, live, "fin2")
    checker.goto(f"{live}/inbox")
    checker.screenshot(path=str(SHOTS / "inbox-checker.png"), full_page=True)
    checker.get_by_role("link", name="CYCLE-PKH-TEST-T1").first.click()
    checker.wait_for_url("**/cycles/PKH-TEST-T1")
    _work(checker, live, "Setujui siklus pembayaran", {"cycle_approval_decision": "approve"})
    _work(
        checker,
        live,
        "Kirim berkas pembayaran ke bank",
        {},
        {"sp2d_number": "SP2D-0042/2026", "sp2d_date": date.today().isoformat()},
    )
    assert axe_violations(checker, live) == []
    # Download each batch file as the bank would get it, let the sandbox bank answer, upload the answer:
    # BRI answers with its Excel results workbook, the others with CSV.
    for channel in ("BNI", "BRI", "POS"):
        checker.goto(f"{live}/cycles/PKH-TEST-T1")
        with checker.expect_download() as download:
            checker.locator("tr", has_text=f"PKH-TEST-T1-{channel}").get_by_role("link", name="CSV").click()
        lines = Path(download.value.path()).read_text().splitlines(keepends=True)
        answer = tmp_path / f"{channel}.{'xlsx' if channel == 'BRI' else 'csv'}"
        if channel == "BRI":
            with answer.open("wb") as out:
                results_workbook(results_lines(lines, date.today()), out)
        else:
            answer.write_text("".join(results_lines(lines, date.today())))
        checker.set_input_files(f"#results-{channel}", str(answer))
        checker.locator("tr", has_text=f"PKH-TEST-T1-{channel}").get_by_role("button", name="Unggah hasil").click()
        checker.wait_for_selector(".alert-info")  # kept; checked and taken in the background
        assert "diproses di latar belakang" in checker.locator(".alert-info").inner_text()
        take_uploads(svc)  # what the in-process scheduler does (it is off in tests)
        checker.wait_for_selector(".results-import[data-status=applied]")  # the panel asked for itself again
        assert "Cocok dan diambil" in checker.locator(".results-import").first.inner_text()
        checker.goto(f"{live}/cycles/PKH-TEST-T1")
    checker.screenshot(path=str(SHOTS / "cycle-reconciled.png"), full_page=True)
    db.session.expire_all()
    assert db.session.scalar(select(PaymentCycle.status)) == "reconciled"
    assert "Direkonsiliasi" in checker.content() and "BRI.xlsx" in checker.content()
    # A hostile workbook (a formula in a cell) is refused whole, with the reason, and changes nothing.
    hostile = tmp_path / "hostile.xlsx"
    book = Workbook()
    book.active.title = "Kontrol"
    book.active.append(["batch_reference", "count", "total"])
    book.active.append(["PKH-TEST-T1-BRI", 1, "=1+1"])
    book.create_sheet("Hasil").append(["reference", "amount", "status", "failure_code", "date"])
    book.save(hostile)
    checker.set_input_files("#results-BRI", str(hostile))
    checker.locator("tr", has_text="PKH-TEST-T1-BRI").get_by_role("button", name="Unggah hasil").click()
    checker.wait_for_selector(".results-import[data-status=received]")
    take_uploads(svc)
    refused = checker.locator(".results-import[data-status=refused]")
    refused.wait_for()
    assert "berisi rumus" in refused.inner_text()
    refused.screenshot(path=str(SHOTS / "cycle-hostile-workbook.png"))
    assert problems == [] and problems2 == [], problems + problems2

    # An auditor reads the cycle report and exports it to Excel: the page's total is the workbook's.
    create_officer(db.session, "aud1", "Audit BPK", ["auditor"], None, password=PASSWORD)
    db.session.commit()
    auditor, problems3 = _officer_page(browser, live, "aud1")
    auditor.goto(f"{live}/cycles/PKH-TEST-T1")
    report = auditor.locator("#cycle-report")
    assert "Laporan siklus untuk auditor" in report.inner_text()
    total_row = report.locator("tfoot tr")
    planned = total_row.locator("[data-column=planned]").inner_text()
    paid = total_row.locator("[data-column=paid]").inner_text()
    report.screenshot(path=str(SHOTS / "cycle-report.png"))
    with auditor.expect_download() as download:
        report.get_by_role("link", name="Ekspor laporan ke Excel").click()
    rows = list(
        load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()), read_only=True)["Laporan"].iter_rows(
            values_only=True
        )
    )
    total = rows[-1]
    assert total[0] == "Total"
    assert planned.split()[0] == str(total[3]) and f"{total[4]:,}".replace(",", ".") in planned
    assert paid.split()[0] == str(total[9]) and f"{total[10]:,}".replace(",", ".") in paid
    assert total[3] == total[5] == total[7] == 13  # planned = approved = sent: 13 families
    assert axe_violations(auditor, live) == []
    assert problems3 == [], problems3

    reader, _ = _officer_page(browser, live, "cw1")
    reader.goto(f"{live}/cases/{number}")
    history = reader.locator("section", has_text="Riwayat pembayaran")
    assert "PKH-TEST-T1" in history.inner_text()
    history.screenshot(path=str(SHOTS / "case-payments.png"))

    phone = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    portal_sign_in(phone, live, nik)
    phone.goto(f"{live}/portal/cases/{number}")
    payments = phone.locator("section", has_text="Pembayaran Anda")
    assert "PKH" in payments.inner_text() and "Rp" in payments.inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    payments.screenshot(path=str(SHOTS / "portal-payments-360.png"))
    assert axe_violations(phone, live) == []
