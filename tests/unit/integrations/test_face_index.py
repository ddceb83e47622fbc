"""The face-template index: vectorised search, and staying in step with its table."""

import os
import stat
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import create_engine, delete, insert, select, update
from sqlalchemy.orm import Session

from integrations.face_index import (
    FaceTemplateIndex,
    TemplateMatrix,
    as_template,
    face_metadata,
    face_templates,
)

A, B, C = "3510014101900001", "3510020202910002", "3510030303920003"


def nik(i):
    return f"35100101019{i:05d}"


def vectors(n, seed=1):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


# -- TemplateMatrix ------------------------------------------------------------------------------


def test_search_agrees_with_brute_force():
    data = vectors(5000)
    niks = [nik(i % 1000) for i in range(5000)]
    matrix = TemplateMatrix(chunk_rows=1024)
    for start in range(0, 5000, 1500):  # several appends: the matrix grows in chunks
        matrix.add_many(
            range(start + 1, min(start + 1500, 5000) + 1), niks[start : start + 1500], data[start : start + 1500]
        )
    assert len(matrix) == 5000
    rng = np.random.default_rng(2)
    for probe in data[rng.choice(5000, 20)] + rng.normal(scale=0.02, size=(20, 128)).astype(np.float32):
        exact = np.linalg.norm(data.astype(np.float64) - probe, axis=1)
        expected = np.argsort(exact)[:5]
        hits = matrix.search(probe, k=5, threshold=2.0)
        assert [h[0] for h in hits] == [int(i) + 1 for i in expected]
        assert np.allclose([h[2] for h in hits], exact[expected], atol=1e-5)
        assert hits[0][1] == niks[expected[0]]


def test_threshold_exclusion_and_removal():
    base = vectors(3)
    matrix = TemplateMatrix()
    near = base[0] + 0.01
    matrix.add_many([1, 2, 3], [A, B, C], np.stack([base[0], near, base[2]]))
    assert [h[0] for h in matrix.search(base[0], k=5, threshold=0.5)] == [1, 2]
    assert [h[0] for h in matrix.search(base[0], k=1, threshold=0.5)] == [1]
    assert [h[0] for h in matrix.search(base[0], k=5, threshold=0.5, exclude_nik=A)] == [2]
    assert matrix.remove([2, 99]) == 1 and matrix.remove([2]) == 0
    assert matrix.search(base[0], k=5, threshold=0.5, exclude_nik=A) == []
    assert len(matrix) == 2
    matrix.add_many([3], [C], base[2:3])  # already present: skipped
    assert len(matrix) == 2


def test_templates_are_validated():
    with pytest.raises(ValueError):
        as_template(np.zeros(127))
    with pytest.raises(ValueError):
        as_template([np.nan] * 128)
    with pytest.raises(ValueError):
        TemplateMatrix().add_many([1], ["12345"], vectors(1))


# -- FaceTemplateIndex on a database -------------------------------------------------------------


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'faces.sqlite'}")
    face_metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def open_index(engine, clock):
    sessions = []

    def make(**options):
        session = Session(engine)
        sessions.append(session)
        return FaceTemplateIndex(lambda: session, clock=clock, **options), session

    yield make
    for session in sessions:
        session.close()


def insert_row(engine, id_, nik_, vector, clock, case_ref="TPT-1"):
    with engine.begin() as conn:
        conn.execute(
            insert(face_templates).values(
                id=id_,
                nik=nik_,
                case_ref=case_ref,
                created_at=clock(),
                encoding=as_template(vector).astype("<f4").tobytes(),
            )
        )


def test_rows_are_stored_as_512_byte_templates_and_only_committed_ones_are_found(open_index, engine):
    index, session = open_index()
    v = vectors(2)
    template_id = index.add(A, "TPT-2026-0000001", v[0])
    assert index.search(v[0]) == []  # flushed, not committed: no process may see it yet
    session.commit()
    [hit] = index.search(v[0])
    assert (hit.nik, hit.case_ref, hit.template_id) == (A, "TPT-2026-0000001", template_id)
    index.add(B, "TPT-2026-0000002", v[1])
    session.rollback()
    assert index.search(v[1]) == [] and index.size == 1
    with engine.connect() as conn:
        stored = conn.execute(select(face_templates.c.encoding)).scalar_one()
    assert len(stored) == 512 and np.allclose(np.frombuffer(stored, "<f4"), v[0])


