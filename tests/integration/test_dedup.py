"""1:N face deduplication on the app's database: the handler, the index, and several processes."""

import json

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from tests.conftest import faces_or_skip

NIK_A = "3510014101900001"
NIK_B = "3510020202910002"
NIK_C = "3510030303920003"
NIK_D = "3510040404930004"


@pytest.fixture
def index(svc):
    """The app's face index over an empty table."""
    from engine.db import db
    from integrations.face_index import face_templates

    db.session.execute(delete(face_templates))
    db.session.commit()
    svc.integrations.face_index.rebuild()
    yield svc.integrations.face_index
    db.session.rollback()
    db.session.execute(delete(face_templates))
    db.session.commit()


@pytest.fixture(scope="module")
def faces():
    return faces_or_skip()


def run_dedup(svc, nik, case_number, photo_bytes):
    """Run the handler the way the engine does (JSON round trip), then commit like a request would."""
    from engine.db import db
    from tasks.base import REGISTRY, ServiceContext, load_handlers

    load_handlers()
    context = ServiceContext(integrations=svc.integrations, settings={}, photos=svc.photos, business_key=case_number)
    ref = svc.photos.put(photo_bytes) if photo_bytes is not None else None
    result = json.loads(
        json.dumps(REGISTRY["biometric.deduplicate"](context, nik=nik, case_number=case_number, selfie_ref=ref))
    )
    db.session.commit()
    return result


def stored_templates():
    from engine.db import db
    from integrations.face_index import face_templates

    return db.session.execute(
        select(face_templates.c.nik, face_templates.c.case_ref, face_templates.c.encoding)
        .where(face_templates.c.deleted_at.is_(None))
        .order_by(face_templates.c.id)
    ).all()


def test_the_same_face_under_another_nik_is_flagged(svc, index, faces):
    first = run_dedup(svc, NIK_A, "TPT-2026-0000001", (faces / "obama.jpg").read_bytes())
    assert (first["outcome"], first["suspected_duplicates"], first["checked_templates"]) == ("clear", [], 0)

    second = run_dedup(svc, NIK_B, "TPT-2026-0000002", (faces / "obama2.jpg").read_bytes())
    assert second["outcome"] == "suspected" and second["reason_code"] == "DUPLICATE_FACE_SUSPECTED"
    [duplicate] = second["suspected_duplicates"]
    assert duplicate["case_number"] == "TPT-2026-0000001"
    assert duplicate["nik_masked"] == "3510**·410190·0001"
    assert 0 < duplicate["distance"] <= second["threshold"] == 0.5
    assert second["checked_templates"] == 1
    [evidence] = second["evidence"]
    assert evidence["source"] == "face_index"
    assert evidence["value"]["suspected_duplicates"] == [duplicate]
    assert NIK_A not in json.dumps(second)  # the other person's NIK is only ever shown masked

    third = run_dedup(svc, NIK_C, "TPT-2026-0000003", (faces / "biden.jpg").read_bytes())
    assert (third["outcome"], third["suspected_duplicates"], third["checked_templates"]) == ("clear", [], 2)
    assert [(r.nik, r.case_ref, len(r.encoding)) for r in stored_templates()] == [
        (NIK_A, "TPT-2026-0000001", 512),
        (NIK_B, "TPT-2026-0000002", 512),
        (NIK_C, "TPT-2026-0000003", 512),
    ]


def test_another_application_under_the_same_nik_is_not_a_duplicate(svc, index, faces):
    run_dedup(svc, NIK_A, "TPT-2026-0000001", (faces / "obama.jpg").read_bytes())
    again = run_dedup(svc, NIK_A, "TPT-2026-0000009", (faces / "obama3.jpg").read_bytes())
    assert again["outcome"] == "clear"


def test_a_retried_task_stores_one_template(svc, index, faces):
    for _ in range(2):
        run_dedup(svc, NIK_A, "TPT-2026-0000001", (faces / "obama.jpg").read_bytes())
    assert len(stored_templates()) == 1


