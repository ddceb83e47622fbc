"""Rows per second of the registry extract import (``integrations.sandbox.importer``).

A synthetic population (100,000 people by default) is generated once into a cache folder
(``$TMPDIR/tepat-import-bench/<people>-<seed>``, reused while its workbooks exist; ``--fresh``
regenerates) and imported into an empty temporary SQLite database (``sandbox_metadata.create_all``
on a plain SQLAlchemy engine, one Session, one commit), then imported again: the second import
finds every row unchanged and writes nothing. Rows per second counts the data rows read from all
sheets (good or refused), from wall-clock time including opening the workbooks and the commit.

With ``--postgres URL`` (or TEPAT_BENCH_POSTGRES_URL) the same runs on PostgreSQL, in a throwaway
database ``tepat_import_bench`` created and dropped through the server's ``postgres`` database.

    .venv/bin/python bench/import.py [--people 100000] [--seed 7] [--postgres URL] [--profile]
"""

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.common import postgres_bench_url  # noqa: E402
from integrations.sandbox import extracts as x  # noqa: E402
from integrations.sandbox.generator import generate_population  # noqa: E402
from integrations.sandbox.importer import import_extracts  # noqa: E402
from integrations.sandbox.tables import sandbox_metadata  # noqa: E402

BENCH_DB = "tepat_import_bench"


def extracts(people: int, seed: int, fresh: bool) -> Path:
    """Return a folder holding the extracts of this population, generating them if needed."""
    folder = Path(tempfile.gettempdir()) / "tepat-import-bench" / f"{people}-{seed}"
    complete = folder / "personas.json"  # written last by the generator
    if fresh or not complete.is_file() or not all((folder / layout.workbook).is_file() for layout in x.ALL_SHEETS):
        started = time.perf_counter()
        complete.unlink(missing_ok=True)
        report = generate_population(people, seed, folder)
        print(
            f"generated {report.people} people, {report.households} households in "
            f"{time.perf_counter() - started:.1f} s -> {folder}"
        )
    else:
        print(f"reusing extracts in {folder}")
    return folder


def timed_import(engine, folder: Path, label: str, profile: bool):
    ticks = []
    with Session(engine) as session:
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report = import_extracts(folder, session, progress=lambda name, rows: ticks.append(name))
        session.commit()
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    totals = {what: report.total(what) for what in ("inserted", "updated", "unchanged", "deleted")}
    print(
        f"  {label:<22} {report.rows_read:>8} rows in {seconds:6.2f} s = {report.rows_read / seconds:>8.0f} rows/s"
        f"   {' '.join(f'{k}={v}' for k, v in totals.items())}  refused={len(report.errors)}"
        f"  progress calls={len(ticks)}"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return report


def bench_backend(name: str, url: str, folder: Path, profile: bool) -> None:
    engine = create_engine(url)
    try:
        sandbox_metadata.create_all(engine)
        print(f"{name}:")
        timed_import(engine, folder, "first import", profile)
        again = timed_import(engine, folder, "re-import (no change)", profile)
        if again.changed:
            print("  !! the re-import changed rows")
    finally:
        engine.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fresh", action="store_true", help="regenerate the cached extracts")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEPAT_BENCH_POSTGRES_URL"),
        help=f"PostgreSQL server URL; the bench creates and drops database {BENCH_DB}",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="only run PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="cProfile each import")
    args = parser.parse_args()

    folder = extracts(args.people, args.seed, args.fresh)
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="tepat-import-bench-") as tmp:
            bench_backend("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite'}", folder, args.profile)
    if args.postgres:
        url, drop = postgres_bench_url(args.postgres, BENCH_DB)
        try:
            bench_backend("PostgreSQL", url, folder, args.profile)
        finally:
            drop()


if __name__ == "__main__":
    main()
