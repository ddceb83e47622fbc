"""Latency of the caseworker inbox queries over a large human-task table.

What is measured
----------------
The two queries behind the inbox (``engine.humantasks.list_tasks`` and ``queue_counts``), called as
the app calls them (ORM session, rows loaded as ``HumanTask`` objects), for realistic officers:

* a caseworker with one district, a caseworker with three districts, a supervisor with every
  district, an administrator (roles administrator + supervisor, every district, like the demo
  ``admin``), an appeals officer with one district (a small queue), and the "mine" view of a
  caseworker (``mine=True``);
* ``--runs`` (200) timed calls per query, each list call on a random page among the first
  ``--pages`` (10) pages of 50 (``offset`` 0..450), after 5 untimed warm-up calls; each call gets a
  fresh session whose connection is checked out before the clock starts (the per-request pool
  ping is not timed). Median, p95 and max in milliseconds; the target is p95 < 50 ms.

The data: ``--tasks`` (1,000,000) active human tasks, one per waiting process instance, ~10 %
claimed by an officer of their queue and district, the rest open; queues by task type as in
``processes/`` (review / review_escalated / removal_review -> caseworker, approve /
approve_removal -> supervisor, appeal_review -> appeals_officer, with the diagrams' priorities),
25 districts ``01``..``25`` of uneven size, due dates spread over now +/- 30 days (0.2 % without
one), a few flags (DUPLICATE_FACE_SUSPECTED on 0.3 %). History: the earlier tasks of those
instances (the completed review before an approval or an appeal, the review cancelled by an SLA
escalation) plus ``--history`` (250,000) finished instances with one completed or cancelled task.
Rows are written with Core-level bulk inserts (executemany in batches on SQLite, COPY on
PostgreSQL) with the secondary indexes dropped and then re-created from the models; PostgreSQL gets
a VACUUM ANALYZE afterwards (what autovacuum does to a table that grew this much); SQLite gets no
ANALYZE (the app never runs one). Seeding time is printed but is not the figure of interest.

Each backend gets its own throwaway database: a temporary SQLite file, and on PostgreSQL
(``--postgres URL`` or TEPAT_BENCH_POSTGRES_URL) a ``tepat_inbox_bench`` database created and
dropped by the script through the server's ``postgres`` database. ``--explain`` prints the query
plan of each list/count query (page 10 for lists).

    .venv/bin/python bench/inbox.py [--tasks 1000000] [--history 250000] [--runs 200] [--no-sqlite]
                                    [--postgres URL] [--explain]
"""

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.common import postgres_bench_url  # noqa: E402

BENCH_DB = "tepat_inbox_bench"
TARGET_MS = 50.0
PAGE = 50
BATCH = 20_000
DISTRICTS = [f"{d:02d}" for d in range(1, 26)]
# Uneven district sizes (the largest about 4x the smallest), fixed so runs compare.
DISTRICT_WEIGHTS = [random.Random(3).uniform(1.0, 4.0) for _ in DISTRICTS]
# Active task types: (bpmn_id, name, queue, form, priority, sla working days, share)
TASK_TYPES = [
    ("review", "Tinjau kasus / Review case", "caseworker", "case_review", 50, 3, 0.55),
    ("review_escalated", "Tinjau kasus (eskalasi) / Review case (escalated)", "caseworker", "case_review", 80, 2, 0.08),
    ("removal_review", "Tinjau penghapusan / Review removal", "caseworker", "removal_review", 50, 5, 0.05),
    ("approve", "Setujui kasus / Approve case", "supervisor", "approval", 60, 2, 0.17),
    ("approve_removal", "Setujui penghapusan / Approve removal", "supervisor", "removal_approval", 60, 2, 0.03),
    ("appeal_review", "Tinjau sanggahan / Review appeal", "appeals_officer", "appeal_review", 70, 10, 0.12),
]
EXCLUDED = {"approve": ["review", "review_escalated", "appeal_review"], "approve_removal": ["removal_review"]}
OFFICERS_PER_DISTRICT = {"caseworker": 8, "supervisor": 2, "appeals_officer": 1}
OTHER_FLAGS = ["NO_SELFIE", "NIK_UNKNOWN", "NO_FACE_DETECTED"]

INSTANCE_COLS = (
    "id",
    "version_id",
    "business_key",
    "region",
    "status",
    "state_json",
    "serializer_version",
    "wake_at",
    "lock_version",
    "created_at",
    "updated_at",
)
TASK_COLS = (
    "id",
    "instance_id",
    "task_guid",
    "bpmn_id",
    "name",
    "queue",
    "region",
    "form_name",
    "business_key",
    "priority",
    "due_at",
    "status",
    "assignee",
    "excluded_after",
    "flags",
    "created_at",
    "claimed_at",
    "completed_at",
    "completed_by",
    "data",
)