def test_one_live_template_per_case(open_index, engine):
    index, session = open_index()
    v = vectors(2)
    first = index.add(A, "TPT-1", v[0])
    assert index.add(A, "TPT-1", v[0]) == first  # a retried task: same row
    second = index.add(A, "TPT-1", v[1])  # a retaken selfie replaces the template
    session.commit()
    assert second != first
    assert [c.template_id for c in index.search(v[1])] == [second] and index.search(v[0]) == []
    with engine.connect() as conn:
        erased = conn.execute(select(face_templates.c.encoding).where(face_templates.c.id == first)).scalar_one()
    assert erased is None


def test_two_processes_stay_consistent(open_index):
    one, s1 = open_index()
    two, s2 = open_index()
    v = vectors(2)
    one.add(A, "TPT-1", v[0])
    s1.commit()
    assert [c.nik for c in two.search(v[0])] == [A]
    assert two.delete_for(A) == 1
    assert [c.nik for c in one.search(v[0])] == [A]  # the erasure is not committed yet
    s2.commit()
    assert one.search(v[0]) == [] and one.size == two.size == 0


def test_a_late_commit_below_the_last_id_is_picked_up(open_index, engine, clock):
    index, _ = open_index(verify_every_seconds=10_000)
    v = vectors(3)
    insert_row(engine, 5, A, v[0], clock)
    assert index.size == 1  # ids 1-4 were handed out to transactions not yet committed
    insert_row(engine, 3, B, v[1], clock)  # one of them commits now
    assert [c.nik for c in index.search(v[1])] == [B]
    clock.advance(601)  # past the longest transaction: ids still missing were rolled back
    _ = index.size  # reading the size catches up with the database
    assert index._gaps == {}


def test_a_row_committed_after_its_gap_expired_is_found_by_the_count_check(open_index, engine, clock):
    index, _ = open_index(verify_every_seconds=300)
    v = vectors(2)
    insert_row(engine, 5, A, v[0], clock)
    assert index.size == 1
    clock.advance(601)
    assert index.size == 1  # the gaps expire here
    insert_row(engine, 2, B, v[1], clock)  # later than any transaction should take
    assert index.search(v[1]) == []  # not looked for by id any more...
    clock.advance(300)
    assert [c.nik for c in index.search(v[1])] == [B]  # ...but the periodic count check catches it


def test_a_deletion_committed_late_is_still_applied(open_index, engine, clock):
    index, _ = open_index()
    v = vectors(1)
    insert_row(engine, 1, A, v[0], clock)
    assert index.size == 1
    flushed_at = clock() - timedelta(seconds=120)  # stamped before the index's last sync, committed after
    clock.advance(30)
    with engine.begin() as conn:
        conn.execute(update(face_templates).values(deleted_at=flushed_at, encoding=None))
    assert index.search(v[0]) == [] and index.size == 0


def test_an_emptied_table_is_noticed(open_index, engine, clock):
    index, _ = open_index()
    v = vectors(2)
    insert_row(engine, 1, A, v[0], clock)
    insert_row(engine, 2, B, v[1], clock)
    assert index.size == 2
    with engine.begin() as conn:
        conn.execute(delete(face_templates))
    insert_row(engine, 1, C, v[1], clock)
    assert [c.nik for c in index.search(v[1])] == [C] and index.size == 1


def test_rebuild_and_snapshot_give_the_same_answers(open_index, engine, clock, tmp_path):
    snapshot = tmp_path / "var" / "faces.npz"
    index, session = open_index(snapshot_path=snapshot)
    v = vectors(50)
    for i in range(50):
        index.add(nik(i), f"TPT-{i}", v[i])
    session.commit()
    probes = v[[3, 17, 42]] + 0.01
    before = [index.search(p, k=3) for p in probes]
    assert index.rebuild() == 50
    assert [index.search(p, k=3) for p in probes] == before
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o600  # templates are sensitive data
    # Changes after the snapshot: one erasure, one new row; a new process starts from the file.
    index.delete_for(nik(17))
    index.add(C, "TPT-new", v[17])
    session.commit()
    restarted, _ = open_index(snapshot_path=snapshot)
    assert restarted.size == 50
    [hit] = restarted.search(probes[1], k=3)
    assert (hit.nik, hit.case_ref) == (C, "TPT-new")
    assert restarted.search(probes[0], k=3) == index.search(probes[0], k=3)


