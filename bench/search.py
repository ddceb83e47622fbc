"""Time the officers' case search (cases.search.search_cases) over many applications.

What is measured: one search as /search runs it (the capped count, then one page of 25 rows loaded as
``Application`` objects), for a name prefix (3 letters: the broadest allowed, e.g. "sit" matching every
Siti; and a first name plus the start of the second), an exact NIK and a case number, each as an officer
of every district and as an officer of one district; ``--runs`` (50) timed calls per kind after one
warm-up, each in a fresh session. Median, p95 and max in milliseconds.

The data: ``--applications`` (350,000) rows over Banyuwangi's 25 districts with the synthetic
population's names (Indonesian first names, 60 % with a second name), bulk-inserted with Core
(executemany in batches; `name_key` written as the model writes it). SQLite uses a temporary file;
PostgreSQL (``--postgres URL`` or TEPAT_BENCH_POSTGRES_URL) a ``tepat_search_bench`` database created
and dropped through the server's ``postgres`` database, analysed after seeding.

    .venv/bin/python bench/search.py [--applications 350000] [--runs 50] [--no-sqlite] [--postgres URL]
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
from cases.models import Application, name_key  # noqa: E402
from cases.search import parse, search_cases  # noqa: E402
from engine.db import db  # noqa: E402
from engine.models import ProcessInstance, ProcessVersion  # noqa: E402
from integrations.sandbox.extracts import DISTRICTS  # noqa: E402
from integrations.sandbox.population import FEMALE_NAMES, MALE_NAMES, SECOND_NAMES  # noqa: E402

BATCH = 10_000


def _rows(n, seed=7):
    rng = random.Random(seed)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        district = rng.choice(DISTRICTS)
        first = rng.choice(MALE_NAMES + FEMALE_NAMES)
        name = f"{first} {rng.choice(SECOND_NAMES)}" if rng.random() < 0.6 else first
        created = start + timedelta(minutes=rng.randrange(0, 120 * 24 * 60))
        nik = f"3510{district.code}{i:010d}"
        yield {
            "id": i,
            "case_number": f"TPT-2025-{i:07d}",
            "nik": nik,
            "kk_number": f"3510{district.code}9{i:09d}",
            "applicant_name": name,
            "name_key": name_key(name),
            "district_code": district.code,
            "district_name": district.name,
            "village": rng.choice(district.villages),
            "channel": "self",
            "consent_version": "2025-01",
            "consent_at": created,
            "status": "ENROLLED",
            "reasons": [],
            "review_flags": [],
            "programmes": [],
            "created_at": created,
            "updated_at": created,
        }


def seed(engine, n):
    tables = [ProcessVersion, ProcessInstance, Application]
    db.metadata.create_all(engine, tables=[t.__table__ for t in tables])
    sample = []
    with engine.begin() as conn:
        batch = []
        for row in _rows(n):
            batch.append(row)
            if row["id"] % 997 == 0:
                sample.append(row)
            if len(batch) == BATCH:
                conn.execute(insert(Application.__table__), batch)
                batch = []
        if batch:
            conn.execute(insert(Application.__table__), batch)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE applications"))
    return sample


def _queries(sample):
    two_words = next(r["applicant_name"] for r in sample if " " in r["applicant_name"])
    first, second = two_words.split(" ", 1)
    return {
        "name (3 letters)": sample[0]["applicant_name"][:3],
        "name (first + 2)": f"{first} {second[:2]}",
        "NIK": sample[1]["nik"],
        "case number": sample[2]["case_number"].lower(),
    }


def measure(label, url, n, runs):
    engine = create_engine(url)
    started = time.perf_counter()
    sample = seed(engine, n)
    print(f"{label}: seeded {n:,} applications in {time.perf_counter() - started:.1f} s")
    one_district = frozenset({sample[0]["district_code"]})
    for kind, q in _queries(sample).items():
        for scope, regions in (("every district", None), ("one district", one_district)):
            query = parse(q)
            times = []
            for i in range(runs + 1):
                with Session(engine) as session:
                    session.connection()
                    t0 = time.perf_counter()
                    results = search_cases(session, regions, query, page=1 + i % 3)
                    if i:
                        times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            more = "+" if results.capped else ""
            print(
                f"{label}: {kind:17} {scope:14} {results.total:>5}{more} found; median "
                f"{statistics.median(times):.1f} ms, p95 {p95(times):.1f} ms, max {times[-1]:.1f} ms"
            )
    engine.dispose()


def main():
    run_on_sqlite_and_postgres(__doc__.split("\n")[0], measure, "search", runs=50)


if __name__ == "__main__":
    main()