@pytest.mark.parametrize(
    "photo, reason",
    [(None, "NO_SELFIE"), ("two_people.jpg", "MULTIPLE_FACES"), (b"%PDF-1.7 not a photo", "IMAGE_TYPE_NOT_ALLOWED")],
)
def test_no_usable_selfie_is_not_checked(svc, index, faces, photo, reason):
    data = (faces / photo).read_bytes() if isinstance(photo, str) else photo
    result = run_dedup(svc, NIK_D, "TPT-2026-0000004", data)
    assert (result["outcome"], result["reason_code"], result["suspected_duplicates"]) == ("not_checked", reason, [])
    assert stored_templates() == []


def test_a_deleted_selfie_is_not_checked(svc, index, faces):
    from tasks.base import REGISTRY, ServiceContext, load_handlers

    load_handlers()
    ref = svc.photos.put((faces / "obama.jpg").read_bytes())
    svc.photos.delete(ref)  # retention removed it before the task ran
    context = ServiceContext(integrations=svc.integrations, settings={}, photos=svc.photos)
    result = REGISTRY["biometric.deduplicate"](context, nik=NIK_D, case_number="TPT-1", selfie_ref=ref)
    assert (result["outcome"], result["reason_code"]) == ("not_checked", "SELFIE_MISSING")


def test_an_index_rebuilt_from_the_database_gives_the_same_answers(svc, index, faces):
    from engine.db import db
    from integrations.face_index import FaceTemplateIndex

    for nik, case, name in [
        (NIK_A, "TPT-1", "obama.jpg"),
        (NIK_C, "TPT-3", "biden.jpg"),
        (NIK_D, "TPT-4", "rose_leslie1.jpg"),
    ]:
        run_dedup(svc, nik, case, (faces / name).read_bytes())
    probes = [
        svc.integrations.face.encode((faces / n).read_bytes())
        for n in ("obama2.jpg", "biden2.jpg", "rose_leslie2.jpg", "kit_harington1.jpeg")
    ]
    before = [index.search(p, k=3) for p in probes]
    assert [[c.case_ref for c in hits] for hits in before] == [["TPT-1"], ["TPT-3"], ["TPT-4"], []]
    fresh = FaceTemplateIndex(lambda: db.session, threshold=index.threshold)  # a new process
    assert [fresh.search(p, k=3) for p in probes] == before
    assert index.rebuild() == 3
    assert [index.search(p, k=3) for p in probes] == before


def test_a_rolled_back_add_never_appears(svc, index, faces):
    from engine.db import db
    from integrations.face_index import FaceTemplateIndex, face_templates

    encoding = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
    index.add(NIK_A, "TPT-rolled-back", encoding)
    assert db.session.scalar(select(func.count()).select_from(face_templates)) == 1  # in our transaction
    assert index.search(encoding) == []
    db.session.rollback()
    assert index.search(encoding) == [] and index.size == 0
    assert FaceTemplateIndex(lambda: db.session).search(encoding) == []
    index.add(NIK_B, "TPT-kept", encoding)
    db.session.commit()
    assert [c.case_ref for c in index.search(encoding)] == ["TPT-kept"]


def test_two_processes_stay_consistent(svc, index, faces, app):
    from engine.db import db
    from integrations.face_index import FaceTemplateIndex, face_templates

    other_session = db.session.session_factory()  # its own connection and transaction
    try:
        other = FaceTemplateIndex(lambda: other_session, threshold=index.threshold)
        obama = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
        obama2 = svc.integrations.face.encode((faces / "obama2.jpg").read_bytes())
        assert other.size == 0
        index.add(NIK_A, "TPT-1", obama)
        db.session.commit()
        assert [c.nik for c in other.search(obama2, exclude_nik=NIK_B)] == [NIK_A]
        other.add(NIK_C, "TPT-3", obama2)
        assert [c.nik for c in index.search(obama2)] == [NIK_A]  # not committed yet
        other_session.commit()
        assert sorted(c.nik for c in index.search(obama2)) == [NIK_A, NIK_C]
        assert index.delete_for(NIK_A) == 1  # erasure on request (UU PDP)
        db.session.commit()
        assert [c.nik for c in other.search(obama2)] == [NIK_C]
        assert other.size == index.size == 1
        erased = db.session.execute(select(face_templates).where(face_templates.c.nik == NIK_A)).one()
        assert erased.encoding is None and erased.deleted_at is not None
    finally:
        other_session.close()