def officer(queue, district, n):
    """Officer usernames by queue and district: cw_07_3, sup_07_1, appeals_07_1."""
    prefix = {"caseworker": "cw", "supervisor": "sup", "appeals_officer": "appeals"}[queue]
    return f"{prefix}_{district}_{n}"


# --- seeding ---------------------------------------------------------------------------------------


def generate(n_tasks, n_history, seed, now):
    """Yield ("instance", row) and ("task", row) tuples, instances before their tasks, in batches."""
    rng = random.Random(seed)
    naive_now = now.replace(tzinfo=None)
    types = list(TASK_TYPES)
    weights = [t[6] for t in TASK_TYPES]
    type_of = {t[0]: t for t in TASK_TYPES}
    no_flags = "[]"
    task_id = 0
    inst_batch, task_batch = [], []

    def flags_for():
        r = rng.random()
        if r < 0.003:
            return json.dumps(["DUPLICATE_FACE_SUSPECTED"])
        if r < 0.02:
            return json.dumps([rng.choice(OTHER_FLAGS)])
        return no_flags

    def history_task(inst_id, key, district, bpmn_id, status, at):
        nonlocal task_id
        t = type_of[bpmn_id]
        task_id += 1
        actor = officer(t[2], district, rng.randint(1, OFFICERS_PER_DISTRICT[t[2]]))
        done = status == "completed"
        return (
            task_id,
            inst_id,
            str(uuid.UUID(int=rng.getrandbits(128))),
            bpmn_id,
            t[1],
            t[2],
            district,
            t[3],
            key,
            t[4],
            at + timedelta(days=t[5]),
            status,
            actor if done else None,
            json.dumps(EXCLUDED.get(bpmn_id, [])),
            no_flags,
            at - timedelta(days=1),
            at - timedelta(hours=6) if done else None,
            at,
            actor if done else None,
            json.dumps({"review_decision": "approve"}) if done else None,
        )

    total = n_tasks + n_history
    for i in range(1, total + 1):
        district = rng.choices(DISTRICTS, DISTRICT_WEIGHTS)[0]
        key = f"TPT-2026-{i:07d}"
        if i <= n_tasks:  # a waiting instance with one active task (and maybe earlier ones)
            t = rng.choices(types, weights)[0]
            bpmn_id, name, queue, form, prio, sla = t[:6]
            due = None if rng.random() < 0.002 else naive_now + timedelta(seconds=rng.uniform(-30, 30) * 86400)
            created = (due or naive_now) - timedelta(days=sla * 1.4, seconds=rng.uniform(0, 7200))
            inst_batch.append(
                (i, 1, key, district, "waiting", "{}", "bench", None, 0, created - timedelta(days=3), created)
            )
            if bpmn_id in ("approve", "appeal_review"):
                task_batch.append(history_task(i, key, district, "review", "completed", created))
            elif bpmn_id == "review_escalated":
                task_batch.append(history_task(i, key, district, "review", "cancelled", created))
            elif bpmn_id == "approve_removal":
                task_batch.append(history_task(i, key, district, "removal_review", "completed", created))
            claimed = rng.random() < 0.10
            assignee = officer(queue, district, rng.randint(1, OFFICERS_PER_DISTRICT[queue])) if claimed else None
            task_id += 1
            task_batch.append(
                (
                    task_id,
                    i,
                    str(uuid.UUID(int=rng.getrandbits(128))),
                    bpmn_id,
                    name,
                    queue,
                    district,
                    form,
                    key,
                    prio,
                    due,
                    "claimed" if claimed else "open",
                    assignee,
                    json.dumps(EXCLUDED.get(bpmn_id, [])),
                    flags_for(),
                    created,
                    created + timedelta(hours=5) if claimed else None,
                    None,
                    None,
                    None,
                )
            )
        else:  # a finished instance and its last task
            created = naive_now - timedelta(days=rng.uniform(31, 400))
            status = "completed" if rng.random() < 0.9 else "cancelled"
            inst_batch.append((i, 1, key, district, status, "{}", "bench", None, 0, created, created))
            task_batch.append(history_task(i, key, district, rng.choice(["review", "approve"]), status, created))
        if len(task_batch) >= BATCH:
            yield inst_batch, task_batch
            inst_batch, task_batch = [], []
    if task_batch or inst_batch:
        yield inst_batch, task_batch


def secondary_indexes(table):
    """The table's Index objects (the PK and unique constraints stay in place during the load)."""
    return sorted(table.indexes, key=lambda ix: ix.name)


