"""The command line alone walks a case through rejection, appeal, overturn and enrolment."""

import re

import pytest
from flask import current_app
from sqlalchemy import select

from cases.models import Application
from engine.db import db
from tests.helpers import civil_servant_in_poor_family


def run(runner, *args, code=0):
    result = runner.invoke(args=list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def _task_id(output, case_number):
    match = re.search(rf"#(\d+)\s+\w+\s+{case_number}", output)
    assert match, output
    return match.group(1)


@pytest.fixture
def poor_civil_servant(svc, personas):
    """A family rejected on the civil-service ground alone (see tests/helpers.py)."""
    with civil_servant_in_poor_family(personas["eligible_head_without_photo"]) as nik:
        yield nik


def test_walk_rejection_appeal_overturn_enrolment(svc, personas, poor_civil_servant):
    runner = current_app.test_cli_runner()
    for user, role in (("appeals1", "appeals_officer"), ("supervisor1", "supervisor")):
        run(runner, "officer", "add", user, "--name", user, "--role", role, "--password", "a-long-password")
    out = run(runner, "submit", "--nik", poor_civil_servant, "--account", "1234567890")
    number = re.search(r"case (TPT-\d{4}-\d{7}): REJECTED", out).group(1)
    assert "CIVIL_SERVANT_HOUSEHOLD" in out

    out = run(runner, "submit", "--nik", poor_civil_servant, "--account", "1234567890", code=2)
    assert "DUPLICATE_APPLICATION" in out
    out = run(runner, "submit", "--nik", "3510011399900001", "--account", "1234567890", code=2)
    assert "NIK_INVALID" in out
    out = run(
        runner, "submit", "--nik", personas["not_in_dtsen"], "--payment-channel", "BRI", code=2
    )  # a bank needs an account
    assert "FORM_INVALID" in out and "bank_account" in out

    run(runner, "appeal", number, "--reason", "My husband retired long ago; no pension.")
    task = _task_id(run(runner, "tasks", "list", "--as", "appeals1"), number)
    run(runner, "tasks", "claim", task, "--as", "appeals1")
    out = run(runner, "tasks", "complete", task, "--as", "appeals1", "-f", "appeal_outcome=maybe", code=2)
    assert "FORM_INVALID" in out and "appeal_outcome" in out
    out = run(
        runner,
        "tasks",
        "complete",
        task,
        "--as",
        "appeals1",
        "-f",
        "appeal_outcome=overturn",
        "-f",
        "appeal_notes=pension ended in 2019",
    )
    assert "AWAITING_APPROVAL" in out
    task = _task_id(run(runner, "tasks", "list", "--as", "supervisor1"), number)
    run(runner, "tasks", "claim", task, "--as", "supervisor1")
    out = run(runner, "tasks", "complete", task, "--as", "supervisor1", "-f", "approval_decision=approve")
    assert "ENROLLED" in out
    out = run(runner, "case", "show", number, "--evidence")
    assert "status: ENROLLED" in out and "Appeal filed" in out and "civil_registry" in out
    assert poor_civil_servant not in out  # the NIK is masked on screen
    from cases.audit import AuditEntry

    views = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "case.view")).all()
    assert [(v.actor, v.target_id) for v in views] == [("cli", number)]
    db.session.expire_all()
    assert db.session.scalars(select(Application.status)).one() == "ENROLLED"


def test_timers_fire_command_runs_the_scheduler_job(svc):
    runner = current_app.test_cli_runner()
    assert "0 instance(s) woken" in run(runner, "timers", "fire")
