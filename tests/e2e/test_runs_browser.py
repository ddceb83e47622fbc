"""In Chromium: an administrator starts a re-check run on /admin/runs and watches its progress bar fill
while the chunks run (htmx polls the panel, no reload); a caseworker's case page follows the steps a
completed review left to the workers. Every page passes axe and the strict CSP. Set
TEPAT_SCREENSHOTS=DIR to keep screenshots of the pages."""

from cases.operations import actor_for, create_officer
from engine.db import db
from engine.humantasks import claim_task
from tests.helpers import case, open_task, submit, work
from tests.integration.test_execution_modes import _worker, workers_mode  # noqa: F401  (fixture)
from web.runs_exec import run_in_process
from web.worker import advance_instance

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_decision_context import shot

APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}


def test_an_administrator_follows_a_recheck_run(live, browser, svc, personas):
    admin = create_officer(
        db.session, "e2e_runs", "Runs Admin", ["administrator", "supervisor"], None, password=PASSWORD
    )
    cw = create_officer(db.session, "e2e_runs_cw", "Runs Caseworker", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    for kind in ("eligible_head_without_photo", "eligible_head_with_photo"):
        number = submit(svc, personas[kind]).case_number
        work(svc, number, "review", actor_for(cw), APPROVE)
        assert work(svc, number, "approve", actor_for(admin), {"approval_decision": "approve"}).status == "ENROLLED"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch(page)
    sign_in(page, live, "e2e_runs")
    page.goto(f"{live}/admin/runs")
    assert "Belum ada proses massal." in page.inner_text("main")
    page.click("text=Periksa ulang semua keluarga penerima")
    page.wait_for_selector("#run-progress")
    assert "0 dari 2 ditangani" in page.inner_text("#run-progress")
    assert page.locator("text=Batalkan proses").count() == 1
    assert axe_violations(page, live) == []
    shot(page, "run-queued")
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    run_in_process(svc.engine, run_id, wait=True)  # the chunks run (a worker, or the in-process job)
    page.wait_for_selector("#run-progress:has-text('2 dari 2 ditangani')", timeout=10_000)  # polled, no reload
    panel = page.inner_text("#run-progress")
    assert "Selesai" in panel and "100%" in panel and "Jumlah per hasil" in panel
    assert page.locator("text=Batalkan proses").count() == 0  # nothing left to cancel
    shot(page, "run-done")
    page.goto(f"{live}/admin/runs")
    assert f"{run_id}" in page.inner_text("table") and "2/2" in page.inner_text("table")
    assert axe_violations(page, live) == []
    shot(page, "runs-list")
    assert problems == []


def test_a_caseworker_lands_on_a_case_being_processed(live, browser, svc, personas, workers_mode):
    officer = create_officer(db.session, "e2e_follow", "Follow Caseworker", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    worker = _worker(svc)
    advance_instance(worker, case(number).instance_id)
    claim_task(svc.engine, open_task(number, "review").id, actor_for(officer))
    db.session.commit()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch(page)
    sign_in(page, live, "e2e_follow")
    page.goto(f"{live}/cases/{number}")
    page.select_option("select[name=review_decision]", "approve")
    page.fill("textarea[name=review_notes]", "checked at the village office")
    page.get_by_role("button", name="Selesaikan tugas").click()
    page.wait_for_selector("#processing")
    assert "Sedang diproses" in page.inner_text("#processing")
    assert axe_violations(page, live) == []
    shot(page, "case-being-processed")
    advance_instance(worker, case(number).instance_id)
    page.wait_for_selector("#processing", state="detached", timeout=10_000)  # the page reloaded by itself
    main_text = page.inner_text("main")
    assert "Menunggu persetujuan" in main_text  # the new status, shown without a manual reload
    assert "Sedang diproses" not in main_text
    shot(page, "case-processed")
    assert problems == []


def test_a_facilitators_list_follows_a_registration_on_a_phone(live, browser, svc, personas, workers_mode):
    create_officer(db.session, "e2e_fac", "Follow Facilitator", ["facilitator"], None, password=PASSWORD)
    db.session.commit()
    number = submit(svc, personas["high_wage"], channel="facilitator", facilitator_id="e2e_fac").case_number
    page = browser.new_page(viewport={"width": 360, "height": 740})
    problems = watch(page)
    sign_in(page, live, "e2e_fac")
    page.goto(f"{live}/assist/")
    assert number in page.inner_text("main") and "Halaman ini diperbarui otomatis" in page.inner_text("main")
    shot(page, "assist-being-checked-360")
    advance_instance(_worker(svc), case(number).instance_id)
    page.wait_for_selector("text=Halaman ini diperbarui otomatis", state="detached", timeout=15_000)  # reloaded
    assert "Tidak disetujui" in page.inner_text("main") or "Ditolak" in page.inner_text("main")
    shot(page, "assist-decided-360")
    assert problems == []
