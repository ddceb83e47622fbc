"""What the benchmark scripts share."""

import argparse
import os
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def postgres_bench_url(server_url, name):
    """Create a fresh throwaway database `name` next to `postgres`; return its URL and a drop function."""
    admin_url = make_url(server_url).set(database="postgres")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop


def p95(sorted_times):
    """The 95th percentile of an ascending list."""
    return sorted_times[min(len(sorted_times) - 1, round(0.95 * (len(sorted_times) - 1)))]


def run_on_sqlite_and_postgres(description, measure, name, runs):
    """Parse the usual options, then run `measure(label, url, applications, runs)` on SQLite and PostgreSQL."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--applications", type=int, default=350_000)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("TEPAT_BENCH_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            measure("SQLite", f"sqlite:///{Path(tmp) / (name + '.sqlite')}", args.applications, args.runs)
    if args.postgres:
        url, drop = postgres_bench_url(args.postgres, f"tepat_{name}_bench")
        try:
            measure("PostgreSQL", url, args.applications, args.runs)
        finally:
            drop()
