"""PKH commitments in the browser: a facilitator records a check in the field and imports a list with a bad
row; the family sees per component why (also on a 360 px phone); the maker sees the counts."""

import os
from pathlib import Path

from openpyxl import Workbook

from cases.operations import actor_for, create_officer
from engine.db import db
from payments.commitments import record_check
from payments.cycles import open_cycle
from tests.integration.payment_support import family
from tests.integration.test_cycle_conditions import schedule_with_commitments

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_portal_journey import portal_sign_in

SHOTS = Path(os.environ.get("TEPAT_SCREENSHOTS", "/tmp/tepat_shots"))
KK = "3510010101260001"
CHILD = "3510015505150001"


def test_field_recording_import_portal_and_cycle_counts(live, browser, svc, personas, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    create_officer(db.session, "fac01", "Dewi Pendamping", ["facilitator"], ["01"], password=PASSWORD)
    fin = actor_for(create_officer(db.session, "fin1", "Maya Keuangan", ["finance_officer"], None, password=PASSWORD))
    nik = personas["eligible_family_with_children"]
    app = family([("PKH", "SD", 2), ("PKH", "child_0_6", 1)], district="01")
    app.nik = app.active_nik = nik
    app.kk_number = KK
    db.session.commit()
    rule = schedule_with_commitments().commitments
    record_check(db.session, rule, fin, kk_number=KK, nik=CHILD, category="SD", period="2026-Q3", attendance=60)
    db.session.commit()

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems = watch(page)
    sign_in(page, live, "fac01")
    page.goto(f"{live}/commitments?kk={KK}")
    row = page.locator("tbody tr").first
    row.locator("input[name=nik]").fill(CHILD)
    row.locator("select[name=category]").select_option("SD")
    row.locator("input[name=period]").fill("2026-Q4")
    row.locator("input[name=attendance]").fill("50")
    row.get_by_role("button", name="Catat").click()
    page.wait_for_selector(".alert-warning")
    assert "komitmen tidak terpenuhi" in page.content()
    page.screenshot(path=str(SHOTS / "commitments-field.png"), full_page=True)
    assert axe_violations(page, live) == []
    book = Workbook()
    sheet = book.active
    sheet.append(["NIK", "No KK", "Komponen", "Periode", "Kehadiran (%)", "Pemeriksaan"])
    sheet.append(["3510015505200003", KK, "child_0_6", "2026-Q4", None, "Ya"])
    sheet.append(["12345", KK, "SD", "2026-Q4", 90, None])
    path = tmp_path / "komitmen.xlsx"
    book.save(path)
    page.set_input_files("#file", str(path))
    page.get_by_role("button", name="Impor").click()
    page.wait_for_selector("[data-import]")
    assert "NIK harus 16 angka" in page.content()
    page.screenshot(path=str(SHOTS / "commitments-import.png"), full_page=True)
    assert problems == []

    open_cycle(svc.engine, schedule_with_commitments(), "PKH-TEST-T2", fin)
    db.session.commit()
    maker = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(maker, live, "fin1")
    maker.goto(f"{live}/cycles/PKH-TEST-T2")
    assert maker.locator("[data-condition=suspended]").inner_text() == "1"
    maker.screenshot(path=str(SHOTS / "cycle-commitment-counts.png"))

    phone = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    portal_sign_in(phone, live, nik)
    phone.goto(f"{live}/portal/cases/{app.case_number}")
    section = phone.locator("section[aria-labelledby=commitments-title]")
    assert "Ditangguhkan" in section.inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    section.screenshot(path=str(SHOTS / "portal-commitments-360.png"))
