"""In Chromium: an administrator starts the quarterly re-verification on /admin/runs and reads its counts by
outcome (continue, exit). The pages pass axe and the strict CSP. TEPAT_SCREENSHOTS=DIR keeps screenshots."""

from sqlalchemy import update

from cases.operations import actor_for, create_officer
from engine.db import db
from integrations.sandbox import tables as t
from integrations.sandbox.importer import import_extracts
from tests.helpers import submit, work
from web.runs_exec import run_in_process

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_decision_context import shot

APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}


def test_an_administrator_starts_the_quarterly_reverification(live, browser, svc, personas, population):
    admin = create_officer(
        db.session, "e2e_rv", "Reverify Admin", ["administrator", "supervisor"], None, password=PASSWORD
    )
    cw = create_officer(db.session, "e2e_rv_cw", "Reverify Caseworker", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    apps = []
    for kind in ("eligible_head_without_photo", "eligible_family_with_children"):
        number = submit(svc, personas[kind]).case_number
        work(svc, number, "review", actor_for(cw), APPROVE)
        apps.append(work(svc, number, "approve", actor_for(admin), {"approval_decision": "approve"}))
    db.session.execute(update(t.dtsen).where(t.dtsen.c.kk_number == apps[1].kk_number).values(decile=9))
    db.session.commit()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems = watch(page)
        sign_in(page, live, "e2e_rv")
        page.goto(f"{live}/admin/runs")
        page.fill("#quarter", "2026Q4")
        assert axe_violations(page, live) == []
        shot(page, "reverify-start")
        page.click("text=Mulai verifikasi ulang triwulanan")
        page.wait_for_selector("#run-progress")
        assert "Proses" in page.inner_text("main") and "diverifikasi ulang" in page.inner_text("main")
        run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
        run_in_process(svc.engine, run_id, wait=True)
        page.wait_for_selector("#run-progress:has-text('2 dari 2 ditangani')", timeout=10_000)
        panel = page.inner_text("#run-progress")
        assert "continue" in panel and "exit" in panel
        assert axe_violations(page, live) == []
        shot(page, "reverify-done")
        page.goto(f"{live}/admin/runs")
        assert "Verifikasi ulang triwulanan" in page.inner_text("table")
        page.click("text=Mulai verifikasi ulang triwulanan")  # the same quarter again
        assert "sudah dijalankan" in page.inner_text("main")
        shot(page, "reverify-again")
        assert problems == []
    finally:
        db.session.rollback()
        import_extracts(population["dir"], db.session, max_delete_share=None)
        db.session.commit()
