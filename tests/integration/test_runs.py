"""Tracked runs (engine/runs.py): re-checks and imports as runs of chunks, inline and on workers.

Inline the command or the scheduler job runs the chunks in process; with workers (the
`workers_mode` fixture: steps deferred, hints recorded) a worker's `execute_chunk` runs them. A chunk
run again does nothing twice; a failing item is tried again with backoff and then reported.
"""

import pytest
from sqlalchemy import func, select

from cases.audit import AuditEntry
from cases.runkinds import start_import_run, start_recheck_run
from engine.core import Actor
from engine.db import db
from engine.errors import NotAllowed
from engine.runs import Run, RunChunk, RunItem, create_run, register_kind
from tests.helpers import case, submit, work
from tests.integration.test_execution_modes import _worker, workers_mode  # noqa: F401  (fixture)
from tests.integration.test_web import web  # noqa: F401  (fixture)
from tests.integration.test_workers import cluster  # noqa: F401  (fixture)
from web.runs_exec import execute_chunk, run_in_process

ADMIN = Actor(id="admin", roles=frozenset({"administrator", "supervisor"}))
APPROVE = {"review_decision": "approve", "review_notes": "checked at the village office"}


def _enrolled(svc, officers, nik):
    number = submit(svc, nik).case_number
    work(svc, number, "review", officers["cw1"], APPROVE)
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert app.status == "ENROLLED"
    return app


@pytest.fixture
def enrolled(svc, personas, officers):
    return [_enrolled(svc, officers, personas[k]) for k in ("eligible_head_without_photo", "eligible_head_with_photo")]


def test_a_recheck_run_inline_runs_every_enrolled_case_once(svc, enrolled, ctx):
    svc.engine.settings["BANSOS_RUN_CHUNK_SIZE"], size = 1, svc.engine.settings.get("BANSOS_RUN_CHUNK_SIZE")
    try:
        run = start_recheck_run(svc.engine, ADMIN)
        db.session.commit()
    finally:
        svc.engine.settings["BANSOS_RUN_CHUNK_SIZE"] = size
    assert (run.total, run.status) == (2, "queued")
    assert run_in_process(svc.engine, run.id, wait=True) == 2  # two chunks of one
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert (run.status, run.done, run.failed) == ("done", 2, 0)
    assert sum(run.outcomes.values()) == 2 and run.started_at and run.finished_at
    for app in enrolled:
        assert case(app.case_number).status in run.outcomes
    started = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "run.start"))
    assert started.actor == "admin" and started.target_id == str(run.id)
    assert run_in_process(svc.engine, run.id) == 0  # nothing left to do


def test_a_recheck_run_on_workers_and_a_redelivered_chunk_does_nothing_twice(svc, enrolled, workers_mode, ctx):
    from cases.models import CaseEvent

    hinted = []
    svc.engine.chunk_hint_sender = hinted.extend
    try:
        run = start_recheck_run(svc.engine, ADMIN)
        db.session.commit()
    finally:
        svc.engine.chunk_hint_sender = None
    assert hinted == [(run.id, 1)]  # one chunk, hinted after the commit
    assert all(case(a.case_number).status == "ENROLLED" for a in enrolled)  # the command did not run them
    worker = _worker(svc)
    assert execute_chunk(worker, run.id, 1) == "done"
    run = db.session.get(Run, run.id)
    db.session.refresh(run)
    assert (run.status, run.done) == ("done", 2)
    events = db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "recheck_started"))
    # The message again (redelivered after a crash, or the dispatcher's re-sent hint): nothing twice.
    assert execute_chunk(worker, run.id, 1) == "stopped"
    db.session.expire_all()
    assert (
        db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "recheck_started"))
        == events
        == 2
    )
    assert db.session.get(Run, run.id).done == 2