def seed(engine, n_tasks, n_history, now):
    """Fresh schema, one process version, instances and tasks; returns (instances, tasks, seconds)."""
    from engine.models import HumanTask, ProcessInstance, ProcessVersion
    from web.schema import reset_schema

    started = time.perf_counter()
    reset_schema(engine)
    tables = (ProcessInstance.__table__, HumanTask.__table__)
    with engine.begin() as conn:
        conn.execute(
            ProcessVersion.__table__.insert(),
            [
                {
                    "id": 1,
                    "process_id": "application",
                    "name": "application",
                    "content_hash": "0" * 64,
                    "files": {},
                    "spec_json": "{}",
                    "serializer_version": "bench",
                    "deployed_at": now,
                    "deployed_by": "bench",
                }
            ],
        )
        for table in tables:
            for ix in secondary_indexes(table):
                ix.drop(conn)
    n_inst = n_task = 0
    postgres = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if postgres:
            inst_sql = f"COPY process_instances ({', '.join(INSTANCE_COLS)}) FROM STDIN"
            task_sql = f"COPY human_tasks ({', '.join(TASK_COLS)}) FROM STDIN"
        else:
            inst_sql = (
                f"INSERT INTO process_instances ({', '.join(INSTANCE_COLS)}) "
                f"VALUES ({', '.join('?' * len(INSTANCE_COLS))})"
            )
            task_sql = f"INSERT INTO human_tasks ({', '.join(TASK_COLS)}) VALUES ({', '.join('?' * len(TASK_COLS))})"
        for inst_rows, task_rows in generate(n_tasks, n_history, 5, now):
            if postgres:
                for sql, rows in ((inst_sql, inst_rows), (task_sql, task_rows)):
                    with cur.copy(sql) as copy:
                        for row in rows:
                            copy.write_row(row)
            else:
                cur.executemany(inst_sql, [_sqlite_row(r) for r in inst_rows])
                cur.executemany(task_sql, [_sqlite_row(r) for r in task_rows])
            n_inst += len(inst_rows)
            n_task += len(task_rows)
        raw.commit()
        if postgres:
            for table in ("process_instances", "human_tasks"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            raw.commit()
        cur.close()
    finally:
        raw.close()
    loaded = time.perf_counter() - started
    with engine.begin() as conn:
        for table in tables:
            for ix in secondary_indexes(table):
                ix.create(conn)
    with Session(engine) as session:  # the rows went in with Core: count the open tasks once, as a migration does
        from engine.queuecounts import rebuild_open_counts

        rebuild_open_counts(session)
        session.commit()
    indexed = time.perf_counter() - started - loaded
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE process_instances"))
            conn.execute(text("VACUUM ANALYZE human_tasks"))
    return n_inst, n_task, loaded, indexed, time.perf_counter() - started


def _sqlite_row(row):
    """SQLite stores datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' (what SQLAlchemy's DateTime writes)."""
    return tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)


# --- measuring -------------------------------------------------------------------------------------


def actors():
    """(label, Actor, mine) of the officers whose inbox is measured."""
    from engine.core import Actor

    return [
        ("caseworker, 1 district (07)", Actor("cw_07_1", frozenset({"caseworker"}), frozenset({"07"})), False),
        (
            "caseworker, 3 districts (03,11,19)",
            Actor("cw_03_1", frozenset({"caseworker"}), frozenset({"03", "11", "19"})),
            False,
        ),
        ("supervisor, all districts", Actor("sup_01_1", frozenset({"supervisor"}), None), False),
        (
            "admin (administrator+supervisor), all",
            Actor("admin", frozenset({"administrator", "supervisor"}), None),
            False,
        ),
        (
            "appeals officer, 1 district (07)",
            Actor("appeals_07_1", frozenset({"appeals_officer"}), frozenset({"07"})),
            False,
        ),
        ("caseworker 07, mine", Actor("cw_07_1", frozenset({"caseworker"}), frozenset({"07"})), True),
    ]


def percentile(values, q):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def timed(engine, fn, runs, rng, warmup=5):
    """Call fn(session, rng) warmup + runs times, each in a fresh session; return (ms list, rows list)."""
    times, sizes = [], []
    for i in range(warmup + runs):
        with Session(engine) as session:
            session.connection()  # pool checkout (and its ping) outside the clock
            t0 = time.perf_counter()
            result = fn(session, rng)
            elapsed = (time.perf_counter() - t0) * 1000
            session.rollback()
        if i >= warmup:
            times.append(elapsed)
            sizes.append(len(result))
    return times, sizes


def explain(engine, stmt_fn):
    """Print the plan of the statement the function would run."""
    from sqlalchemy import event

    captured = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with Session(engine) as session:
            stmt_fn(session)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, parameters = captured[-1]
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(prefix + statement, parameters)
        for row in cur.fetchall():
            print("        " + (row[0] if engine.dialect.name == "postgresql" else f"{row[1]:>3} {row[3]}"))
        cur.close()
        raw.rollback()
    finally:
        raw.close()


