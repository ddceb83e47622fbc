"""Time the public figures query (cases.figures.compute_figures) over many applications.

What is measured: one full computation of the public figures (the GROUP BY over applications by
district and village, the GROUP BY over appeals, suppression of the village cells in Python), as the
page computes it when its one-minute cache is cold; ``--runs`` (10) timed calls after one warm-up,
each in a fresh session. Median, p95 and max in milliseconds.

The data: ``--applications`` (350,000: about the first four months of the pilot) rows spread over
25 districts and 5-16 villages each, with the pilot's mix of statuses (about 40 % enrolled, 35 %
rejected, 20 % in review, a few removed), decision times of 0-20 days, and an appeal on 8 % of the
rejected cases. Rows are bulk-inserted with Core (executemany in batches). SQLite uses a temporary
file; PostgreSQL (``--postgres URL`` or TEPAT_BENCH_POSTGRES_URL) a ``tepat_figures_bench`` database
created and dropped through the server's ``postgres`` database, analysed after seeding.

    .venv/bin/python bench/figures.py [--applications 350000] [--runs 10] [--no-sqlite] [--postgres URL]
"""

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.common import p95, run_on_sqlite_and_postgres  # noqa: E402
from cases.figures import compute_figures  # noqa: E402
from cases.models import Appeal, Application  # noqa: E402
from engine.db import db  # noqa: E402
from engine.models import ProcessInstance, ProcessVersion  # noqa: E402
from integrations.sandbox.extracts import DISTRICTS  # noqa: E402

STATUSES = (
    ("ENROLLED", 40),
    ("REJECTED", 20),
    ("CLOSED_REJECTED", 13),
    ("APPEAL_REVIEW", 2),
    ("IN_REVIEW", 12),
    ("SUBMITTED", 5),
    ("AWAITING_APPROVAL", 3),
    ("REMOVED", 3),
    ("REMOVAL_REVIEW", 2),
)
BATCH = 10_000


def _rows(n, seed=5):
    rng = random.Random(seed)
    names, weights = zip(*STATUSES, strict=False)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        district = rng.choice(DISTRICTS)
        status = rng.choices(names, weights)[0]
        created = start + timedelta(minutes=rng.randrange(0, 120 * 24 * 60))
        decided = (
            None
            if status in ("IN_REVIEW", "SUBMITTED", "AWAITING_APPROVAL")
            else (created + timedelta(hours=rng.randrange(0, 20 * 24)))
        )
        nik = f"3510{district.code}{i:010d}"
        yield {
            "id": i,
            "case_number": f"TPT-2025-{i:07d}",
            "nik": nik,
            "active_nik": nik,
            "district_code": district.code,
            "district_name": district.name,
            "village": rng.choice(district.villages),
            "channel": "self",
            "consent_version": "2025-01",
            "consent_at": created,
            "status": status,
            "reasons": [],
            "review_flags": [],
            "programmes": [],
            "created_at": created,
            "decided_at": decided,
            "updated_at": decided or created,
        }


def seed(engine, n):
    tables = [ProcessVersion, ProcessInstance, Application, Appeal]  # the cases' foreign keys need the first two
    db.metadata.create_all(engine, tables=[t.__table__ for t in tables])
    appeals = []
    with engine.begin() as conn:
        batch = []
        for row in _rows(n):
            batch.append(row)
            if row["status"] in ("REJECTED", "CLOSED_REJECTED", "APPEAL_REVIEW") and row["id"] % 12 == 0:
                appeals.append(
                    {
                        "application_id": row["id"],
                        "reason": "bench",
                        "evidence_refs": [],
                        "filed_at": row["decided_at"] + timedelta(days=2),
                    }
                )
            if len(batch) == BATCH:
                conn.execute(insert(Application.__table__), batch)
                batch = []
        if batch:
            conn.execute(insert(Application.__table__), batch)
        for i in range(0, len(appeals), BATCH):
            conn.execute(insert(Appeal.__table__), appeals[i : i + BATCH])
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE applications"))
            conn.execute(text("ANALYZE appeals"))
    return len(appeals)


def measure(label, url, n, runs):
    engine = create_engine(url)
    started = time.perf_counter()
    appeals = seed(engine, n)
    print(f"{label}: seeded {n:,} applications and {appeals:,} appeals in {time.perf_counter() - started:.1f} s")
    with Session(engine) as session:
        compute_figures(session)  # warm-up
    times = []
    for _ in range(runs):
        with Session(engine) as session:
            session.connection()
            t0 = time.perf_counter()
            figures = compute_figures(session)
            times.append((time.perf_counter() - t0) * 1000)
    assert figures.total.registered == n
    times.sort()
    print(
        f"{label}: compute_figures median {statistics.median(times):.0f} ms, p95 {p95(times):.0f} ms, "
        f"max {times[-1]:.0f} ms ({runs} runs; {len(figures.districts)} districts, "
        f"{sum(len(d.villages) for d in figures.districts)} villages)"
    )
    engine.dispose()


def main():
    run_on_sqlite_and_postgres(__doc__.split("\n")[0], measure, "figures", runs=10)


if __name__ == "__main__":
    main()