def test_a_chunk_cut_short_by_a_crash_is_finished_without_redoing_its_done_items(svc, enrolled, workers_mode, ctx):
    run = start_recheck_run(svc.engine, ADMIN)
    db.session.commit()
    worker = _worker(svc)
    first = db.session.scalar(select(RunItem).where(RunItem.run_id == run.id, RunItem.seq == 1))
    # A worker did item 1 and died before the chunk's end: item 1 is done, the chunk is not.
    from engine.runs import KINDS, claim_item, mark_item_done

    item = claim_item(db.session, run.id, 1)
    mark_item_done(item, KINDS["recheck"].handle(worker, db.session.get(Run, run.id), first.key))
    db.session.commit()
    assert execute_chunk(worker, run.id, 1) == "done"  # the redelivered message
    db.session.expire_all()
    items = db.session.scalars(select(RunItem).where(RunItem.run_id == run.id).order_by(RunItem.seq)).all()
    assert [i.attempts for i in items] == [1, 1] and db.session.get(Run, run.id).done == 2


def test_a_failing_item_is_tried_again_with_backoff_then_reported(svc, ctx):
    calls = []

    def flaky(engine, run, key):
        calls.append(key)
        if key == "bad":
            raise RuntimeError(f"registry timeout on {key}")
        return "ok"

    register_kind("test.flaky", flaky)
    settings = svc.engine.settings
    saved = settings.get("BANSOS_RUN_ITEM_BACKOFF_SECONDS"), settings.get("BANSOS_RUN_ITEM_MAX_ATTEMPTS")
    settings["BANSOS_RUN_ITEM_BACKOFF_SECONDS"], settings["BANSOS_RUN_ITEM_MAX_ATTEMPTS"] = 30, 2
    try:
        run = create_run(db.session, "test.flaky", {}, "admin", ["a", "bad", "c"], 10)
        db.session.commit()
        assert execute_chunk(svc.engine, run.id, 1) == "later"  # "bad" backs off; the others are done
        bad = db.session.scalar(select(RunItem).where(RunItem.run_id == run.id, RunItem.key == "bad"))
        assert (bad.status, bad.attempts) == ("pending", 1) and "registry timeout" in bad.error
        assert bad.next_try_at is not None
        assert execute_chunk(svc.engine, run.id, 1) == "later" and calls.count("bad") == 1  # still backing off
        settings["BANSOS_RUN_ITEM_BACKOFF_SECONDS"] = 0
        bad.next_try_at = None
        db.session.commit()
        assert execute_chunk(svc.engine, run.id, 1) == "done"
        db.session.expire_all()
        run = db.session.get(Run, run.id)
        assert (run.status, run.done, run.failed, run.outcomes) == ("done", 2, 1, {"ok": 2, "error": 1})
        assert calls.count("a") == 1 and calls.count("bad") == 2
    finally:
        settings["BANSOS_RUN_ITEM_BACKOFF_SECONDS"], settings["BANSOS_RUN_ITEM_MAX_ATTEMPTS"] = saved


def test_an_import_run_records_its_tables_and_a_bad_folder_fails_at_once(svc, population, tmp_path, ctx):
    run = start_import_run(
        svc.engine, ADMIN, str(population["dir"]), errors_path=str(tmp_path / "errors.xlsx"), max_delete_share=0.1
    )
    db.session.commit()
    run_in_process(svc.engine, run.id, wait=True)
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert (run.status, run.done, run.total) == ("done", 1, 1) and run.result["tables"]
    assert run.result["rows_read"] > 1000
    bad = start_import_run(svc.engine, ADMIN, str(tmp_path / "empty"))
    db.session.commit()
    run_in_process(svc.engine, bad.id, wait=True)
    db.session.expire_all()
    bad = db.session.get(Run, bad.id)
    item = db.session.scalar(select(RunItem).where(RunItem.run_id == bad.id))
    assert (bad.status, bad.failed, item.attempts, item.outcome) == ("failed", 1, 1, "refused")
    assert "missing" in item.error


def test_who_may_start_runs(svc, ctx):
    caseworker = Actor(id="cw", roles=frozenset({"caseworker"}))
    supervisor = Actor(id="sup", roles=frozenset({"supervisor"}), regions=frozenset({"25"}))
    with pytest.raises(NotAllowed):
        start_recheck_run(svc.engine, caseworker)
    with pytest.raises(NotAllowed):
        start_import_run(svc.engine, supervisor, "/tmp")
    run = start_recheck_run(svc.engine, supervisor)  # their district's enrolled cases only
    assert run.regions == ["25"] and run.total == 0 and run.status == "done"
    db.session.rollback()


