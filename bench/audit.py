"""Audited transactions and open-task counter updates per second with 1, 2, 4 and 8 writer processes.

What is measured
----------------
* Audit: each writer process appends audit entries with ``cases.audit.record`` (one entry per
  transaction, a random case as target, committed), as fast as it can for ``--seconds`` (4), all
  writers starting together. Once with one shard (``BANSOS_AUDIT_SHARDS=1``: the single chain as it
  was, every append waits for the one head row) and with more (``--shards``, 64 is the default
  setting); the settings take turns for each number of writers, so they see the same machine noise;
  ``--rounds`` (3) rounds, medians printed.
  Printed: transactions per second (all writers), the p95 of the time an append waited for its
  shard's head row (``_lock_head``), the p95 of a whole transaction, and the ratio of the 8-writer
  throughput to the 1-writer one, and the mean number of backends waiting for a row lock (sampled
  from pg_stat_activity every 5 ms: contention itself, apart from CPU starvation on a small machine).
  Afterwards ``verify_chain`` must pass (it is checked, not timed).
* Counters: each writer flips its own human tasks between "open" and "claimed" (one task per
  transaction, through the ORM, so ``engine.queuecounts`` updates the open-task counter of the one
  hot queue and district at commit), with ``BANSOS_COUNTER_SLOTS=1`` (one counter row, as it was)
  and ``--slots`` (8, the default). Printed as above (the wait is the whole commit, where the
  counter upsert runs), and the counts read by ``open_counts`` must equal a COUNT over human_tasks.

The database (``--postgres URL``, or TEPAT_BENCH_POSTGRES_URL) is wiped (every table dropped and
created again): give it a throwaway database. PostgreSQL only: SQLite has one write lock for the
whole file, so its writers queue whatever the schema does.

    .venv/bin/python bench/audit.py --postgres postgresql+psycopg://127.0.0.1/tepat_bench
                                    [--seconds 4] [--writers 1,2,4,8] [--shards 1,16,64] [--slots 1,8]
"""

import argparse
import multiprocessing
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.common import p95  # noqa: E402

TASKS_PER_WRITER = 50


def _flask_context(shards=None, slots=None):
    """A bare app context carrying the settings cases.audit and engine.queuecounts read."""
    from flask import Flask

    app = Flask("bench", root_path=str(ROOT))
    if shards is not None:
        app.config["BANSOS_AUDIT_SHARDS"] = shards
    if slots is not None:
        app.config["BANSOS_COUNTER_SLOTS"] = slots
    return app.app_context()


def _audit_writer(url, shards, writer, start_at, seconds, out):
    from cases import audit

    waits = []
    original = audit._lock_head

    def timed_lock(session, shard):
        t0 = time.perf_counter()
        try:
            return original(session, shard)
        finally:
            waits.append(time.perf_counter() - t0)

    audit._lock_head = timed_lock
    engine = create_engine(url)
    rng = random.Random(writer)
    latencies = []
    with _flask_context(shards=shards), Session(engine) as session:
        session.execute(text("SELECT 1"))
        session.commit()
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.time() < end:
            t0 = time.perf_counter()
            audit.record(
                session,
                f"w{writer}",
                "case.view",
                "case",
                f"TPT-2026-{rng.randrange(10**7):07d}",
                ip="10.0.0.1",
                user_agent="bench",
                detail={"section": "evidence"},
                roles=("caseworker",),
            )
            session.commit()
            latencies.append(time.perf_counter() - t0)
    engine.dispose()
    out.put((len(latencies), waits, latencies))


def _counter_writer(url, slots, writer, start_at, seconds, out):
    from engine.models import HumanTask

    engine = create_engine(url)
    rng = random.Random(writer)
    latencies, commits = [], []
    with _flask_context(slots=slots), Session(engine) as session:
        ids = session.scalars(select(HumanTask.id).where(HumanTask.assignee == f"w{writer}")).all()
        session.commit()
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.time() < end:
            t0 = time.perf_counter()
            task = session.get(HumanTask, rng.choice(ids))
            task.status = "claimed" if task.status == "open" else "open"
            session.flush()
            t1 = time.perf_counter()
            session.commit()  # the counter upsert runs here (before_commit)
            t2 = time.perf_counter()
            commits.append(t2 - t1)
            latencies.append(t2 - t0)
    engine.dispose()
    out.put((len(latencies), commits, latencies))


def _guarded(target, *args):
    out = args[-1]
    try:
        target(*args)
    except BaseException:  # reported by the parent
        import traceback

        out.put(traceback.format_exc())


