"""Deploying the process folder (`tepat setup`, `make run`, `tepat deploy`): per-process versions numbered 1, 2, 3,
and never a silent revert of a version an administrator deployed in the browser."""

import shutil

from flask import current_app
from sqlalchemy import select

from cases.audit import AuditEntry
from engine.db import db
from engine.deploy import latest_version
from engine.editing import deploy_drafts, save_draft
from engine.models import ProcessVersion
from tests.conftest import ROOT
from tests.integration.test_editing import application_xml, renamed_review


def numbers():
    rows = db.session.execute(
        select(ProcessVersion.process_id, ProcessVersion.number, ProcessVersion.origin).order_by(ProcessVersion.id)
    ).all()
    return [tuple(r) for r in rows]


def cli(*args):
    return current_app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def edit_in_browser(svc):
    assert save_draft(svc.engine, "application.bpmn", renamed_review(application_xml()), "admin") == []
    deploy_drafts(svc.engine, "admin")
    db.session.commit()


def test_deploying_the_folder_again_keeps_what_an_administrator_deployed_in_the_browser(svc, tmp_path):
    edit_in_browser(svc)
    before = numbers()
    assert ("application", 2, "editor") in before
    result = cli("deploy")  # what `tepat setup` / `make run` do with the process folder
    assert result.exit_code == 0, result.output
    assert numbers() == before  # the folder did not change since it was deployed: nothing happens
    assert latest_version(db.session, "application").origin == "editor"

    # The folder's file changes too (a developer edits it): reported, the administrator's version stays.
    folder = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", folder)
    path = folder / "application.bpmn"
    path.write_text(path.read_text().replace("Tinjau kasus / Review case", "Tinjau berkas / Review file"))
    result = cli("deploy", "--folder", str(folder))
    assert result.exit_code == 0, result.output
    assert "stays current" in result.output and "--force" in result.output
    assert numbers() == before
    result = cli("deploy", "--folder", str(folder), "--force", "--as", "admin")
    assert result.exit_code == 0, result.output
    current = latest_version(db.session, "application")
    assert (current.number, current.origin) == (3, "folder") and "Review file" in current.files["application.bpmn"]
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "deploy").order_by(AuditEntry.id.desc())
    ).first()
    assert entry.actor == "admin" and entry.detail["forced"] and entry.detail["created"] == [current.id]


def test_one_changed_file_makes_a_new_version_of_that_process_only_numbered_per_process(svc, tmp_path):
    folder = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", folder)
    assert sorted(numbers()) == [
        ("application", 1, "folder"),
        ("graduation", 1, "folder"),
        ("objection", 1, "folder"),
        ("payment_cycle", 1, "folder"),
        ("payment_review", 1, "folder"),
        ("recheck", 1, "folder"),
    ]
    path = folder / "objection.bpmn"
    path.write_text(path.read_text().replace('name="', 'name="~', 1))
    report = svc.engine.deploy_folder(folder, deployed_by="tests")
    db.session.commit()
    assert [(v.process_id, v.number) for v in report.versions if v.id in report.created] == [("objection", 2)]
    path = folder / "application.bpmn"
    path.write_text(path.read_text().replace("Tinjau kasus / Review case", "Tinjau berkas / Review file"))
    svc.engine.deploy_folder(folder, deployed_by="tests")
    path.write_text(path.read_text().replace("Tinjau berkas / Review file", "Tinjau lagi / Review again"))
    svc.engine.deploy_folder(folder, deployed_by="tests")
    db.session.commit()
    assert [n for p, n, _o in numbers() if p == "application"] == [1, 2, 3]
    assert [n for p, n, _o in numbers() if p == "recheck"] == [1]
    # The bundle the editor opens holds every process's current files.
    current = latest_version(db.session, "application")
    assert "Review again" in current.files["application.bpmn"] and "~" in current.files["objection.bpmn"]
    listing = cli("processes", "versions", "application").output
    assert listing.splitlines()[0].startswith("3\tfolder\t")


def test_two_deploys_at_the_same_moment_get_the_next_numbers_one_after_the_other(svc):
    """Per-process numbers are taken under a deploy lock: a second deploy waits for the first to commit,
    then numbers after it (without the lock both would take number 2 and one would fail)."""
    import threading

    import pytest
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from engine.deploy import deploy_bundle, read_folder

    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: it tells a waiting lock apart (pg_locks); SQLite's write lock serialises anyway")
    engine = svc.engine
    base = read_folder(current_app.config["BANSOS_PROCESS_DIR"])

    def bundle(label):
        xml = renamed_review(application_xml()).replace("Re-check the case", f"Re-check the case ({label})")
        return {**base, "application.bpmn": xml}

    def deploy(session, label):
        return deploy_bundle(session, bundle(label), engine.handlers, engine.forms, engine.lane_roles, label)

    bind, second_bundle = db.engine, bundle("second")
    first = Session(bind)
    deploy(first, "first")  # holds the deploy lock until it commits
    outcome = {}

    def second():
        with Session(bind) as session:
            try:
                deploy_bundle(session, second_bundle, engine.handlers, engine.forms, engine.lane_roles, "second")
                session.commit()
                outcome["ok"] = True
            except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
                outcome["error"] = repr(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with bind.connect() as watcher:
        for _ in range(500):  # bounded: until the second deploy waits on the lock (or has finished)
            waiting = watcher.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))
            if waiting.scalar() or not thread.is_alive():
                break
            threading.Event().wait(0.01)
    first.commit()
    first.close()
    thread.join(timeout=60)
    assert outcome == {"ok": True}
    rows = db.session.execute(
        select(ProcessVersion.number, ProcessVersion.deployed_by)
        .where(ProcessVersion.process_id == "application")
        .order_by(ProcessVersion.id)
    ).all()
    assert [tuple(r) for r in rows][-2:] == [(2, "first"), (3, "second")]