def _cli(*args, code=0):
    from flask import current_app

    result = current_app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_the_command_line_runs_a_recheck_and_shows_it(svc, enrolled, ctx):
    assert "Belum ada proses massal. / No runs yet." in _cli("runs", "list")
    out = _cli("recheck", "--all-enrolled", "--wait")
    run_id = int(out.split()[1].rstrip(":"))
    assert f"run {run_id} recheck done: 2/2 (100%) done 2 failed 0" in out
    listed = _cli("runs", "list")
    assert f"#{run_id}" in listed and "done" in listed and "WIB" in listed
    shown = _cli("runs", "show", str(run_id))
    assert "2/2 (100%)" in shown and "started by cli" in shown and "WIB" in shown
    out = _cli("runs", "cancel", str(run_id), code=2)
    assert "RUN_FINISHED" in out
    assert "RUN_NOT_FOUND" in _cli("runs", "show", "99999", code=2)


def test_the_command_line_leaves_a_run_to_the_workers_and_prints_its_id(svc, population, workers_mode, ctx):
    out = _cli("sandbox", "import", str(population["dir"]), "--on-workers")
    run_id = int(out.split()[1].rstrip(":"))
    assert f"tepat runs show {run_id}" in out
    assert db.session.get(Run, run_id).status == "queued"
    out = _cli("runs", "cancel", str(run_id), "--as", "nobody", code=2)
    _cli("runs", "cancel", str(run_id))
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "run.cancel")) == "run.cancel"
    db.session.expire_all()
    assert execute_chunk(_worker(svc), run_id, 1) == "stopped"


COVERED_ENDPOINTS = {
    "admin.runs",
    "admin.run",
    "admin.run_progress",
    "admin.start_recheck",
    "admin.cancel_run",
    "admin.run_errors",
}


@pytest.mark.parametrize(
    "role", [None, "caseworker", "appeals_officer", "facilitator", "auditor", "supervisor", "administrator"]
)
def test_the_runs_pages_by_role(web, svc, role, population, tmp_path):
    from tests.integration.test_web import login, post

    imported = start_import_run(svc.engine, ADMIN, str(population["dir"]))
    rechecking = create_run(db.session, "recheck", {}, "admin", ["TPT-2026-0000001"], 50)
    (tmp_path / "e.xlsx").write_bytes(b"PK\x03\x04 refused rows")
    imported.error_file = str(tmp_path / "e.xlsx")
    db.session.commit()
    if role is not None:
        assert login(web, f"w_{role}").status_code == 302

    def status(path):
        response = web.get(path)
        response.close()  # the workbook is streamed from its file
        return response.status_code

    get = {
        path: status(path)
        for path in (
            "/admin/runs",
            f"/admin/runs/{rechecking.id}",
            f"/admin/runs/{rechecking.id}/progress",
            f"/admin/runs/{imported.id}",
            f"/admin/runs/{imported.id}/errors.xlsx",
        )
    }
    if role is None:
        assert set(get.values()) == {302}
        assert web.post("/admin/runs/recheck").status_code in (302, 400)
        return
    readers = {"auditor": 200, "supervisor": 200, "administrator": 200}
    expected = readers.get(role, 403)
    assert (
        get["/admin/runs"]
        == get[f"/admin/runs/{rechecking.id}"]
        == get[f"/admin/runs/{rechecking.id}/progress"]
        == expected
    )
    assert get[f"/admin/runs/{imported.id}"] == {"supervisor": 404}.get(role, expected)  # imports: not theirs
    assert get[f"/admin/runs/{imported.id}/errors.xlsx"] == {"administrator": 200}.get(role, 403)
    started = post(web, "/admin/runs/recheck")
    assert started.status_code == (302 if role in ("supervisor", "administrator") else 403)
    cancelled = post(web, f"/admin/runs/{rechecking.id}/cancel")
    assert cancelled.status_code == {"supervisor": 302, "administrator": 302, "auditor": 403}.get(role, 403)
    db.session.expire_all()
    assert (db.session.get(Run, rechecking.id).status == "cancelled") == (role in ("supervisor", "administrator"))
    if role in ("supervisor", "administrator"):
        actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "run")))
        assert {"run.start", "run.cancel"} <= actions


