"""Quarterly re-verification of N enrolled families on PostgreSQL with 1 and 2 real worker processes.

For each worker count: the schema is reset, a registry of N families (a head and a school child each)
and N enrolled cases are written with bulk SQL (INSERT ... SELECT generate_series, no submissions),
`tepat worker --pool solo` processes are started on a queue of the bench's own (BANSOS_QUEUE,
purged before and deleted after), the quarter's re-verification run is started as `tepat reverify`
would and its chunk hints go to the workers. Prints families per second, the ratio 2 / 1 measured in
this one invocation, and the correctness counts (when no item moved for STALL_SECONDS, e.g. a hint
lost when the broker dropped the workers' connections, the leader dispatcher's round is run: chunks
due and not hinted within BANSOS_DISPATCH_RESEND_SECONDS are hinted again; how many is printed): every family
re-checked once (one Recheck row and
one run item done each), outcomes by kind against the registry's planted mix (1 in 20 families
above the decile cut-off: exit; 1 in 20 not in DTSEN: review; the rest continue). The planner statistics
are refreshed every minute as autovacuum would (this machine runs PostgreSQL with autovacuum off). Not a test.

    PYTHONPATH=. python bench/recheck.py --n 2000 [--workers 1,2] [--chunk-size 50]
        [--database postgresql+psycopg://postgres@127.0.0.1:5432/tepat_recheck_bench]

The database is created if missing and its tables are dropped and created again: use a bench database.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/tepat_recheck_bench"
BROKER = os.environ.get("BANSOS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
QUEUE = "tepat_recheck_bench"
STALL_SECONDS = 60


def ensure_database(url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}):
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def purge_queue(delete=False):
    from kombu import Connection

    with Connection(BROKER, connect_timeout=5) as conn:
        channel = conn.default_channel
        try:
            if delete:
                channel.queue_delete(QUEUE)
            else:
                channel.queue_purge(QUEUE)
        except Exception:  # noqa: BLE001  (no such queue yet)
            pass


def populate(session, n):
    """N families (head + school child) in the sandbox registry and N enrolled cases, set-based."""
    from sqlalchemy import text

    # Family i (0-based): district 01-25; NIKs 3510 DD DDMMYY SSSS unique per (district, date, serial).
    session.execute(
        text("""
        CREATE TEMP TABLE bench_f ON COMMIT DROP AS
        SELECT i, lpad((i % 25 + 1)::text, 2, '0') AS d,
               (i / 25) % 9000 + 1 AS serial, (i / 25) / 9000 AS dayidx
        FROM generate_series(0, :n - 1) AS i"""),
        {"n": n},
    )
    session.execute(
        text("""
        CREATE TEMP TABLE bench_fam ON COMMIT DROP AS
        SELECT i, d,
          '3510' || d || lpad(((dayidx % 28) + 1)::text, 2, '0') || '0380' || lpad(serial::text, 4, '0') AS head,
          '3510' || d || lpad(((dayidx % 28) + 1 + 40)::text, 2, '0') || '0515' || lpad(serial::text, 4, '0') AS child,
          '3510' || d || lpad(i::text, 10, '0') AS kk
        FROM bench_f""")
    )
    session.execute(
        text("""
        INSERT INTO sandbox_households (kk_number, district_code, village, head_nik)
        SELECT kk, d, 'Desa Bench', head FROM bench_fam""")
    )
    session.execute(
        text("""
        INSERT INTO sandbox_people (nik, kk_number, name, sex, birth_date, relation, district_code, district_name,
                                    village, address, alive, death_date, disability, pregnant, school_level, photo_ref)
        SELECT head, kk, 'KEPALA ' || i, 'M', make_date(1980, 3, (i / 25 / 9000) % 28 + 1), 'KEPALA', d,
               'Kecamatan ' || d, 'Desa Bench', 'Jl. Bench ' || i,
               true, NULL::date, false, false, NULL::text, NULL::text
        FROM bench_fam
        UNION ALL
        SELECT child, kk, 'ANAK ' || i, 'F', make_date(2015, 5, (i / 25 / 9000) % 28 + 1), 'ANAK', d,
               'Kecamatan ' || d, 'Desa Bench', 'Jl. Bench ' || i, true, NULL::date, false, false, 'SD', NULL::text
        FROM bench_fam""")
    )
    # 1 in 20 families above the cut-off (exit), 1 in 20 not in DTSEN (review), the rest decile 2.
    session.execute(
        text("""
        INSERT INTO sandbox_dtsen (kk_number, decile, updated_at)
        SELECT kk, CASE WHEN i % 20 = 0 THEN 9 ELSE 2 END, DATE '2026-10-01' FROM bench_fam WHERE i % 20 <> 1""")
    )
    session.execute(
        text("""
        INSERT INTO sandbox_assets (kk_number, four_wheel_vehicles, electricity_va, electricity_subsidised)
        SELECT kk, 0, 450, true FROM bench_fam""")
    )
    session.execute(
        text("""
        INSERT INTO sandbox_bpjs_health (nik, segment, active) SELECT head, 'PBI', true FROM bench_fam""")
    )
    session.execute(
        text("""
        INSERT INTO applications (nik, active_nik, case_number, applicant_name, kk_number, district_code,
            district_name, village, channel, payment_channel, bank_account, consent_version, consent_at, status,
            decision, decided_by, reasons, review_flags, programmes, benefits, created_at, decided_at, updated_at)
        SELECT head, head, 'TPT-BENCH-' || lpad(i::text, 7, '0'), 'KEPALA ' || i, kk, d, 'Kecamatan ' || d,
               'Desa Bench', 'self', 'BANK', '1234567890', 'v1', now(), 'ENROLLED', 'approve', 'rules',
               '[]'::json, '[]'::json, '["PKH", "BPNT"]'::json,
               '{"annual_cash_total": 3300000}'::json, now(), now(), now()
        FROM bench_fam""")
    )
    session.execute(
        text("""
        INSERT INTO enrolments (application_id, nik, programmes, benefits, enrolled_at)
        SELECT id, nik, programmes, benefits, now() FROM applications WHERE status = 'ENROLLED'""")
    )
    session.commit()
    expected = {"exit": len(range(0, n, 20)), "review": len(range(1, n, 20))}
    expected["continue"] = n - expected["exit"] - expected["review"]
    return expected


ANALYSE_EVERY = 60


def analyse(engine):
    """Refresh the planner's statistics, as autovacuum's analyze does on a production server.

    This machine's PostgreSQL runs with autovacuum off: without it the tables that grow during the run
    (evidence, rechecks, process instances) keep the statistics of their empty start, and the plans
    cached on the workers' connections go on scanning them (each family slower than the one before).
    ANALYZE also makes the connections plan again. Run after the bulk load and every ANALYSE_EVERY s.
    """
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def measure(url, n, workers, chunk_size, timeout):
    from sqlalchemy import func, select

    from cases.models import Recheck
    from cases.programme import start_reverify_run
    from engine.core import Actor
    from engine.db import db
    from engine.runs import Run, RunItem
    from web import create_app, services
    from web.runs_exec import chunk_hint_sender, dispatch_chunks
    from web.schema import reset_schema

    settings = {
        "BANSOS_DATABASE_URL": url,
        "BANSOS_SCHEDULER_ENABLED": False,
        "BANSOS_EXECUTION": "celery",
        "BANSOS_BROKER_URL": BROKER,
        "BANSOS_QUEUE": QUEUE,
        "BANSOS_RUN_CHUNK_SIZE": chunk_size,
        "BANSOS_DISPATCH_RESEND_SECONDS": STALL_SECONDS,
    }
    app = create_app(settings)
    with app.app_context():
        db.session.remove()
        reset_schema(db.engine)
        t0 = time.perf_counter()
        expected = populate(db.session, n)
        populated = time.perf_counter() - t0
        analyse(db.engine)
        svc = services()
        svc.engine.deploy_folder(deployed_by="bench")
        db.session.commit()
        purge_queue()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in settings.items() if not isinstance(v, bool)},
            "BANSOS_SCHEDULER_ENABLED": "false",
        }
        logs, procs = [], []
        for w in range(workers):
            log = open(f"/tmp/tepat_recheck_bench_worker{w}.log", "w")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "web.cli",
                        "worker",
                        "--pool",
                        "solo",
                        "--loglevel",
                        "WARNING",
                        "--hostname",
                        f"bench{w}@recheck",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        try:
            time.sleep(6)  # the workers connect and start consuming
            admin = Actor(id="bench", roles=frozenset({"administrator"}), regions=None, name="bench")
            t0 = time.perf_counter()
            run = start_reverify_run(svc.engine, admin, "2026Q4")
            db.session.commit()  # the chunk hints go to the queue after this commit
            run_id = run.id
            deadline = time.monotonic() + timeout
            resent, seen, moved = 0, -1, time.monotonic()
            analysed = time.monotonic()
            while time.monotonic() < deadline:
                if time.monotonic() - analysed >= ANALYSE_EVERY:
                    analyse(db.engine)
                    analysed = time.monotonic()
                db.session.rollback()
                run = db.session.get(Run, run_id)
                db.session.refresh(run)
                if run.status not in ("queued", "running"):
                    break
                progress = run.done + run.failed  # the run's own counters (counting its items would scan them)
                if progress != seen:
                    seen, moved = progress, time.monotonic()
                elif time.monotonic() - moved >= STALL_SECONDS:  # the leader dispatcher's round
                    db.session.rollback()
                    resent += dispatch_chunks(app, chunk_hint_sender(app.config))
                    moved = time.monotonic()
                time.sleep(0.5)
            elapsed = time.perf_counter() - t0
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
            for log in logs:
                log.close()
        run = db.session.get(Run, run_id)
        db.session.refresh(run)
        rechecks = db.session.scalar(select(func.count()).select_from(Recheck))
        distinct = db.session.scalar(select(func.count(func.distinct(Recheck.application_id))))
        items_done = db.session.scalar(
            select(func.count()).select_from(RunItem).where(RunItem.run_id == run_id, RunItem.status == "done")
        )
        attempts = db.session.scalar(select(func.max(RunItem.attempts)).where(RunItem.run_id == run_id))
        outcomes = dict(run.outcomes or {})
        ok = run.status == "done" and rechecks == distinct == items_done == n and attempts == 1 and outcomes == expected
        rate = run.done / elapsed if elapsed else 0.0
        print(
            f"{workers} worker(s): {n} families populated in {populated:.1f} s; run {run.status} in "
            f"{elapsed:.1f} s = {rate:.1f} families/s; done {run.done} failed {run.failed}; "
            f"re-checks {rechecks} ({distinct} families, max attempts {attempts}); outcomes "
            f"{dict(sorted(outcomes.items()))} expected {dict(sorted(expected.items()))}; "
            f"hints re-sent by the dispatcher round {resent}: "
            f"{'CORRECT' if ok else 'WRONG'}",
            flush=True,
        )
        db.session.rollback()
        db.session.remove()  # its connection's transaction would hold the tables the reset drops
        reset_schema(db.engine)
        db.engine.dispose()
        return rate, ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--chunk-size", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--database", default=DEFAULT_DB, help="a PostgreSQL URL (its tables are reset!)")
    args = parser.parse_args()
    ensure_database(args.database)
    rates = {}
    try:
        for w in [int(x) for x in args.workers.split(",")]:
            rates[w], _ok = measure(args.database, args.n, w, args.chunk_size, args.timeout)
    finally:
        purge_queue(delete=True)
    if 1 in rates and 2 in rates and rates[1]:
        print(f"ratio 2 / 1 workers: {rates[2] / rates[1]:.2f} (N = {args.n}, chunks of {args.chunk_size})")


if __name__ == "__main__":
    main()