def _sample_lock_waits(url, start_at, end_at, samples):
    """Count, every 5 ms, the backends of this database waiting for a lock (a row lock: a head or a counter)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < end_at:
            samples.append(conn.execute(query).scalar())
            conn.commit()
            time.sleep(0.005)
    engine.dispose()


def _run(target, url, setting, writers, seconds):
    """Run `writers` processes for `seconds`; return (tx/s, wait p95 ms, tx p95 ms, mean lock-waiting writers)."""
    import threading

    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 1.5 + 0.1 * writers
    procs = [
        ctx.Process(target=_guarded, args=(target, url, setting, w, start_at, seconds, out)) for w in range(writers)
    ]
    for p in procs:
        p.start()
    samples = []
    sampler = threading.Thread(target=_sample_lock_waits, args=(url, start_at + 0.2, start_at + seconds - 0.2, samples))
    sampler.start()
    results = [out.get(timeout=120 + seconds) for _ in procs]
    sampler.join()
    failed = [r for r in results if isinstance(r, str)]
    if failed:
        raise SystemExit(f"a writer failed: {failed[0]}")
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    waits = sorted(t for r in results for t in r[1])
    latencies = sorted(t for r in results for t in r[2])
    return done / seconds, p95(waits) * 1000, p95(latencies) * 1000, sum(samples) / max(1, len(samples))


def _seed_tasks(engine, writers):
    from engine.db import utcnow
    from engine.models import HumanTask, ProcessInstance, ProcessVersion
    from engine.queuecounts import rebuild_open_counts

    with Session(engine) as session:
        session.execute(
            ProcessVersion.__table__.insert(),
            [
                {
                    "id": 1,
                    "process_id": "application",
                    "number": 1,
                    "name": "application",
                    "content_hash": "0" * 64,
                    "files": {},
                    "spec_json": "{}",
                    "serializer_version": "bench",
                    "deployed_by": "bench",
                    "deployed_at": utcnow(),
                }
            ],
        )
        session.execute(
            ProcessInstance.__table__.insert(),
            [
                {
                    "id": 1,
                    "version_id": 1,
                    "business_key": "TPT-BENCH",
                    "region": "01",
                    "status": "running",
                    "state_json": "{}",
                    "serializer_version": "bench",
                }
            ],
        )
        session.execute(
            HumanTask.__table__.insert(),
            [
                {
                    "instance_id": 1,
                    "task_guid": f"{w:04d}-{i:04d}",
                    "bpmn_id": "review",
                    "queue": "caseworker",
                    "region": "01",
                    "business_key": "TPT-BENCH",
                    "status": "open",
                    "assignee": f"w{w}",
                    "excluded_after": [],
                    "flags": [],
                }
                for w in range(max(writers))
                for i in range(TASKS_PER_WRITER)
            ],
        )
        rebuild_open_counts(session)
        session.commit()


def _check_counts(engine):
    from engine.models import HumanTask
    from engine.queuecounts import open_counts

    with _flask_context(), Session(engine) as session:
        counted = session.scalar(select(func.count()).where(HumanTask.status == "open"))
        read = open_counts(session, {"caseworker"}).get(("caseworker", "01"), 0)
        rows = session.scalar(text("SELECT count(*) FROM open_task_counts"))
    assert read == counted, f"counters say {read}, human_tasks {counted}"
    return read, rows


def _compare(target, url, name, settings, writers, args):
    """Every setting for every number of writers, in turns, `--rounds` times; the median of each figure."""
    import statistics

    runs = {(setting, n): [] for setting in settings for n in writers}
    for _round in range(args.rounds):
        for n in writers:
            for setting in settings:
                runs[setting, n].append(_run(target, url, int(setting), n, args.seconds))
    return {
        f"{name}={setting}": {
            n: tuple(statistics.median(figures) for figures in zip(*runs[setting, n], strict=False)) for n in writers
        }
        for setting in settings
    }


def _table(title, rows, writers):
    print(f"\n{title}")
    print(f"{'setting':>22} {'writers':>7} {'tx/s':>8} {'wait p95 ms':>12} {'tx p95 ms':>10} {'lock-waiting':>13}")
    for setting, figures in rows.items():
        for n in writers:
            tps, wait, latency, waiting = figures[n]
            print(f"{setting:>22} {n:>7} {tps:>8.0f} {wait:>12.2f} {latency:>10.2f} {waiting:>13.2f}")
        if 1 in figures and max(writers) in figures:
            ratio = figures[max(writers)][0] / figures[1][0]
            print(f"{setting:>22} ratio {max(writers)} writers / 1 writer: {ratio:.2f}")
    print("(medians over the rounds; lock-waiting: mean number of backends waiting for a row lock, sampled every 5 ms)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("TEPAT_BENCH_POSTGRES_URL"), required=False)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--writers", default="1,2,4,8")
    parser.add_argument("--shards", default="1,16,64", help="BANSOS_AUDIT_SHARDS values compared (1 = one chain)")
    parser.add_argument("--slots", default="1,8", help="BANSOS_COUNTER_SLOTS values compared (1 = one row)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every setting; medians are printed")
    parser.add_argument("--only", choices=("audit", "counters"))
    args = parser.parse_args()
    if not args.postgres:
        parser.error("--postgres URL (or TEPAT_BENCH_POSTGRES_URL) is required: a throwaway PostgreSQL database")
    writers = [int(w) for w in args.writers.split(",")]

    from cases.audit import verify_chain
    from web.schema import reset_schema

    engine = create_engine(args.postgres)
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
    print(
        f"PostgreSQL {version}; {os.cpu_count()} CPU(s); {args.seconds:g} s per run; the settings compared run "
        f"in turns for each number of writers (the same machine noise); medians of {args.rounds} rounds"
    )
    if args.only != "counters":
        reset_schema(engine)
        engine.dispose()
        rows = _compare(_audit_writer, args.postgres, "audit shards", args.shards.split(","), writers, args)
        with _flask_context(), Session(engine) as session:
            result = verify_chain(session)
            assert result.ok, result
            print(f"audit: verify_chain ok, {result.checked} entries in {len(result.shards) - 1} shard(s)")
        engine.dispose()
        _table("Audited transactions (one audit entry per transaction; wait = for the shard's head row)", rows, writers)
    if args.only != "audit":
        reset_schema(engine)
        _seed_tasks(engine, writers)
        engine.dispose()
        rows = _compare(_counter_writer, args.postgres, "counter slots", args.slots.split(","), writers, args)
        read, count_rows = _check_counts(engine)
        print(f"counters: open_counts = COUNT(*) = {read} ({count_rows} counter rows)")
        engine.dispose()
        _table(
            "Task changes in one hot queue and district (wait = the commit, where the counter upsert runs)",
            rows,
            writers,
        )


if __name__ == "__main__":
    main()