def test_the_run_page_follows_progress_until_the_run_is_done(web, svc, enrolled):
    from tests.integration.test_web import login

    run = start_recheck_run(svc.engine, ADMIN)
    db.session.commit()
    assert login(web, "w_administrator").status_code == 302
    html = web.get(f"/admin/runs/{run.id}").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in html and "0 dari 2 ditangani" in html
    run_in_process(svc.engine, run.id, wait=True)
    html = web.get(f"/admin/runs/{run.id}/progress").get_data(as_text=True)
    assert "hx-trigger" not in html and "2 dari 2 ditangani" in html and "100%" in html
    assert "ENROLLED" in html or "REMOVAL_REVIEW" in html or "UNDER_REVIEW" in html


def test_a_recheck_run_on_real_workers_with_its_hints_lost(svc, enrolled, cluster):  # noqa: F811
    """PostgreSQL + RabbitMQ: the start's hints are lost; the scheduler re-sends them, a worker runs the chunks."""
    import time

    from cases.models import CaseEvent

    cluster.start("worker", "worker", "--pool", "solo", "--hostname", "runs@test")
    cluster.start("scheduler", "scheduler")
    settings = svc.engine.settings
    settings["BANSOS_RUN_CHUNK_SIZE"], size = 1, settings["BANSOS_RUN_CHUNK_SIZE"]
    try:
        run = start_recheck_run(svc.engine, ADMIN)  # no chunk hint sender: the hints are lost
        db.session.commit()
    finally:
        settings["BANSOS_RUN_CHUNK_SIZE"] = size
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        db.session.rollback()
        if db.session.get(Run, run.id).status not in ("queued", "running"):
            break
        time.sleep(0.25)
    run = db.session.get(Run, run.id)
    assert (run.status, run.done, run.failed) == ("done", 2, 0), cluster.logs()
    for app in enrolled:
        events = db.session.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.application_id == app.id, CaseEvent.kind == "recheck_started")
        )
        assert events == 1


def test_an_import_under_way_reports_its_rows_read_beside_its_transaction(svc, ctx):
    from cases.runkinds import _rows_read_reporter
    from web.commands_runs import progress_line

    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("the import holds SQLite's one write lock until it commits: no progress beside it")
    run = create_run(db.session, "import", {}, "admin", ["/extracts"], 1)
    db.session.commit()
    db.session.execute(select(RunItem).where(RunItem.run_id == run.id).with_for_update())  # the item's transaction
    _rows_read_reporter(db.session, run.id)("civil_registry", 5000)  # written and committed on its own
    db.session.rollback()
    run = db.session.get(Run, run.id)
    db.session.refresh(run)
    assert run.result == {"reading": "civil_registry", "rows_read": 5000}
    assert "civil_registry: 5000 rows read" in progress_line(run)


def _items(run):
    db.session.expire_all()
    return db.session.scalars(select(RunItem).where(RunItem.run_id == run.id).order_by(RunItem.seq)).all()


def test_a_chunk_whose_worker_died_in_an_item_charges_that_item_and_only_after_the_death(svc, ctx, tmp_path):
    """A real process holds the chunk and begins item "x" (as a worker does), then is killed with SIGKILL.

    While it lives, the chunk's message given again (a lost broker connection) finds it held: "busy", nothing
    run, nothing charged. Once it is dead, the next taker charges "x" one try (it backs off instead of killing
    the next worker at once) and runs the rest.
    """
    import os
    import signal
    import subprocess
    import sys
    import time

    from flask import current_app

    from tests.conftest import ROOT

    calls = []
    register_kind("test.deadly", lambda engine, run, key: calls.append(key) or "ok")
    run = create_run(db.session, "test.deadly", {}, "admin", ["x", "y"], 10)
    db.session.commit()
    marker = tmp_path / "holding"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.chunk_holder",
            current_app.config["BANSOS_DATABASE_URL"],
            str(run.id),
            "1",
            "1",
            str(marker),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the holder did not take the chunk"
            time.sleep(0.05)
        assert execute_chunk(svc.engine, run.id, 1, redelivered=True) == "busy"  # its worker is alive
        assert calls == [] and [(i.status, i.attempts, i.error) for i in _items(run)] == [("pending", 0, None)] * 2
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        outcome = execute_chunk(svc.engine, run.id, 1, redelivered=True)
        while outcome == "busy" and time.monotonic() < deadline:  # the server notices the dead connection
            time.sleep(0.1)
            outcome = execute_chunk(svc.engine, run.id, 1, redelivered=True)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
    assert outcome == "later"
    assert calls == ["y"]  # "x" backs off instead of killing the next worker at once
    x, y = _items(run)
    assert (x.status, x.attempts) == ("pending", 1) and "worker" in x.error and f":{holder.pid}" in x.error
    assert x.next_try_at is not None and (y.status, y.attempts, y.error) == ("done", 1, None)
    chunk = db.session.get(RunChunk, (run.id, 1))
    assert (chunk.taken_item, chunk.taken_by) == (None, None)


