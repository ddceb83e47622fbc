"""Speed of the face checks: 1:1 verification, 1:N search, and rebuilding the template index.

What is measured (one process pinned to one CPU core, BLAS limited to one thread, so every figure
is "per core"):

* 1:1 verification on the real photos in ../shared/faces (every pair of single-face photos):
  - cold: a matcher without a cache encodes both photos of every pair;
  - reference cached: the registry photos are encoded once beforehand, as a long-running worker's
    cache holds them; every selfie is new (its bytes are made unique by trailing bytes after the
    JPEG end marker, which decoders ignore), so each verification encodes one photo.
  - registry template kept: ``RegistryFaceTemplates`` (integrations/registry_faces.py) over a
    SQLite table where the registry photos were kept on first use, with a matcher WITHOUT any
    in-process cache: what a fresh worker pays per application (the selfie's encoding only).
* 1:N search over 100,000 and 1,000,000 synthetic templates spread like dlib encodings (a common
  mean of norm 1.3, person offsets on a decaying spectrum: different people 0.65-1.0 apart, median
  0.85, as measured on ../shared/faces), with ``--planted`` (default 1,000) duplicates planted at a
  distance drawn uniformly from 0.10-0.48 of a stored template (within the 0.5 threshold). Each
  planted probe searched by the exact ``TemplateMatrix`` and by the approximate ``AnnMatrix``
  (faiss IVF 8-bit) followed by the exact re-check of its candidates (done against the stored
  template in ``FaceTemplateIndex``; here against the float32 copy): p95 ms, recall of the planted
  duplicates, memory of each index, build time, and the exact/ANN ratio of p95.
* Rebuilding ``FaceTemplateIndex`` from a SQLite file of 100,000 rows (``--rebuild-rows``), one full
  ``search`` (catch-up query + matrix search + hit look-up) on it, and a new index starting from the
  snapshot file instead (what a worker with ``BANSOS_FACE_INDEX_SNAPSHOT`` does at start).

    .venv/bin/python bench/biometric.py [--probes 100] [--planted 1000] [--skip-million]
        [--rebuild-rows 100000] [--only-rebuild] [--catch-up-rows N]
"""

import os

# Before numpy loads: one BLAS thread, so the figures are per core.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FACES = Path(os.environ.get("TEPAT_FACES_DIR", ROOT.parent / "shared" / "faces"))


def pin_to_one_core():
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def percentile(values, q):
    return float(np.percentile(np.asarray(values), q))


def single_face_photos():
    with (FACES / "manifest.csv").open() as handle:
        return [(row["file"], row["person"]) for row in csv.DictReader(handle) if row["faces"] == "1"]


def bench_verification():
    from integrations.face import FaceRecognitionMatcher

    photos = single_face_photos()
    data = {name: (FACES / name).read_bytes() for name, _ in photos}
    pairs = list(itertools.combinations([name for name, _ in photos], 2))

    cold = FaceRecognitionMatcher(cache_size=0)
    timings, outcomes = [], {"match": 0, "no_match": 0}
    cpu = time.process_time()
    for a, b in pairs:
        start = time.perf_counter()
        outcomes[cold.verify(data[a], data[b]).outcome] += 1
        timings.append(time.perf_counter() - start)
    report("1:1 cold (both photos encoded)", timings, time.process_time() - cpu, f"{len(pairs)} pairs, {outcomes}")

    warm = FaceRecognitionMatcher(cache_size=4096)
    for name in data:
        warm.encode(data[name])  # the references, as a worker's cache holds them
    jpegs = [name for name in data if data[name][:3] == b"\xff\xd8\xff"]
    timings = []
    cpu = time.process_time()
    for i, (a, b) in enumerate(itertools.product(jpegs, data)):
        if a == b:
            continue
        selfie = data[a] + i.to_bytes(4, "big")  # after the end marker: new bytes, same picture
        start = time.perf_counter()
        warm.verify(selfie, data[b])
        timings.append(time.perf_counter() - start)
    report("1:1 reference cached (selfie encoded)", timings, time.process_time() - cpu, f"{len(timings)} verifications")
    bench_registry_templates(data, jpegs)