def test_templates_are_numbers_not_photos(svc, index, faces):
    data = (faces / "obama.jpg").read_bytes()
    run_dedup(svc, NIK_A, "TPT-1", data)
    [row] = stored_templates()
    template = np.frombuffer(row.encoding, dtype="<f4")
    assert template.shape == (128,) and np.allclose(template, svc.integrations.face.encode(data))


def test_ids_committed_out_of_order_are_all_found(svc, index, faces):
    from engine.db import db

    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: its ids are never committed out of order")
    slow = db.session.session_factory()
    try:
        obama = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
        biden = svc.integrations.face.encode((faces / "biden.jpg").read_bytes())
        slow_id = type(index)(lambda: slow).add(NIK_A, "TPT-slow", obama)  # id handed out first...
        fast_id = index.add(NIK_C, "TPT-fast", biden)
        db.session.commit()  # ...but committed second
        assert fast_id > slow_id
        assert [c.case_ref for c in index.search(biden)] == ["TPT-fast"] and index.search(obama) == []
        slow.commit()
        assert [c.case_ref for c in index.search(obama)] == ["TPT-slow"]
    finally:
        slow.close()


# --- the same face submitted at the same moment ----------------------------------------------------


def test_search_and_add_holds_the_dedup_lock_until_commit(svc, index, faces):
    """SQLite: while one transaction has searched and stored, no other can search (one writer).
    PostgreSQL: the global lock is only held around the claim; the claim's liveness lock lasts to
    the commit, and the claim is visible (pending) to every other transaction at once."""
    from engine.db import db
    from integrations.face_index import face_templates

    encoding = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
    index.search_and_add(NIK_A, "TPT-1", encoding)
    if db.engine.dialect.name == "postgresql":
        assert _other_connection_can_take_the_lock(db.engine)  # other claims are not held up
        with db.engine.connect() as conn:
            [claim] = conn.execute(select(face_templates.c.id, face_templates.c.pending)).all()
            assert claim.pending  # committed ahead, as a claim; finished by our commit
        assert not _claim_is_free(db.engine, claim.id)
        db.session.commit()
        assert _claim_is_free(db.engine, claim.id)
        assert [r.pending for r in db.session.execute(select(face_templates.c.pending))] == [False]
        return
    assert not _other_connection_can_take_the_lock(db.engine)
    db.session.commit()
    assert _other_connection_can_take_the_lock(db.engine)


def _claim_is_free(engine, claim_id):
    from integrations.face_index import _LIVENESS_TRY, LIVENESS_CLASS

    with engine.connect() as conn:
        free = conn.execute(_LIVENESS_TRY, {"c": LIVENESS_CLASS, "i": claim_id}).scalar()
        conn.rollback()
    return free


def _postgresql_or_skip():
    from engine.db import db

    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: claims and liveness locks (SQLite has one writer at a time)")


def _search_and_add_in_thread(app, nik, case_ref, encoding, finish):
    """search_and_add on a session of its own in a thread; ``finish`` is 'commit' or 'rollback'."""
    import queue
    import threading

    from engine.db import db
    from integrations.face_index import FaceTemplateIndex

    answers = queue.Queue()
    go_on = threading.Event()

    def run():
        with app.app_context():
            session = db.session.session_factory()
            try:
                other = FaceTemplateIndex(lambda: session, threshold=0.5)
                candidates, _ = other.search_and_add(nik, case_ref, encoding)
                answers.put([c.case_ref for c in candidates])
                go_on.wait(30)
                getattr(session, finish)()
            except Exception as exc:  # noqa: BLE001 - handed to the test
                answers.put(exc)
            finally:
                session.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return answers, go_on, thread