def test_a_chunk_redelivered_after_a_lost_connection_charges_nothing(svc, ctx):
    """The broker gives the message again (its `redelivered` flag set) but no worker died in it: the first
    delivery never began (a reserved message, its connection lost) or finished cleanly before its ack was
    lost. The database shows no work under way: every item runs once, no try is charged."""
    calls = []
    register_kind("test.lost", lambda engine, run, key: calls.append(key) or "ok")
    run = create_run(db.session, "test.lost", {}, "admin", ["x", "y"], 10)
    db.session.commit()
    assert execute_chunk(svc.engine, run.id, 1, redelivered=True) == "done"
    assert calls == ["x", "y"]
    assert [(i.status, i.attempts, i.error) for i in _items(run)] == [("done", 1, None)] * 2
    # And again, the first delivery's work being committed: nothing run, nothing charged.
    assert execute_chunk(svc.engine, run.id, 1, redelivered=True) == "stopped"
    assert calls == ["x", "y"] and [i.attempts for i in _items(run)] == [1, 1]


def test_a_message_redelivered_while_its_worker_is_at_work_is_busy_and_charges_nothing(svc, ctx):
    """Another thread of the same process is given the chunk while this one runs it: busy."""
    import threading

    from flask import current_app

    seen, app = [], current_app._get_current_object()

    def redelivered(engine, run_id):
        with app.app_context():  # a session of its own, as a second worker thread has
            try:
                seen.append(execute_chunk(engine, run_id, 1, redelivered=True))
            finally:
                db.session.remove()

    def handle(engine, run, key):
        if key == "x":
            thread = threading.Thread(target=redelivered, args=(engine, run.id))
            thread.start()
            thread.join(30)
        return "ok"

    register_kind("test.busy", handle)
    run = create_run(db.session, "test.busy", {}, "admin", ["x", "y"], 10)
    db.session.commit()
    assert execute_chunk(svc.engine, run.id, 1) == "done" and seen == ["busy"]
    assert [(i.status, i.attempts, i.error) for i in _items(run)] == [("done", 1, None)] * 2


def test_the_chunk_names_the_item_under_way_and_clears_it_when_the_work_ends(svc, ctx):
    """What a worker's death would leave, read from another connection while each item runs: on SQLite (one
    transaction per item) the item under way; on PostgreSQL (the chunk's one transaction) its first item.
    Nothing once the chunk's work is committed."""
    marks = []

    def handle(engine, run, key):
        with db.engine.connect() as other:
            marks.append(
                other.execute(select(RunChunk.taken_item).where(RunChunk.run_id == run.id, RunChunk.seq == 1)).scalar()
            )
        return "ok"

    register_kind("test.marks", handle)
    run = create_run(db.session, "test.marks", {}, "admin", ["a", "b", "c"], 10)
    db.session.commit()
    assert execute_chunk(svc.engine, run.id, 1) == "done"
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    assert marks == ([1, 2, 3] if sqlite else [1, 1, 1])
    chunk = db.session.get(RunChunk, (run.id, 1))
    db.session.refresh(chunk)
    assert (chunk.taken_item, chunk.taken_by, chunk.taken_at) == (None, None, None)