def bench_registry_templates(data, jpegs):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from integrations.face import FaceRecognitionMatcher
    from integrations.face_index import face_metadata
    from integrations.registry_faces import RegistryFaceTemplates

    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/registry.sqlite")
        face_metadata.create_all(engine)
        niks = {name: f"35100101019{i:05d}" for i, name in enumerate(data)}
        with Session(engine) as session:
            kept = RegistryFaceTemplates(lambda: session, FaceRecognitionMatcher(cache_size=0))
            start = time.perf_counter()
            kept.encode_registry((niks[name], data[name]) for name in data)  # at import or first use
            session.commit()
            once = time.perf_counter() - start
            fresh = RegistryFaceTemplates(lambda: session, FaceRecognitionMatcher(cache_size=0))  # a new worker
            timings = []
            cpu = time.process_time()
            for i, (a, b) in enumerate(itertools.product(jpegs, data)):
                if a == b:
                    continue
                selfie = data[a] + i.to_bytes(4, "big")
                start = time.perf_counter()
                fresh.verify(niks[b], selfie, data[b])
                timings.append(time.perf_counter() - start)
            cpu = time.process_time() - cpu
        engine.dispose()
    report(
        "1:1 registry template kept, no cache",
        timings,
        cpu,
        f"{len(timings)} verifications; {len(data)} registry photos encoded once in {once:.1f} s",
    )


def report(label, timings, cpu, note):
    # CPU time is the steadier figure on a shared machine; wall-clock shows what a caller waits.
    print(
        f"{label:<38} {len(timings) / sum(timings):5.2f}/s/core wall, {len(timings) / cpu:5.2f}/s/core CPU;"
        f" median {statistics.median(timings) * 1000:4.0f} ms, p95 {percentile(timings, 95) * 1000:4.0f} ms,"
        f" max {max(timings) * 1000:4.0f} ms ({note})"
    )