def measure(engine, label, runs, pages, show_plans):
    from engine.humantasks import list_tasks, queue_counts

    rng = random.Random(17)
    results = []
    print(f"  {'query':<62} {'median':>8} {'p95':>8} {'max':>8}   rows/call")
    for who, actor, mine in actors():
        if mine:
            cases = [
                (
                    f"list_tasks mine=True  [{who}]",
                    lambda s, r, a=actor: list_tasks(s, a, mine=True, offset=PAGE * r.randrange(pages)),
                    lambda s, a=actor: list_tasks(s, a, mine=True),
                )
            ]
        else:
            cases = [
                (
                    f"list_tasks            [{who}]",
                    lambda s, r, a=actor: list_tasks(s, a, offset=PAGE * r.randrange(pages)),
                    lambda s, a=actor: list_tasks(s, a, offset=PAGE * (pages - 1)),
                ),
                (
                    f"queue_counts          [{who}]",
                    lambda s, r, a=actor: queue_counts(s, a),
                    lambda s, a=actor: queue_counts(s, a),
                ),
            ]
        for name, fn, plan_fn in cases:
            times, sizes = timed(engine, fn, runs, rng)
            med, p95, mx = statistics.median(times), percentile(times, 0.95), max(times)
            verdict = "ok" if p95 < TARGET_MS else "MISS"
            print(f"  {name:<62} {med:8.2f} {p95:8.2f} {mx:8.2f}   {statistics.mean(sizes):7.1f}  {verdict}")
            sys.stdout.flush()
            results.append((label, name, med, p95, mx))
            if show_plans:
                explain(engine, plan_fn)
    return results


def bench_backend(label, url, args, now):
    import web  # noqa: F401  (its connect hook gives SQLite the app's pragmas: WAL, foreign keys, ...)

    engine = create_engine(url)
    try:
        n_inst, n_task, loaded, indexed, total = seed(engine, args.tasks, args.history, now)
        with engine.connect() as conn:
            by_status = dict(conn.execute(text("SELECT status, count(*) FROM human_tasks GROUP BY status")).all())
        print(
            f"{label}: seeded {n_inst:,} process instances and {n_task:,} human tasks in {total:.1f} s "
            f"(rows {loaded:.1f} s, indexes {indexed:.1f} s, then {total - loaded - indexed:.1f} s maintenance)"
        )
        print("  human_tasks by status: " + ", ".join(f"{k}={v:,}" for k, v in sorted(by_status.items())))
        print(f"  {args.runs} timed calls per query (list: random page 1..{args.pages} of {PAGE}), in ms:")
        return measure(engine, label, args.runs, args.pages, args.explain)
    finally:
        engine.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=1_000_000, help="active (open/claimed) human tasks")
    parser.add_argument(
        "--history", type=int, default=250_000, help="finished instances with one completed/cancelled task each"
    )
    parser.add_argument("--runs", type=int, default=200, help="timed calls per query")
    parser.add_argument("--pages", type=int, default=10, help="list calls pick a random page among the first N")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEPAT_BENCH_POSTGRES_URL"),
        help=f"PostgreSQL server URL; the bench creates and drops database {BENCH_DB}",
    )
    parser.add_argument(
        "--database",
        default=BENCH_DB,
        help="name of the throwaway PostgreSQL database (one per person running the bench)",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="only run PostgreSQL")
    parser.add_argument("--explain", action="store_true", help="print each query's plan")
    args = parser.parse_args()

    import engine.models  # noqa: F401

    started = time.perf_counter()
    now = datetime.now(UTC)
    print(
        f"tepat inbox benchmark  tasks={args.tasks:,} active + history, {args.history:,} finished instances;"
        f"  target p95 < {TARGET_MS:.0f} ms\n"
    )
    tmp = Path(tempfile.mkdtemp(prefix="tepat-inbox-bench-"))
    results = []
    try:
        if not args.no_sqlite:
            results += bench_backend("SQLite", f"sqlite:///{tmp / 'inbox.sqlite'}", args, now)
            print()
        if args.postgres:
            url, drop = postgres_bench_url(args.postgres, args.database)
            try:
                results += bench_backend("PostgreSQL", url, args, now)
            finally:
                drop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    missed = [r for r in results if r[3] >= TARGET_MS]
    print(
        f"\n{len(results) - len(missed)}/{len(results)} queries meet p95 < {TARGET_MS:.0f} ms"
        + (
            ""
            if not missed
            else "; missed: "
            + "; ".join(f"{r[0]} {r[1].split('[')[0].strip()} [{r[1].split('[')[1]} p95 {r[3]:.1f} ms" for r in missed)
        )
    )
    print(f"total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