def test_the_dispatcher_resends_hints_for_chunks_still_due_and_only_then(svc, ctx):
    from web.runs_exec import dispatch_chunks

    run = create_run(db.session, "recheck", {}, "admin", ["A", "B", "C"], 2)
    db.session.commit()
    sent = []
    assert dispatch_chunks(ctx, sent.extend) == 2 and sent == [(run.id, 1), (run.id, 2)]
    assert dispatch_chunks(ctx, sent.extend) == 0  # hinted within the resend interval
    resend = ctx.config["BANSOS_DISPATCH_RESEND_SECONDS"]
    ctx.config["BANSOS_DISPATCH_RESEND_SECONDS"] = 0
    try:
        assert dispatch_chunks(ctx, sent.extend) == 2  # still not done: hinted again (a lost message)
        from cases.runkinds import cancel

        cancel(svc.engine, ADMIN, run.id)
        db.session.commit()
        assert dispatch_chunks(ctx, sent.extend) == 0  # a cancelled run's chunks are not hinted
    finally:
        ctx.config["BANSOS_DISPATCH_RESEND_SECONDS"] = resend


def test_a_runs_backlog_waiting_in_the_queue_is_not_hinted_again(svc, ctx):
    from web.runs_exec import dispatch_chunks

    run = create_run(db.session, "recheck", {}, "admin", [f"K{i}" for i in range(10)], 2)  # 5 chunks
    db.session.commit()
    sent = []
    assert dispatch_chunks(ctx, sent.extend, queued=0) == 5
    resend = ctx.config["BANSOS_DISPATCH_RESEND_SECONDS"]
    ctx.config["BANSOS_DISPATCH_RESEND_SECONDS"] = 0
    try:
        # All five hints still wait in the runs queue: nothing lacks a hint, nothing is sent again.
        assert dispatch_chunks(ctx, sent.extend, queued=5) == 0
        # Two were lost (the queue holds three): only two are hinted again, not the whole backlog.
        assert dispatch_chunks(ctx, sent.extend, queued=3) == 2
        # The broker cannot say (None): every stale chunk is hinted, as before.
        assert dispatch_chunks(ctx, sent.extend, queued=None) == 5
    finally:
        ctx.config["BANSOS_DISPATCH_RESEND_SECONDS"] = resend
    assert len(sent) == 12 and {seq for _run, seq in sent} == {1, 2, 3, 4, 5} and run.id


def test_on_sqlite_another_writer_is_not_kept_waiting_by_a_chunk_of_rechecks(svc, enrolled, ctx):
    """SQLite has one write lock. A chunk makes its set-based look-ups before any write and then holds the
    lock for one item at a time: a write of the web's (another connection, waiting at most 0.2 s here) goes
    through while the chunk looks up its families' registry answers and between one family's re-check and
    the next, after the first family's re-check has written its events and process."""
    import time

    from sqlalchemy import text

    from cases import programme
    from cases.runkinds import _recheck_one

    if db.session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL writers do not wait for one another's transactions")
    waits = []

    def web_write(run_id):
        started = time.monotonic()
        with db.engine.connect() as other:
            other.exec_driver_sql("PRAGMA busy_timeout = 200")
            other.execute(text("UPDATE runs SET started_by = started_by WHERE id = :id"), {"id": run_id})
            other.commit()
        waits.append(time.monotonic() - started)

    def prepare(engine, run, keys):
        web_write(run.id)  # while the chunk's look-ups are made
        return programme._prepare_families(engine, run, keys)

    def handle(engine, run, key):
        if key == enrolled[1].case_number:
            web_write(run.id)  # the first family's re-check is written; the second's is under way
        return _recheck_one(engine, run, key)

    register_kind("test.recheck_probe", handle, prepare=prepare)
    run = create_run(db.session, "test.recheck_probe", {}, "admin", [a.case_number for a in enrolled], 10)
    db.session.commit()
    assert execute_chunk(svc.engine, run.id, 1) == "done"
    assert len(waits) == 2 and max(waits) < 0.2, waits
    assert [(i.status, i.attempts) for i in _items(run)] == [("done", 1)] * 2
    from cases.models import CaseEvent

    assert (
        db.session.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "recheck_started")) == 2
    )