def synthetic_templates(n, seed):
    """Templates spread like dlib encodings: a shared mean (norm 1.3) plus a person's offset on a
    decaying spectrum, so different people lie 0.65-1.0 apart (median 0.85, as the real photos)."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=128)
    mean *= 1.31 / np.linalg.norm(mean)
    spectrum = np.arange(1, 129) ** -0.35
    spectrum /= np.sqrt((spectrum**2).sum())
    basis = np.linalg.qr(rng.normal(size=(128, 128)))[0].astype(np.float32)
    groups = (rng.normal(size=(256, 128)) * spectrum * 0.35) @ basis.T  # village, age, sex...
    scale = (spectrum * 0.52).astype(np.float32)
    vectors = np.empty((n, 128), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(lo + 100_000, n)
        block = (rng.normal(size=(hi - lo, 128)).astype(np.float32) * scale) @ basis.T
        block += groups[rng.integers(0, 256, hi - lo)].astype(np.float32)
        block += mean.astype(np.float32)
        vectors[lo:hi] = block
    niks = 3510010101000000 + np.arange(n, dtype=np.int64)
    return vectors, niks


def planted_probes(vectors, count, seed):
    """``count`` duplicates: stored templates moved 0.10-0.48 in a random direction (threshold 0.5)."""
    rng = np.random.default_rng(seed)
    targets = rng.choice(len(vectors), count, replace=False)
    steps = rng.normal(size=(count, 128))
    steps /= np.linalg.norm(steps, axis=1, keepdims=True)
    steps *= rng.uniform(0.10, 0.48, size=(count, 1))
    return targets, (vectors[targets] + steps).astype(np.float32)


def bench_search(size, probes, planted):
    from integrations.face_matrix import AnnMatrix, TemplateMatrix

    start = time.perf_counter()
    vectors, niks = synthetic_templates(size, seed=size)
    generated = time.perf_counter() - start
    ids = np.arange(1, size + 1, dtype=np.int64)
    matrix = TemplateMatrix()
    start = time.perf_counter()
    for lo in range(0, size, 100_000):  # appended in batches, as catch-ups do
        hi = min(lo + 100_000, size)
        matrix.add_many(ids[lo:hi], niks[lo:hi], vectors[lo:hi])
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    ann = AnnMatrix(vectors)
    trained = time.perf_counter() - start
    for lo in range(0, size, 100_000):
        hi = min(lo + 100_000, size)
        ann.add_many(ids[lo:hi], niks[lo:hi], vectors[lo:hi])
    built = time.perf_counter() - start
    targets, queries = planted_probes(vectors, planted, seed=size + 1)
    exclude = [f"{3510010101000000 + (t + 1) % size:016d}" for t in targets]  # another NIK, as the handler

    def exact_search(q, skip):
        return matrix.search(q, k=5, threshold=0.5, exclude_nik=skip)

    def ann_search(q, skip):
        # Candidates, then the exact distance of each against its stored template and the real threshold.
        hits = ann.search(q, k=14, threshold=0.5, exclude_nik=skip)
        rows = np.asarray([h[0] - 1 for h in hits], dtype=np.int64)
        exact = np.linalg.norm(vectors[rows].astype(np.float64) - q.astype(np.float64), axis=1)
        return [(hits[i][0], hits[i][1], float(exact[i])) for i in np.argsort(exact) if exact[i] <= 0.5][:5]

    results = {}
    for label, search, count in (("exact", exact_search, min(probes, planted)), ("ANN", ann_search, planted)):
        timings, found, strangers = [], 0, 0
        for t, q, skip in zip(targets[:count], queries[:count], exclude[:count], strict=False):
            start = time.perf_counter()
            hits = search(q, skip)
            timings.append(time.perf_counter() - start)
            found += any(h[0] == t + 1 for h in hits)
            strangers += sum(h[0] != t + 1 for h in hits)
        results[label] = (timings, found, count, strangers)
    exact_t, ann_t = results["exact"][0], results["ANN"][0]
    exact_mib = (matrix._vectors.nbytes + matrix._norms.nbytes + matrix._ids.nbytes + matrix._niks.nbytes) / 2**20
    print(f"1:N over {size:>9,} templates (synthetic data generated in {generated:.1f} s)")
    for label, (timings, found, count, strangers) in results.items():
        print(
            f"    {label:<5} median {statistics.median(timings) * 1000:6.2f} ms"
            f"   p95 {percentile(timings, 95) * 1000:6.2f} ms"
            f"   planted duplicates found {found}/{count} ({found / count:.2%}); other faces within 0.5: {strangers}"
        )
    print(
        f"    memory: exact matrix {exact_mib:.0f} MiB, ANN {ann.nbytes() / 2**20:.0f} MiB"
        f" (IVF {ann.nlist} cells, {ann.nprobe} visited, 8-bit);"
        f" build: exact {loaded:.2f} s, ANN {built:.1f} s (k-means {trained:.1f} s)"
    )
    print(f"    exact p95 / ANN p95 = {percentile(exact_t, 95) / percentile(ann_t, 95):.0f}x")


def insert_templates(engine, vectors, niks, first, last, case_prefix, now):
    """Store templates first..last-1 as face_templates rows (case_ref = prefix + 7-digit number), 10,000 a statement."""
    from sqlalchemy import insert

    from integrations.face_index import face_templates

    with engine.begin() as conn:
        for lo in range(first, last, 10_000):
            conn.execute(
                insert(face_templates),
                [
                    {
                        "nik": f"{niks[i]:016d}",
                        "case_ref": f"{case_prefix}{i:07d}",
                        "created_at": now,
                        "encoding": vectors[i].astype("<f4").tobytes(),
                    }
                    for i in range(lo, min(lo + 10_000, last))
                ],
            )


def bench_rebuild(rows, catch_up=0):
    """Start-up of a worker's index: every row read (and, from ``BANSOS_FACE_INDEX_ANN_MIN_SIZE`` rows on,
    the approximate index trained) against starting from a snapshot file (``tepat face-index snapshot``),
    and from a snapshot that is `catch_up` templates behind the table (written before they were added)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from integrations.face_index import FaceTemplateIndex, face_metadata

    vectors, niks = synthetic_templates(rows + catch_up, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/faces.sqlite")
        face_metadata.create_all(engine)
        now = datetime.now(UTC)

        def insert_rows(first, last):
            insert_templates(engine, vectors, niks, first, last, "TPT-2026-", now)

        insert_rows(0, rows)
        snapshot = Path(tmp) / "face-index.npz"
        step = max(1, rows // 50)
        with Session(engine) as session:
            index = FaceTemplateIndex(lambda: session)  # no snapshot yet: the rebuild alone is timed
            start, cpu = time.perf_counter(), time.process_time()
            loaded = index.rebuild()
            rebuild, rebuild_cpu = time.perf_counter() - start, time.process_time() - cpu
            approximate = index.approximate
            index.snapshot_path = snapshot
            start = time.perf_counter()
            index.save_snapshot()  # what `tepat face-index snapshot` does
            write = time.perf_counter() - start
            timings = []
            for i in range(50):
                start = time.perf_counter()
                hits = index.search(vectors[i * step] + 0.005, k=5)
                timings.append(time.perf_counter() - start)
                assert hits and hits[0].case_ref == f"TPT-2026-{i * step:07d}"
            restarted = FaceTemplateIndex(lambda: session, snapshot_path=snapshot)
            start, cpu = time.perf_counter(), time.process_time()
            assert restarted.size == loaded  # the first use: the file read, the table caught up
            started, started_cpu = time.perf_counter() - start, time.process_time() - cpu
            hits = restarted.search(vectors[step] + 0.005, k=5)
            assert hits and hits[0].case_ref == f"TPT-2026-{step:07d}"
            size_mib = snapshot.stat().st_size / 2**20
            behind = None
            if catch_up:
                insert_rows(rows, rows + catch_up)  # committed after the file was written
                late = FaceTemplateIndex(lambda: session, snapshot_path=snapshot)
                start, cpu = time.perf_counter(), time.process_time()
                assert late.size == loaded + catch_up  # the file read, then every newer row caught up
                behind = time.perf_counter() - start, time.process_time() - cpu
                newest = rows + catch_up - 1
                hits = late.search(vectors[newest] + 0.005, k=5)
                assert hits and hits[0].case_ref == f"TPT-2026-{newest:07d}"
        engine.dispose()
    kind = "approximate (faiss IVF)" if approximate else "exact"
    print(
        f"rebuild from SQLite, {loaded:,} rows ({kind})  {rebuild:.2f} s ({rebuild_cpu:.2f} s CPU); then search "
        f"with catch-up: median {statistics.median(timings) * 1000:.1f} ms, p95 {percentile(timings, 95) * 1000:.1f} ms"
    )
    print(
        f"    start from the snapshot ({size_mib:.0f} MiB, written in {write:.2f} s): "
        f"{started:.2f} s ({started_cpu:.2f} s CPU) = {rebuild / started:.0f}x faster than the rebuild"
    )
    if behind is not None:
        print(
            f"    start from a snapshot {catch_up:,} templates behind the table: {behind[0]:.2f} s "
            f"({behind[1]:.2f} s CPU; {(behind[0] - started) / catch_up * 1e6:.1f} us per template caught up) "
            f"= {rebuild / behind[0]:.1f}x faster than the rebuild"
        )


def bench_dedup_postgres(url, templates, gaps, applications, threads, rest_ms):
    """Dedup cost per application on PostgreSQL, through ``FaceTemplateIndex.search_and_add``.

    The table holds ``templates`` rows and ``gaps`` rolled-back ids (as after that many failed
    submissions). Sequential: search_and_add + commit, p50/p95. Concurrent: ``threads`` threads, each
    application holding its transaction ``rest_ms`` after search_and_add (the service tasks that
    follow check_duplicates), then committing: applications per second.
    """
    import threading

    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from integrations.face_index import FaceTemplateIndex, face_metadata

    engine = create_engine(url, pool_size=threads + 4, max_overflow=threads * 2)
    face_metadata.drop_all(engine)
    face_metadata.create_all(engine)
    vectors, niks = synthetic_templates(templates, seed=5)
    now = datetime.now(UTC)
    insert_templates(engine, vectors, niks, 0, templates, "TPT-B-", now)
    fresh, _ = synthetic_templates(applications * (threads + 1) + 10, seed=6)
    counter = iter(range(10**9))

    def one(index, session, pause):
        i = next(counter)
        index.search_and_add(f"{3520000000000000 + i:016d}", f"TPT-N-{i:07d}", fresh[i])
        if pause:
            time.sleep(pause)
        session.commit()

    with Session(engine) as session:
        index = FaceTemplateIndex(lambda: session)
        index.rebuild()
        for _ in range(gaps):  # ids handed out to applications that rolled back
            index.add(f"{3530000000000000:016d}", "TPT-rolled-back", fresh[0])
            session.rollback()
        one(index, session, 0)  # a committed row after the gaps: the index notices them
        timings = []
        for _ in range(applications):
            start = time.perf_counter()
            one(index, session, 0)
            timings.append(time.perf_counter() - start)
        remembered = len(getattr(index, "_gaps", {}))
    print(
        f"dedup on PostgreSQL, {templates:,} templates, {gaps} rolled-back ids:"
        f" search_and_add + commit median {statistics.median(timings) * 1000:.1f} ms,"
        f" p95 {percentile(timings, 95) * 1000:.1f} ms ({applications} sequential; gaps still re-read: {remembered})"
    )

    index = FaceTemplateIndex(lambda: None)  # one process's index, shared by its threads
    sessions = {}
    local = threading.local()

    def session_of_thread():
        if not hasattr(local, "session"):
            local.session = Session(engine)
            sessions[threading.get_ident()] = local.session
        return local.session

    index._session_factory = session_of_thread
    session_of_thread().close()
    _ = index.size  # loaded before timing

    def worker(count):
        session = session_of_thread()
        for _ in range(count):
            one(index, session, rest_ms / 1000)

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(applications // threads,)) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    for session in sessions.values():
        session.close()
    print(
        f"    {threads} threads, each application holding its transaction {rest_ms} ms after the search:"
        f" {threads * (applications // threads) / elapsed:.1f} applications/s"
    )
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
    face_metadata.drop_all(engine)
    engine.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--planted", type=int, default=1000)
    parser.add_argument("--skip-million", action="store_true")
    parser.add_argument(
        "--postgres",
        help="also measure dedup per application on this PostgreSQL database "
        "(its face tables are dropped and recreated)",
    )
    parser.add_argument("--only-postgres", action="store_true")
    parser.add_argument("--pg-templates", type=int, default=100_000)
    parser.add_argument(
        "--rebuild-rows", type=int, default=100_000, help="rows for the rebuild / snapshot start-up figure"
    )
    parser.add_argument("--only-rebuild", action="store_true", help="only the rebuild / snapshot start-up figure")
    parser.add_argument(
        "--catch-up-rows",
        type=int,
        default=0,
        help="also start from a snapshot this many templates behind the table (rows added after the write)",
    )
    args = parser.parse_args()
    pin_to_one_core()
    print(f"one core, one BLAS thread; numpy {np.__version__}")
    if args.only_rebuild:
        bench_rebuild(args.rebuild_rows, args.catch_up_rows)
        return
    if args.postgres:
        bench_dedup_postgres(args.postgres, args.pg_templates, 2_000, 200, 4, 100)
        if args.only_postgres:
            return
    if (FACES / "manifest.csv").exists():
        bench_verification()
    else:
        print(f"1:1 verification skipped: no photos in {FACES}")
    bench_search(100_000, args.probes, args.planted)
    if not args.skip_million:
        bench_search(1_000_000, args.probes, args.planted)
    bench_rebuild(args.rebuild_rows, args.catch_up_rows)


if __name__ == "__main__":
    main()
