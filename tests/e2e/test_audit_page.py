"""The auditor's page in a browser: every shard listed, a broken shard named with the row where it breaks."""

import os
from pathlib import Path

from sqlalchemy import text

from cases import audit
from cases.operations import create_officer
from engine.db import db
from tests.e2e.conftest import PASSWORD, axe_violations, sign_in, watch


def _shot(page, name):
    folder = os.environ.get("TEPAT_E2E_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_the_audit_page_lists_the_shards_and_names_a_broken_row(live, browser, ctx):
    create_officer(db.session, "e2e_aud", "E2E Auditor", ["auditor"], None, password=PASSWORD)
    for i in range(12):
        audit.record(db.session, "cw1", "case.view", "case", f"TPT-2026-{i:07d}")
        db.session.commit()
    audit.anchor(db.session, "test")
    db.session.commit()
    page = browser.new_page()
    problems = watch(page)
    sign_in(page, live, "e2e_aud")
    page.goto(f"{live}/audit")
    assert page.locator(".alert-success").count() == 1
    summary = page.locator("table").first.locator("tbody tr")  # the anchors and the broken shards
    assert summary.count() == 1 and "jangkar" in summary.first.inner_text().lower()
    page.locator("details summary").click()  # every chain
    every = page.locator("details tbody tr")
    shards = len(audit.chain_heads(db.session))
    assert every.count() == shards and page.locator("tbody tr.table-danger").count() == 0
    _shot(page, "audit-intact.png")

    broken = db.session.execute(
        text("SELECT shard, seq, id FROM audit_log WHERE shard >= 0 AND seq = 1 ORDER BY shard LIMIT 1")
    ).one()
    db.session.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = :i"), {"i": broken.id})
    db.session.commit()
    page.goto(f"{live}/audit")
    alert = page.locator(".alert-danger").inner_text()
    assert f"pecahan {broken.shard} pada no. 1" in alert
    assert page.locator("table").first.locator("tbody tr").count() == 2
    row = page.locator("table").first.locator("tbody tr.table-danger")
    assert row.count() == 1 and page.locator("details tbody tr.table-danger").count() == 1
    assert f"id entri {broken.id}" in row.inner_text() and "Rusak pada no. 1" in row.inner_text()
    _shot(page, "audit-broken.png")
    assert axe_violations(page, live) == []
    page.set_viewport_size({"width": 360, "height": 800})
    _shot(page, "audit-broken-360.png")
    assert not problems, problems