@pytest.mark.parametrize("first_ends", ["commit", "rollback"])
def test_a_concurrent_duplicate_waits_for_the_earlier_claim_only(svc, index, faces, app, first_ends):
    """The later claim of the same face waits for the earlier one's end: flagged if it committed,
    clear (and the abandoned claim tombstoned) if it rolled back. Another face does not wait."""
    import queue

    from engine.db import db
    from integrations.face_index import face_templates

    _postgresql_or_skip()
    obama = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
    obama2 = svc.integrations.face.encode((faces / "obama2.jpg").read_bytes())
    biden = svc.integrations.face.encode((faces / "biden.jpg").read_bytes())
    first, first_go, first_thread = _search_and_add_in_thread(app, NIK_A, "TPT-first", obama, first_ends)
    assert first.get(timeout=30) == []  # claimed and searched; its transaction stays open
    other, other_go, other_thread = _search_and_add_in_thread(app, NIK_C, "TPT-other", biden, "commit")
    assert other.get(timeout=30) == []  # another face: not held up by the open transaction
    other_go.set()
    second, second_go, second_thread = _search_and_add_in_thread(app, NIK_B, "TPT-second", obama2, "commit")
    with pytest.raises(queue.Empty):
        second.get(timeout=1.5)  # the same face: waits for the first claim's owner
    assert _advisory_waiters(db.engine) == 1
    first_go.set()
    assert second.get(timeout=30) == (["TPT-first"] if first_ends == "commit" else [])
    second_go.set()
    for thread in (first_thread, other_thread, second_thread):
        thread.join(30)
    rows = {r.case_ref: r for r in db.session.execute(select(face_templates)).all()}
    assert not any(r.pending for r in rows.values() if r.deleted_at is None)
    if first_ends == "rollback":
        assert rows["TPT-first"].deleted_at is not None and rows["TPT-first"].encoding is None
    assert sorted(c.case_ref for c in index.search(obama, k=5)) == sorted(
        ["TPT-second"] + (["TPT-first"] if first_ends == "commit" else [])
    )


def test_a_rolled_back_id_is_re_read_until_its_transaction_has_ended_only(svc, index, faces):
    """PostgreSQL: a gap (an id handed out, not committed) is dropped at the first catch-up after
    every transaction that could commit it has ended, not kept for late_commit_seconds."""
    from engine.db import db

    _postgresql_or_skip()
    obama = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
    biden = svc.integrations.face.encode((faces / "biden.jpg").read_bytes())
    rolled = db.session.session_factory()
    try:
        gap = type(index)(lambda: rolled).add(NIK_A, "TPT-rolled", obama)
        index.add(NIK_C, "TPT-kept", biden)
        db.session.commit()
        assert index.size == 1 and gap in index._gaps  # may still commit
        rolled.rollback()
        _ = index.size  # reading the size catches up with the database
        assert gap not in index._gaps
    finally:
        rolled.close()


def _other_connection_can_take_the_lock(engine):
    from sqlalchemy import func, select, text

    from integrations.face_index import DEDUP_LOCK_KEY

    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            taken = conn.execute(select(func.pg_try_advisory_xact_lock(DEDUP_LOCK_KEY))).scalar()
        else:
            conn.exec_driver_sql("PRAGMA busy_timeout = 0")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, without waiting
                taken = True
            except Exception as exc:  # sqlite3.OperationalError: database is locked
                assert "locked" in str(exc)
                taken = False
            conn.exec_driver_sql("PRAGMA busy_timeout = 30000")
        conn.rollback()
        conn.execute(text("SELECT 1"))
    return taken


PAIRS = [
    ("obama.jpg", "obama2.jpg"),
    ("biden.jpg", "biden2.jpg"),
    ("rose_leslie1.jpg", "rose_leslie2.jpg"),
    ("kit_harington1.jpeg", "kit_harington2.jpeg"),
]