def test_a_snapshot_that_disagrees_with_the_table_is_not_trusted(open_index, engine, clock, tmp_path):
    snapshot = tmp_path / "faces.npz"
    index, session = open_index(snapshot_path=snapshot)
    v = vectors(3)
    for i in range(3):
        index.add(nik(i), f"TPT-{i}", v[i])
    session.commit()
    index.save_snapshot()
    with engine.begin() as conn:  # the table is restored from elsewhere: same ids, other people
        conn.execute(delete(face_templates).where(face_templates.c.id == 2))
    restarted, _ = open_index(snapshot_path=snapshot)
    assert restarted.size == 2 and restarted.search(v[1]) == []


# -- the approximate index (large populations), forced on a small one ----------------------------


def realistic(n, seed=3):
    """Templates spread like dlib encodings: different people 0.65-1.0 apart."""
    rng = np.random.default_rng(seed)
    spectrum = np.arange(1, 129) ** -0.35
    spectrum /= np.sqrt((spectrum**2).sum())
    v = rng.normal(size=(n, 128)) * spectrum * 0.6 + rng.normal(size=128) * 0.115
    return v.astype(np.float32)


def test_the_approximate_matrix_finds_planted_duplicates_like_the_exact_one():
    from integrations.face_matrix import AnnMatrix

    v = realistic(4000)
    ids = np.arange(1, 4001)
    niks = [nik(i) for i in range(4000)]
    exact, ann = TemplateMatrix(), AnnMatrix(v, nlist=32, nprobe=16)
    exact.add_many(ids, niks, v)
    ann.add_many(ids, niks, v)
    rng = np.random.default_rng(9)
    targets = rng.choice(4000, 200, replace=False)
    found = 0
    for t in targets:
        step = rng.normal(size=128)
        probe = v[t] + (step / np.linalg.norm(step) * rng.uniform(0.1, 0.45)).astype(np.float32)
        [want, *_] = exact.search(probe, 3, 0.5)
        got = ann.search(probe, 3, 0.5)
        assert want[0] == t + 1
        if got and got[0][0] == t + 1:
            found += 1
            assert got[0][2] == pytest.approx(want[2], abs=0.02)  # 8-bit: close, re-checked by the caller
        assert all(i != t + 1 for i, _, _ in ann.search(probe, 3, 0.5, exclude_nik=nik(t)))
        assert all(i < t + 1 for i, _, _ in ann.search(probe, 3, 0.5, below_id=t + 1))
    assert found >= 196  # half the cells visited: 98%+; bench/biometric.py measures the real settings
    assert ann.remove([targets[0] + 1, 99_999]) == 1 and len(ann) == 3999
    assert all(i != targets[0] + 1 for i, _, _ in ann.search(v[targets[0]], 3, 0.5))


def test_the_index_switches_to_the_approximate_path_and_re_checks_exactly(open_index, engine, clock, tmp_path):
    snapshot = tmp_path / "faces.npz"
    index, session = open_index(ann_min_size=300, snapshot_path=snapshot)
    v = realistic(400)
    for i in range(400):
        index.add(nik(i), f"TPT-{i}", v[i])
    session.commit()
    assert index.size == 400 and index.approximate
    exact, _ = open_index(ann_min_size=10_000)
    assert exact.size == 400 and not exact.approximate
    probes = v[[5, 77, 301]] + np.float32(0.01)
    assert [index.search(p, k=3) for p in probes] == [exact.search(p, k=3) for p in probes]
    # Distances are exact (the stored template), and the real threshold decides.
    [hit] = index.search(probes[0], k=3)
    assert hit.distance == pytest.approx(float(np.linalg.norm(v[5].astype(np.float64) - probes[0])), abs=1e-6)
    step = np.zeros(128, dtype=np.float32)
    step[0] = 0.49
    assert [c.case_ref for c in index.search(v[9] + step, k=3, threshold=0.5)] == ["TPT-9"]
    assert index.search(v[9] + step, k=3, threshold=0.48) == []  # within threshold + margin, not threshold
    # Erasure, new rows and a restart from the snapshot keep working on the approximate path.
    index.delete_for(nik(77))
    index.add(C, "TPT-new", v[301] + np.float32(0.005))
    session.commit()
    assert [c.case_ref for c in index.search(probes[2], k=3)] == ["TPT-new", "TPT-301"]  # nearest first
    assert index.search(probes[1]) == []
    index.save_snapshot()
    restarted, _ = open_index(ann_min_size=300, snapshot_path=snapshot)
    assert restarted.size == 400 and restarted.approximate
    assert [restarted.search(p, k=3) for p in probes] == [index.search(p, k=3) for p in probes]
