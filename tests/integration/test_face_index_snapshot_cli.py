"""`tepat face-index snapshot`: the file a worker process starts its face index from."""

import os
import stat

import numpy as np
import pytest
from flask import current_app
from sqlalchemy import func, select

from engine.db import db


def _fresh(index, monkeypatch):
    """The app's index is shared by the tests, whose cleanup deletes rows (production never does: it marks
    them deleted); start it from the table as a new process would."""
    monkeypatch.setattr(index, "snapshot_path", None)
    index.rebuild()


def _templates(n, seed=5):
    v = np.random.default_rng(seed).standard_normal((n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_the_snapshot_is_written_and_a_new_process_starts_from_it_without_reading_the_rows(svc, tmp_path, monkeypatch):
    from cases.audit import AuditEntry
    from integrations.face_index import FaceTemplateIndex

    index = svc.integrations.face_index
    runner = current_app.test_cli_runner()
    _fresh(index, monkeypatch)
    refused = runner.invoke(args=["face-index", "snapshot"])
    assert refused.exit_code == 2
    assert "SNAPSHOT_NOT_SET" in refused.output and "nothing was written" in refused.output

    vectors = _templates(3)
    niks = [f"35100101019000{i:02d}" for i in range(3)]
    for i, vector in enumerate(vectors):
        index.add(niks[i], f"TPT-SNAP-{i}", vector)
    db.session.commit()
    snapshot = tmp_path / "var" / "faces.npz"
    monkeypatch.setattr(index, "snapshot_path", snapshot)
    out = runner.invoke(args=["face-index", "snapshot"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert f"3 templat wajah ditulis ke / face templates written to {snapshot}" in out.output
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o600  # biometric templates: the service account only

    # A worker starting on this machine reads the file, not the template rows, and finds the faces.
    restarted = FaceTemplateIndex(lambda: db.session, snapshot_path=snapshot)

    def no_full_read(*_args, **_kwargs):
        raise AssertionError("read every template row instead of the snapshot")

    monkeypatch.setattr(restarted, "_rebuild_locked", no_full_read)
    [hit] = restarted.search(vectors[1] + 0.01, k=3)
    assert (hit.nik, hit.case_ref) == (niks[1], "TPT-SNAP-1")
    assert restarted.size == 3
    entries = db.session.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "face_index.snapshot")
    )
    assert entries == 1


def test_a_snapshot_run_again_catches_up_with_new_templates(svc, tmp_path, monkeypatch):
    index = svc.integrations.face_index
    _fresh(index, monkeypatch)
    snapshot = tmp_path / "faces.npz"
    monkeypatch.setattr(index, "snapshot_path", snapshot)
    runner = current_app.test_cli_runner()
    vectors = _templates(4, seed=9)
    index.add("3510010101900010", "TPT-SNAP-A", vectors[0])
    db.session.commit()
    assert "1 templat" in runner.invoke(args=["face-index", "snapshot"], catch_exceptions=False).output
    for i, vector in enumerate(vectors[1:], start=1):
        index.add(f"35100101019000{10 + i}", f"TPT-SNAP-{i}", vector)
    db.session.commit()
    assert "4 templat" in runner.invoke(args=["face-index", "snapshot"], catch_exceptions=False).output
    from integrations.face_index import FaceTemplateIndex

    restarted = FaceTemplateIndex(lambda: db.session, snapshot_path=snapshot)
    monkeypatch.setattr(restarted, "_rebuild_locked", pytest.fail)
    assert restarted.size == 4


def test_the_count_reported_is_what_the_file_holds_not_what_came_after(svc, tmp_path, monkeypatch):
    """A template committed between the write and the report is in the table, not in the file: not counted."""
    from datetime import UTC, datetime

    from integrations.face_index import face_templates

    index = svc.integrations.face_index
    _fresh(index, monkeypatch)
    monkeypatch.setattr(index, "snapshot_path", tmp_path / "faces.npz")
    vectors = _templates(2, seed=13)
    index.add("3510010101900020", "TPT-SNAP-X", vectors[0])
    db.session.commit()
    write = index._write_snapshot

    def write_then_another_process_commits(path):
        write(path)
        with db.engine.begin() as conn:  # another connection, as another process's submission would
            conn.execute(
                face_templates.insert().values(
                    nik="3510010101900021",
                    case_ref="TPT-SNAP-Y",
                    encoding=vectors[1].astype("<f4").tobytes(),
                    created_at=datetime.now(UTC).replace(tzinfo=None),
                    pending=False,
                )
            )

    monkeypatch.setattr(index, "_write_snapshot", write_then_another_process_commits)
    out = current_app.test_cli_runner().invoke(args=["face-index", "snapshot"], catch_exceptions=False)
    assert "1 templat wajah ditulis" in out.output, out.output
    assert index.size == 2  # the table has both; the next catch-up takes the second