def test_the_same_face_under_two_niks_at_the_same_moment_from_two_processes_is_flagged(svc, faces):
    """Two OS processes submit each pair together and keep their transactions open until both have
    saved (or one waits for the dedup lock): of every pair, the later commit is flagged."""
    from engine.db import db
    from integrations.sandbox.tables import households, people

    if db.engine.dialect.name != "postgresql":
        pytest.skip(
            "PostgreSQL only: on SQLite the second submission cannot write (nor reach the face search) "
            "until the first commits; test_search_and_add_holds_the_dedup_lock_until_commit covers it"
        )
    niks = (
        db.session.execute(
            select(people.c.nik)
            .join(households, households.c.head_nik == people.c.nik)
            .where(people.c.alive.is_(True), people.c.photo_ref.is_(None))
            .order_by(people.c.nik)
            .limit(2 * len(PAIRS))
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    workers = [_Worker(current_app(), "submit_held") for _ in range(2)]
    try:
        for w in workers:
            assert w.wait_for("ready") == ["ready"]
        for i, pair in enumerate(PAIRS):
            for w, nik, photo in zip(workers, niks[2 * i : 2 * i + 2], pair, strict=True):
                w.send(f"submit {nik} {faces / photo}")
            outcomes = _commit_when_both_saved_or_one_waits(workers, db.engine)
            assert sorted(outcomes) == ["clear", "suspected"], (pair, outcomes)
    finally:
        for w in workers:
            w.close()


def current_app():
    from flask import current_app as app

    return app._get_current_object()


def _advisory_waiters(engine):
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ).scalar()


def _commit_when_both_saved_or_one_waits(workers, engine):
    """Let a saved worker commit only once the other has saved too, or waits for the dedup lock.

    Without the lock both search before either commits (and neither finds the other); with it the
    second blocks on the lock, which this sees in pg_locks, so the first may commit.
    """
    import time

    held, done = set(), {}
    deadline = time.monotonic() + 120  # a safety net against a hung worker, not a timing assertion
    while len(done) < len(workers):
        assert time.monotonic() < deadline, [w.stderr() for w in workers]
        for i, w in enumerate(workers):
            for line in w.lines(timeout=0.02):
                kind, *rest = line.split()
                if kind == "saved":
                    held.add(i)
                elif kind == "done":
                    done[i] = rest[1]
        settled = held | set(done)
        if held and (len(settled) == len(workers) or _advisory_waiters(engine)):
            for i in sorted(held):
                workers[i].send("commit")
            held.clear()
    return [done[i] for i in range(len(workers))]


class _Worker:
    """A worker process spoken to by lines on stdin and stdout (read without blocking)."""

    def __init__(self, app, *args):
        import os
        import subprocess
        import sys
        import tempfile

        from tests.conftest import ROOT
        from tests.integration.test_engine import _worker_env

        self._err = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.workers", *args],
            cwd=ROOT,
            env=_worker_env(app),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=False,
        )
        self._buffer = b""
        self._fd = self.process.stdout.fileno()
        os.set_blocking(self._fd, False)

    def send(self, line):
        self.process.stdin.write((line + "\n").encode())
        self.process.stdin.flush()

    def lines(self, timeout):
        import os
        import select as io_select

        readable, _, _ = io_select.select([self._fd], [], [], timeout)
        if readable:
            chunk = os.read(self._fd, 65536)
            assert chunk or self.process.poll() is None, self.stderr()
            self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        return [c.decode() for c in complete if c.strip()]

    def wait_for(self, word):
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = [line for line in self.lines(timeout=0.1) if line.startswith(word)]
            if found:
                return found
            assert self.process.poll() is None, self.stderr()
        raise AssertionError(f"no {word!r} from the worker")

    def stderr(self):
        self._err.seek(0)
        return self._err.read().decode(errors="replace")[-4000:]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except Exception:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self._err.close()


def test_the_approximate_path_flags_the_same_face_on_the_app_database(svc, index, faces):
    """The approximate index (forced on a small population) under search_and_add: the same face is
    found with its exact distance, another face is not."""
    from engine.db import db
    from integrations.face_index import FaceTemplateIndex

    rng = np.random.default_rng(4)
    obama = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
    crowd = obama + rng.normal(scale=0.09, size=(400, 128)).astype(np.float32)  # about 1.0 away
    approximate = FaceTemplateIndex(lambda: db.session, threshold=index.threshold, ann_min_size=100)
    for i, vector in enumerate(crowd):
        approximate.add(f"35100501019{i:05d}", f"TPT-crowd-{i}", vector)
    approximate.add(NIK_A, "TPT-1", obama)
    db.session.commit()
    assert approximate.size == 401 and approximate.approximate
    obama2 = svc.integrations.face.encode((faces / "obama2.jpg").read_bytes())
    candidates, checked = approximate.search_and_add(NIK_B, "TPT-2", obama2)
    db.session.commit()
    assert [c.case_ref for c in candidates] == ["TPT-1"] and checked == 401
    assert candidates[0].distance == pytest.approx(float(np.linalg.norm(obama - obama2)), abs=1e-5)
    biden = svc.integrations.face.encode((faces / "biden.jpg").read_bytes())
    assert approximate.search_and_add(NIK_C, "TPT-3", biden)[0] == []
    db.session.commit()
    assert [c.case_ref for c in index.search(obama2, k=3)] == ["TPT-2", "TPT-1"]  # nearest first
