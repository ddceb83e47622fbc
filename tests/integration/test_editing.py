"""Editing processes: drafts checked by the engine, deploy as a new version, moving running instances."""

import re

import pytest
from sqlalchemy import select

from engine.db import db
from engine.editing import DraftStale, FileNameInvalid, current_bundle, deploy_drafts, drafts, save_draft
from engine.errors import DeployRejected
from engine.migration import MigrationRefused, dry_run, migrate
from engine.models import ProcessDraft, ProcessInstance, ProcessVersion
from tests.helpers import case, open_task, submit, work

APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}


def application_xml():
    files, _ = current_bundle(db.session)
    return files["application.bpmn"]


def renamed_review(xml):
    """The review task under a new name and priority (same id)."""
    xml = xml.replace('name="Tinjau kasus / Review case"', 'name="Tinjau ulang kasus / Re-check the case"')
    head, sep, tail = xml.partition('<bpmn:userTask id="review" ')
    tail = tail.replace('name="priority" value="50"', 'name="priority" value="65"', 1)
    return head + sep + tail


def live_version(number):
    return db.session.get(ProcessInstance, case(number).instance_id)


def deploy_edit(svc, xml, actor="admin"):
    assert save_draft(svc.engine, "application.bpmn", xml, actor) == []
    versions, created = deploy_drafts(svc.engine, actor)
    db.session.commit()
    return next(v for v in versions if v.process_id == "application")


def test_edit_deploy_dry_run_and_move_a_waiting_case(svc, personas, officers):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    old = live_version(number).version_id
    before = open_task(number, "review")
    new = deploy_edit(svc, renamed_review(application_xml()))
    assert new.id != old and new.deployed_by == "admin"
    assert drafts(db.session) == {}
    # New cases use the new version; the running one stays on its version until moved.
    assert live_version(submit(svc, personas["civil_servant"]).case_number).version_id == new.id
    assert live_version(number).version_id == old

    checks = {c.business_key: c for c in dry_run(svc.engine, old, new.id)}
    assert checks[number].can_move and "review" in checks[number].positions
    assert any(c["element"] == "review" for c in checks[number].changes)
    migrate(svc.engine, old, new.id, [checks[number].instance_id])
    db.session.commit()
    assert live_version(number).version_id == new.id
    row = open_task(number, "review")
    assert row.id == before.id and row.task_guid == before.task_guid and row.due_at == before.due_at
    assert row.name == "Tinjau ulang kasus / Re-check the case" and row.priority == 65
    app = work(svc, number, "review", officers["cw1"], APPROVE)
    assert app.status == "AWAITING_APPROVAL"
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "ENROLLED"


def test_a_case_at_a_removed_step_is_listed_with_the_reason_and_not_moved(svc, personas, monkeypatch):
    # `review` is in the application's contract (cases/contracts.py), so the editor refuses renaming it now;
    # the migration must still handle a version without it (deployed before contracts, or a contract changed).
    monkeypatch.setattr(svc.engine, "contracts", ())
    number = submit(svc, personas["not_in_dtsen"]).case_number
    rejected = submit(svc, personas["civil_servant"]).case_number  # waiting in the appeal window
    old = live_version(number).version_id
    wake_before = live_version(rejected).wake_at
    xml = re.sub(r'(?<=")review(?=")', "review_v2", application_xml())
    xml = xml.replace(">review</bpmn:flowNodeRef>", ">review_v2</bpmn:flowNodeRef>")
    new = deploy_edit(svc, xml)
    checks = {c.business_key: c for c in dry_run(svc.engine, old, new.id)}
    assert not checks[number].can_move
    assert checks[number].reasons[0]["code"] == "POSITION_REMOVED" and checks[number].reasons[0]["element"] == "review"
    assert checks[rejected].can_move
    results = migrate(svc.engine, old, new.id, [checks[number].instance_id, checks[rejected].instance_id])
    db.session.commit()
    assert [r.can_move for r in results] == [False, True]
    assert live_version(number).version_id == old and open_task(number, "review") is not None
    moved = live_version(rejected)
    assert moved.version_id == new.id
    # The appeal window's timer keeps its due time: moving must not restart a deadline.
    assert moved.wake_at == wake_before


