"""A results file uploaded in the browser is taken in the background: the finance officer sees it checked, a
progress bar while its lines are taken chunk by chunk, then the outcome (lines matched, refused with the error
workbook, control totals). The test takes the runs' chunks one at a time, as the in-process scheduler or a
worker would, and watches the panel follow (it asks for itself every 2 seconds)."""

import io
import os
from datetime import date
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import select

from cases.operations import actor_for, create_officer
from engine.db import db
from integrations.sandbox.paying_bank import results_lines
from payments.cycles import open_cycle
from payments.models import PaymentBatch
from tests.integration.payment_support import family, schedule
from tests.integration.test_payment_cycles import do
from web.runs_exec import run_in_process

from .conftest import PASSWORD, axe_violations, sign_in, watch

SHOTS = Path(os.environ.get("TEPAT_SCREENSHOTS", "/tmp/tepat_shots"))


def _one_chunk(svc):
    db.session.rollback()
    taken = run_in_process(svc.engine, limit=1)
    db.session.rollback()
    return taken


def test_a_results_upload_shows_its_progress_then_its_outcome(live, browser, svc, monkeypatch, tmp_path):
    import payments.results as results

    SHOTS.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(results, "ITEM_LINES", 4)  # 24 lines: 6 items, 3 chunks of the lines' run
    officers = {}
    for username, name in (("fin1", "Maya Keuangan"), ("fin2", "Yoga Keuangan")):
        officers[username] = actor_for(
            create_officer(db.session, username, name, ["finance_officer"], None, password=PASSWORD)
        )
    for n in range(24):
        family([("PKH", "SD", 1 + n % 2)], district=f"{1 + n % 4:02d}", channel="BRI", account=f"66{n:08d}")
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", officers["fin1"])
    db.session.commit()
    do(svc, "prepare_cycle", officers["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", officers["fin2"], {"cycle_approval_decision": "approve"})
    do(svc, "dispatch_batches", officers["fin1"], {"sp2d_number": "SP2D-9", "sp2d_date": date.today().isoformat()})

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems = watch(page)
    sign_in(page, live, "fin1")
    page.goto(f"{live}/cycles/PKH-TEST-T1")
    with page.expect_download() as download:
        page.locator("tr", has_text="PKH-TEST-T1-BRI").get_by_role("link", name="CSV").click()
    lines = results_lines(Path(download.value.path()).read_text().splitlines(keepends=True), date.today())
    # One line the bank got wrong (an amount that is not the payment's): refused, the rest taken.
    fields = lines[3].split(",")
    fields[2] = str(int(fields[2]) + 1000)
    lines[3] = ",".join(fields)
    header = lines[0].split(",")
    header[3] = str(int(header[3]) + 1000) + "\n"
    lines[0] = ",".join(header)
    answer = tmp_path / "hasil-bri.csv"
    answer.write_text("".join(lines))

    page.set_input_files("#results-BRI", str(answer))
    page.locator("tr", has_text="PKH-TEST-T1-BRI").get_by_role("button", name="Unggah hasil").click()
    panel = page.locator(".results-import").first
    page.wait_for_selector(".results-import[data-status=received]")
    notice = page.locator(".alert-info").inner_text()
    assert "Berkas hasil telah diterima" in notice and "diproses di latar belakang" in notice
    assert "Memeriksa berkas" in panel.inner_text()
    page.screenshot(path=str(SHOTS / "results-1-received.png"), full_page=True)

    assert _one_chunk(svc) == 1  # the file's run: checked whole, 24 lines staged, the lines' run started
    page.wait_for_selector(".results-import[data-status=importing]", timeout=10_000)
    text = panel.inner_text()
    assert "Mengambil baris" in text and "24 baris diperiksa; 0 dari 6 bagian sudah diambil." in text
    assert panel.locator("progress").get_attribute("value") == "0"
    panel.screenshot(path=str(SHOTS / "results-2-taking-0.png"))

    assert _one_chunk(svc) == 1  # 2 of 6 items (lines 2..9)
    page.wait_for_selector(".results-import progress[value='33']", timeout=10_000)
    assert "2 dari 6 bagian sudah diambil" in panel.inner_text() and "33%" in panel.inner_text()
    panel.screenshot(path=str(SHOTS / "results-3-taking-33.png"))
    assert axe_violations(page, live) == []

    while _one_chunk(svc):
        pass
    page.wait_for_selector(".results-import[data-status=applied]", timeout=10_000)
    # Finished, the panel reloads the page once: the batch table and the report are current too.
    page.wait_for_selector("tr:has-text('PKH-TEST-T1-BRI') >> text=hasil sebagian", timeout=10_000)
    page.wait_for_load_state()
    assert page.locator("[aria-labelledby=imports-h] tbody td", has_text="diterapkan").count() == 1
    text = panel.inner_text()
    figures = {f: panel.locator(f"[data-figure={f}]").inner_text() for f in ("lines", "accepted", "refused")}
    assert figures["lines"] == "24" and figures["accepted"] == "23" and figures["refused"].startswith("1")
    assert "Jumlah tidak sama dengan pembayaran" in text  # the refused line, with its reason in Indonesian
    assert "Baris kontrol berkas" in text and "24 baris" in text and "sesuai dengan baris yang dibaca" in text
    assert "23 dari 24 pembayaran" in text  # the batch's control totals: one payment still waits
    assert "Tampilkan angka siklus yang terbaru" in text
    page.screenshot(path=str(SHOTS / "results-4-outcome.png"), full_page=True)
    with page.expect_download() as download:
        panel.get_by_role("link", name="Unduh baris yang ditolak (Excel)").click()
    rows = list(
        load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()), read_only=True).active.iter_rows(
            values_only=True
        )
    )
    assert rows[1][2] == "AMOUNT_MISMATCH" and rows[1][3] == "Jumlah tidak sama dengan pembayaran"
    db.session.expire_all()
    assert db.session.scalar(select(PaymentBatch.status)) == "partial"
    assert axe_violations(page, live) == []
    assert problems == [], problems
