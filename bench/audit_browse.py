"""The auditor's browser (cases/audit_browse.py): one page of filtered entries, with and without its indexes.

What is measured
----------------
``--entries`` (500,000) audit entries are written straight into audit_log (the chain is not what is
measured here: hashes are random), spread over a year, 300 officers, 25 actions, 50,000 cases. Then
``browse`` is timed for one page (50 rows, newest first) with these filters: an officer over 30
days, an action over 30 days, one case, an officer alone, an action prefix ("case.") over 7 days,
and no filter; and ``export_filtered`` of an officer's year (all their rows). Each is run ``--runs``
(5) times after one warm-up run, the median printed in milliseconds; then the two indexes migration 0036 adds
(ix_audit_log_actor_at, ix_audit_log_action_at) are dropped, the statistics refreshed, and the
same is timed again: the ratio (without / with) is printed per filter.

The database is wiped (every table dropped and created): give it a throwaway one.

    .venv/bin/python bench/audit_browse.py --url postgresql+psycopg://127.0.0.1/tepat_bench [--entries 500000]
"""

import argparse
import io
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

ACTIONS = [
    "case.view",
    "case.search",
    "task.claim",
    "task.complete",
    "task.reassign",
    "evidence.view",
    "objection.view",
    "officer.view",
    "audit.verify",
    "report.programme.view",
] + [f"misc.action_{i}" for i in range(15)]


def fill(engine, entries):
    from cases.audit import AuditEntry

    rng = random.Random(13)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    seqs = {}
    table = AuditEntry.__table__
    with engine.begin() as conn:
        batch = []
        for i in range(1, entries + 1):
            shard = rng.randrange(64)
            seqs[shard] = seqs.get(shard, 0) + 1
            batch.append(
                {
                    "id": i,
                    "shard": shard,
                    "seq": seqs[shard],
                    "format": 2,
                    "at": end - timedelta(seconds=rng.randrange(365 * 86400)),
                    "actor": f"officer{rng.randrange(300):03d}",
                    "actor_roles": ["caseworker"],
                    "action": rng.choice(ACTIONS),
                    "target_type": "case",
                    "target_id": f"TPT-2026-{rng.randrange(50_000):07d}",
                    "ip": "10.0.0.1",
                    "user_agent": "bench",
                    "detail": None,
                    "prev_hash": f"{i:064x}",
                    "hash": f"{i + 10**12:064x}",
                }
            )
            if len(batch) == 10_000:
                conn.execute(insert(table), batch)
                batch = []
        if batch:
            conn.execute(insert(table), batch)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE audit_log"))


def measure(engine, runs):
    from cases.audit_browse import AuditFilter, browse, export_filtered

    month = (date(2026, 10, 1), date(2026, 10, 30))
    cases = {
        "officer, 30 days": AuditFilter(actor="officer042", date_from=month[0], date_to=month[1]),
        "action, 30 days": AuditFilter(action="task.reassign", date_from=month[0], date_to=month[1]),
        "one case": AuditFilter(case="TPT-2026-0001234"),
        "officer alone": AuditFilter(actor="officer042"),
        "action prefix, 7 days": AuditFilter(action="case.", date_from=date(2026, 10, 1), date_to=date(2026, 10, 7)),
        "no filter": AuditFilter(),
    }
    out = {}
    with Session(engine) as session:
        for name, f in cases.items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                rows, _more, _targets = browse(session, f)
                times.append(time.perf_counter() - t0)
            out[name] = (statistics.median(times) * 1000, len(rows))
        times = []
        for _ in range(runs):
            buffer = io.StringIO()
            t0 = time.perf_counter()
            count, _cut = export_filtered(session, AuditFilter(actor="officer042"), buffer)
            times.append(time.perf_counter() - t0)
        out["export an officer's year"] = (statistics.median(times) * 1000, count)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("TEPAT_BENCH_POSTGRES_URL"), required=False)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url (a throwaway database: it is wiped)")
    from web.schema import reset_schema

    engine = create_engine(args.url)
    reset_schema(engine)
    t0 = time.perf_counter()
    fill(engine, args.entries)
    print(f"{engine.dialect.name}: {args.entries:,} entries written in {time.perf_counter() - t0:.1f} s")
    measure(engine, 1)  # warm the cache, so the first setting measured is not the cold one
    with_indexes = measure(engine, args.runs)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_audit_log_actor_at"))
        conn.execute(text("DROP INDEX ix_audit_log_action_at"))
        conn.execute(text("ANALYZE audit_log" if engine.dialect.name == "postgresql" else "ANALYZE"))
    measure(engine, 1)
    without = measure(engine, args.runs)
    print(f"{'filter':28} {'rows':>6} {'with (ms)':>10} {'without (ms)':>13} {'ratio':>7}")
    for name, (ms, rows) in with_indexes.items():
        other = without[name][0]
        print(f"{name:28} {rows:>6} {ms:>10.1f} {other:>13.1f} {other / ms:>7.1f}")
    engine.dispose()


if __name__ == "__main__":
    main()