def test_migration_between_unrelated_or_equal_versions_is_refused(svc):
    versions = db.session.scalars(select(ProcessVersion)).all()
    app_version = next(v for v in versions if v.process_id == "application")
    other = next(v for v in versions if v.process_id != "application")
    with pytest.raises(MigrationRefused):
        dry_run(svc.engine, app_version.id, other.id)
    with pytest.raises(MigrationRefused):
        dry_run(svc.engine, app_version.id, app_version.id)


XXE = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>"""


@pytest.mark.parametrize(
    "name, xml, code",
    [
        ("application.bpmn", XXE, "DEPLOY_REJECTED"),
        ("application.bpmn", "<bpmn:definitions", "DEPLOY_REJECTED"),
        ("application.bpmn", "<x>" + "a" * (3 * 1024 * 1024) + "</x>", "DEPLOY_REJECTED"),
        ("application.bpmn", b"\xff\xfe<x/>", "DEPLOY_REJECTED"),
        ("../escape.bpmn", "<x/>", "FILE_NAME_INVALID"),
        ("evil.py", "<x/>", "FILE_NAME_INVALID"),
    ],
)
def test_dangerous_or_broken_files_are_refused_and_nothing_is_kept(svc, name, xml, code):
    with pytest.raises((DeployRejected, FileNameInvalid)) as refused:
        save_draft(svc.engine, name, xml, "admin")
    assert refused.value.code == code
    assert db.session.scalars(select(ProcessDraft)).all() == []


def test_a_script_escaping_the_sandbox_is_kept_as_a_draft_marked_on_its_element_and_not_deployed(svc):
    xml = application_xml()
    xml = xml.replace("decided_by = 'officer'", "decided_by = __import__('os').system('id')", 1)
    problems = save_draft(svc.engine, "application.bpmn", xml, "admin")
    assert problems and {p["element_id"] for p in problems} == {"review_rejected"}
    db.session.commit()
    count = db.session.query(ProcessVersion).count()
    with pytest.raises(DeployRejected):
        deploy_drafts(svc.engine, "admin")
    db.session.rollback()
    assert db.session.query(ProcessVersion).count() == count
    assert "application.bpmn" in drafts(db.session)  # the work is not lost


def test_a_draft_older_than_the_deployed_bundle_is_stale(svc):
    save_draft(svc.engine, "application.bpmn", renamed_review(application_xml()), "admin1")
    db.session.commit()
    files, _ = current_bundle(db.session)
    files["application.bpmn"] = files["application.bpmn"].replace("Review case", "Review a case")
    svc.engine.deploy_files(files, deployed_by="admin2")
    db.session.commit()
    with pytest.raises(DraftStale):
        deploy_drafts(svc.engine, "admin1")
    versions, created = deploy_drafts(svc.engine, "admin1", allow_stale=True)
    assert created


def test_command_line_dry_run_then_apply_in_batches(svc, personas):
    from flask import current_app

    numbers = [submit(svc, personas["not_in_dtsen"]).case_number]
    numbers.append(submit(svc, personas["civil_servant"]).case_number)
    old = live_version(numbers[0]).version_id
    new = deploy_edit(svc, renamed_review(application_xml())).id
    old_number, new_number = (db.session.get(ProcessVersion, v).number for v in (old, new))
    assert (old_number, new_number) == (1, 2)  # numbers count per process, whatever the row ids are
    runner = current_app.test_cli_runner()
    out = runner.invoke(args=["processes", "migrate", "application", "--from", "1", "--to", "2"]).output
    assert "2 of 2 running instances can move" in out
    assert live_version(numbers[0]).version_id == old  # a dry run moves nothing
    result = runner.invoke(
        args=["processes", "migrate", "application", "--from", "1", "--to", "2", "--apply", "--batch", "1"]
    )
    assert result.exit_code == 0 and "moved 2 instances" in result.output
    db.session.expire_all()
    assert {live_version(n).version_id for n in numbers} == {new}
    listing = runner.invoke(args=["processes", "versions", "application"]).output
    assert listing.startswith("2\teditor\t") and "running 2" in listing
