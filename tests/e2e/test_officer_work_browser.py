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
    db.session.execute(db.text("UPDATE human_tasks SET completed_by = 'e2e_sup' WHERE business_key = :k "
                               "AND bpmn_id = 'review'"), {"k": mine})  # e2e_sup reviewed this one: four eyes
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
