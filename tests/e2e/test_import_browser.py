"""In Chromium: an administrator uploads a registry extract on /admin/imports, sees a refusal that names the
missing workbook, then sends the whole extract and follows the import run to its end. Set
TEPAT_SCREENSHOTS=DIR to keep screenshots."""

import pytest
from flask import current_app

from cases.operations import create_officer
from engine.db import db
from web.admin.imports import WORKBOOKS
from web.runs_exec import run_in_process

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_decision_context import shot


@pytest.fixture
def import_dir(tmp_path, svc):
    kept = current_app.config["BANSOS_IMPORT_DIR"]
    current_app.config["BANSOS_IMPORT_DIR"] = str(tmp_path / "imports")
    yield tmp_path / "imports"
    current_app.config["BANSOS_IMPORT_DIR"] = kept


def test_an_administrator_uploads_an_extract_and_follows_its_import(live, browser, svc, population, import_dir):
    create_officer(db.session, "e2e_import", "Import Admin", ["administrator"], None, password=PASSWORD)
    db.session.commit()
    folder = population["dir"]
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watch(page)
    sign_in(page, live, "e2e_import")
    page.goto(f"{live}/admin/runs")
    page.click("text=Impor ekstrak registri")
    page.wait_for_selector("h1:has-text('Impor ekstrak registri')")
    assert axe_violations(page, live) == []
    page.set_input_files("#workbooks", [str(folder / n) for n in WORKBOOKS if n != "aset.xlsx"])
    page.get_by_role("button", name="Periksa dan impor").click()
    page.wait_for_selector("#import-problems")
    assert "Belum ada: aset.xlsx" in page.inner_text("#import-problems")
    shot(page, "import-refused")
    page.set_input_files("#workbooks", [str(folder / n) for n in WORKBOOKS])
    page.get_by_role("button", name="Periksa dan impor").click()
    page.wait_for_selector("#run-progress")
    assert "Ekstrak diterima dan diperiksa" in page.inner_text("main")
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    run_in_process(svc.engine, run_id, wait=True)  # what a worker (or the in-process scheduler job) does
    page.wait_for_selector("#run-progress:has-text('Selesai')", timeout=15_000)  # polled, no reload
    page.reload()
    assert "sandbox_people" in page.inner_text("main")
    assert axe_violations(page, live) == []
    shot(page, "import-done")
    assert problems == [] or all("422" in p for p in problems), problems
