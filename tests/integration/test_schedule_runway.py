"""The payment schedule must not run out: administrators and finance officers are warned ahead of it.

A schedule whose cycles stop next month (written relative to today) is put in place of the shipped one:
the /cycles page and the desk warn administrators and finance officers (in Indonesian first), not the other
readers; /readyz names the programmes in its details and stays ready; `tepat cycle check` prints a line.
"""

import shutil
from datetime import datetime
from pathlib import Path

import pytest
from flask import current_app

from cases.operations import create_officer
from engine.db import db
from payments.cycles import JAKARTA
from payments.schedule import FILE_NAME
from tests.integration.portal_helpers import PASSWORD, fresh_client, officer_login

ROOT = Path(__file__).resolve().parents[2]


def _month(step):
    today = datetime.now(JAKARTA).date()
    index = today.year * 12 + today.month - 1 + step
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


RUNS_OUT = """
[programmes.PKH]
kind = "annual"
[programmes.PKH.components]
SD = 900000
[programmes.BPNT]
kind = "monthly"
[programmes.BPNT.components]
food = 200000
[[cycles]]
code = "PKH-RUNWAY"
programme = "PKH"
months = [{pkh}]
cut_off = "2020-01-10"
[[cycles]]
code = "BPNT-RUNWAY"
programme = "BPNT"
months = [{bpnt}]
cut_off = "2020-01-10"
"""


@pytest.fixture
def running_out(ctx, tmp_path):
    """The process folder with a schedule paying PKH up to next month and BPNT for the next four months."""
    folder = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", folder)
    pkh = ", ".join(f'"{_month(n)}"' for n in range(0, 2))
    bpnt = ", ".join(f'"{_month(n)}"' for n in range(0, 4))
    (folder / FILE_NAME).write_text(RUNS_OUT.format(pkh=pkh, bpnt=bpnt), encoding="utf-8")
    before = ctx.config["BANSOS_PROCESS_DIR"]
    ctx.config["BANSOS_PROCESS_DIR"] = str(folder)
    for username, roles in (("adm", ["administrator"]), ("fin", ["finance_officer"]), ("aud", ["auditor"])):
        create_officer(db.session, username, username.upper(), roles, None, password=PASSWORD)
    db.session.commit()
    yield folder
    ctx.config["BANSOS_PROCESS_DIR"] = before


def page(username, path):
    with fresh_client() as client:
        assert officer_login(client, username).status_code == 302
        response = client.get(path)
        assert response.status_code == 200
        return response.get_data(as_text=True)


def test_administrators_and_finance_officers_are_warned_before_the_schedule_runs_out(running_out):
    missing = ", ".join(_month(n) for n in (2, 3))
    for username, path in (("fin", "/cycles"), ("adm", "/cycles"), ("adm", "/desk")):
        html = page(username, path)
        assert 'id="schedule-runway"' in html, (username, path)
        assert "Jadwal pembayaran akan segera habis" in html  # Indonesian first
        assert f"PKH tidak memiliki siklus untuk {missing}." in html
        assert "BPNT" not in html.split('id="schedule-runway"')[1].split("</div>")[0]  # BPNT is paid 3 months ahead
    assert 'id="schedule-runway"' not in page("aud", "/cycles")  # auditors read cycles; the schedule is not theirs


def test_no_warning_while_the_schedule_reaches_far_enough(running_out):
    text = (running_out / FILE_NAME).read_text(encoding="utf-8")
    (running_out / FILE_NAME).write_text("warn_months_ahead = 1\n" + text, encoding="utf-8")
    assert 'id="schedule-runway"' not in page("fin", "/cycles")


def test_readiness_names_the_programmes_but_stays_ready(running_out):
    ready = current_app.test_client().get("/readyz")
    assert ready.status_code == 200
    body = ready.get_json()
    assert body["status"] == "ok" and body["checks"] == {"database": "ok"}
    assert body["details"] == {"payment_schedule": "runs out soon: PKH"}


def test_the_cycle_check_command_prints_the_warning(running_out):
    result = current_app.test_cli_runner().invoke(args=["cycle", "check"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    missing = ", ".join(_month(n) for n in (2, 3))
    assert f"PKH has no cycle for {missing}" in result.output and "BPNT has no cycle" not in result.output
