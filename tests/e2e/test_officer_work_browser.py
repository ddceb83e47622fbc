"""Officers' daily work in Chromium: many tasks at once, notifications, the browsable audit trail."""

import os
from pathlib import Path

import pytest

from cases.operations import create_officer
from engine.db import db
from tests.helpers import open_task, submit, work

from .conftest import CHROMIUM, PASSWORD, axe_violations, sign_in, watch

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
REVIEW_OK = {"review_decision": "approve", "review_notes": "checked at the village office"}


def _shot(page, name):
    folder = os.environ.get("TEPAT_E2E_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_a_supervisor_reassigns_and_approves_several_tasks_at_once(live, browser, svc, personas, officers):
    create_officer(db.session, "e2e_sup", "Sari Supervisor", ["caseworker", "supervisor"], None, password=PASSWORD)
    db.session.commit()
    mine = submit(svc, personas["eligible_head_without_photo"]).case_number
    other = submit(svc, personas["not_in_dtsen"]).case_number
    reviews = [open_task(mine, "review").id, open_task(other, "review").id]
    page = browser.new_page()
    problems = watch(page)
    sign_in(page, live, "e2e_sup")
    page.goto(f"{live}/inbox")
    # The reassign target is chosen from the officers who may take the task, not typed.
    options = page.locator(f"#to-{reviews[0]} option").all_inner_texts()
    assert any("(cw1)" in o for o in options) and not any("(sup1)" in o for o in options)
    assert not any("(cw_far)" in o for o in options)
    for task_id in reviews:
        page.check(f"#pick-{task_id}")
    page.select_option("#batch-to", "cw2")
    _shot(page, "batch-inbox.png")
    page.click("#batch-reassign")
    assert "2 tugas dialihkan ke cw2, 0 ditolak" in page.locator("#batch-summary").inner_text()
    _shot(page, "batch-reassigned.png")
    db.session.expire_all()
    assert [open_task(n, "review").assignee for n in (mine, other)] == ["cw2", "cw2"]

    work(svc, mine, "review", officers["cw2"], REVIEW_OK)  # then e2e_sup may approve it
    work(svc, other, "review", officers["cw2"], REVIEW_OK)
    db.session.execute(
        db.text("UPDATE human_tasks SET completed_by = 'e2e_sup' WHERE business_key = :k AND bpmn_id = 'review'"),
        {"k": mine},
    )  # e2e_sup reviewed this one: four eyes
    db.session.commit()
    approvals = [open_task(mine, "approve").id, open_task(other, "approve").id]
    page.goto(f"{live}/desk/approvals")
    for task_id in approvals:
        page.check(f"#pick-{task_id}")
    _shot(page, "batch-approvals.png")
    page.click("#batch-approve")
    assert "1 tugas disetujui, 1 ditolak" in page.locator("#batch-summary").inner_text()
    refused = page.locator(f"#result-{approvals[0]}").inner_text()
    assert "Ditolak" in refused and "empat mata" in refused
    assert "Selesai" in page.locator(f"#result-{approvals[1]}").inner_text()
    _shot(page, "batch-approved.png")
    assert axe_violations(page, live) == []
    page.set_viewport_size({"width": 360, "height": 800})
    _shot(page, "batch-approved-360.png")
    assert not problems, problems


def test_an_officer_sees_the_unread_count_and_reads_the_notifications(live, browser, svc, personas, officers):
    from cases import notifications as n
    from engine.humantasks import reassign_task

    create_officer(db.session, "e2e_cw", "Nia Caseworker", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    n.new_task_notices(db.session)  # the mark: tasks from now on are new
    db.session.commit()
    number = submit(svc, personas["not_in_dtsen"]).case_number
    n.new_task_notices(db.session)
    db.session.commit()
    from cases.operations import actor_for, officer_or_404

    reassign_task(
        svc.engine, open_task(number, "review").id, officers["sup1"], actor_for(officer_or_404(db.session, "e2e_cw"))
    )
    db.session.commit()
    page = browser.new_page()
    problems = watch(page)
    sign_in(page, live, "e2e_cw")
    page.goto(f"{live}/inbox")
    assert page.locator("#unread-badge").inner_text().startswith("2")
    page.click("button.user-name")  # the count sits on the menu under the officer's name
    page.click("#nav-notifications")
    items = page.locator("#notifications li")
    assert items.count() == 2 and page.locator("#notifications .notification-unread").count() == 2
    text = page.locator("#notifications").inner_text()
    assert "sup1 memberi Anda tugas Tinjau kasus pada " + number in text and "1 tugas baru di antrean" in text
    _shot(page, "notifications-unread.png")
    assert axe_violations(page, live) == []
    page.click("#read-all")
    assert page.locator("#notifications .notification-unread").count() == 0
    assert page.locator("#unread-badge").count() == 0
    page.set_viewport_size({"width": 360, "height": 800})
    _shot(page, "notifications-read-360.png")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live}/profile")
    page.fill("#email", "nia@dinsos.example")
    page.locator("form[action='/profile/email'] button").click()
    assert "disimpan" in page.locator(".alert-success").inner_text()
    _shot(page, "profile-email.png")
    assert not problems, problems


def test_an_auditor_filters_the_trail_sees_who_viewed_a_nik_and_exports_it(live, browser, svc, personas):
    from cases import audit

    create_officer(db.session, "e2e_auditor", "Ani Auditor", ["auditor"], None, password=PASSWORD)
    db.session.commit()
    nik = personas["not_in_dtsen"]
    number = submit(svc, nik).case_number
    for who in ("cw1", "cw1", "cw2"):
        audit.record(db.session, who, "case.view", "case", number)
        db.session.commit()
    audit.record(db.session, "cw2", "case.view", "case", "TPT-2026-7777777")
    db.session.commit()
    page = browser.new_page()
    problems = watch(page)
    sign_in(page, live, "e2e_auditor")
    page.goto(f"{live}/audit")
    page.get_by_role("link", name="Telusuri entri").click()
    page.fill("#f-nik", nik)
    page.click("#audit-filter button")
    viewers = page.locator("#viewers tbody tr")
    assert viewers.count() == 2 and viewers.first.inner_text().startswith("cw1\t2")
    assert "TPT-2026-7777777" not in page.locator("#entries").inner_text()
    _shot(page, "audit-entries-nik.png")
    assert axe_violations(page, live) == []
    page.goto(f"{live}/audit/entries")
    page.fill("#f-actor", "cw2")
    page.fill("#f-action", "case.")
    page.click("#audit-filter button")
    rows = page.locator("#entries tbody tr")
    assert rows.count() == 2 and "TPT-2026-7777777" in page.locator("#entries").inner_text()
    with page.expect_download() as download:
        page.click("#export-filtered")
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("id,at,actor") and len(lines) == 3
    page.fill("#f-nik", "12")
    page.fill("#f-date_from", "2026-12-05")
    page.fill("#f-date_to", "2026-12-01")
    page.click("#audit-filter button")
    assert "NIK terdiri dari 16 angka." in page.locator("#f-nik-error").inner_text()
    assert "sesudah tanggal pertama" in page.locator("#f-date_to-error").inner_text()
    page.set_viewport_size({"width": 360, "height": 800})
    _shot(page, "audit-entries-error-360.png")
    assert [p for p in problems if not p.startswith("400 ")] == []  # the refused filter answers 400
