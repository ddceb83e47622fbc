"""The payment schedule's runway warning as a finance officer and an administrator see it (Indonesian)."""

import os
import shutil
from pathlib import Path

from cases.operations import create_officer
from engine.db import db
from payments.schedule import FILE_NAME
from tests.integration.test_schedule_runway import ROOT, RUNS_OUT, _month

from .conftest import PASSWORD, axe_violations, sign_in, watch

SHOTS = Path(os.environ.get("TEPAT_SCREENSHOTS", "/tmp/tepat_shots"))


def test_the_runway_warning_on_the_cycles_page_and_the_desk(live, browser, ctx, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    folder = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", folder)
    pkh = ", ".join(f'"{_month(n)}"' for n in range(0, 2))
    bpnt = ", ".join(f'"{_month(n)}"' for n in range(0, 1))
    (folder / FILE_NAME).write_text(RUNS_OUT.format(pkh=pkh, bpnt=bpnt), encoding="utf-8")
    before, ctx.config["BANSOS_PROCESS_DIR"] = ctx.config["BANSOS_PROCESS_DIR"], str(folder)
    try:
        create_officer(db.session, "fin1", "Maya Keuangan", ["finance_officer"], None, password=PASSWORD)
        create_officer(db.session, "adm1", "Admin", ["administrator"], None, password=PASSWORD)
        db.session.commit()
        for username, path, shot in (("fin1", "/cycles", "runway-cycles.png"), ("adm1", "/desk", "runway-desk.png")):
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            problems = watch(page)
            sign_in(page, live, username)
            page.goto(f"{live}{path}")
            warning = page.locator("#schedule-runway")
            text = warning.inner_text()
            assert "Jadwal pembayaran akan segera habis." in text
            assert f"PKH tidak memiliki siklus untuk {_month(2)}, {_month(3)}." in text
            assert f"BPNT tidak memiliki siklus untuk {_month(1)}, {_month(2)}, {_month(3)}." in text
            assert "Tambahkan siklus berikutnya" in text
            warning.screenshot(path=str(SHOTS / shot))
            assert axe_violations(page, live) == []
            assert problems == [], problems
    finally:
        ctx.config["BANSOS_PROCESS_DIR"] = before
