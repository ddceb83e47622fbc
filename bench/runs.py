"""What the tracked-run machinery (engine/runs.py) costs per item, apart from the item's own work.

Creates a run of N items of a kind that does nothing, and runs its chunks in process through the same
driver a worker uses (web/runs_exec.execute_chunk: one transaction per item, one per chunk end). Prints
the creation time and items per second; the difference to a kind's real cost (a re-check: the
engine's) is the machinery's share. Not a test.

    PYTHONPATH=. python bench/runs.py --items 20000 [--database URL]   (default: a temporary SQLite file)
"""

import argparse
import tempfile
import time
from pathlib import Path


def measure(url, items, chunk_size):
    from engine.db import db
    from engine.runs import Run, create_run, register_kind
    from web import create_app
    from web.runs_exec import run_in_process
    from web.schema import reset_schema

    app = create_app({"BANSOS_DATABASE_URL": url, "BANSOS_SCHEDULER_ENABLED": False})
    register_kind("bench.noop", lambda engine, run, key: "ok")
    with app.app_context():
        reset_schema(db.engine)
        from web import services

        engine = services().engine
        started = time.perf_counter()
        run = create_run(db.session, "bench.noop", {}, "bench", [f"K{i:07d}" for i in range(items)], chunk_size)
        db.session.commit()
        created = time.perf_counter() - started
        started = time.perf_counter()
        run_in_process(engine, run.id, wait=True)
        ran = time.perf_counter() - started
        run = db.session.get(Run, run.id)
        db.session.refresh(run)
        assert (run.status, run.done) == ("done", items), (run.status, run.done)
        print(
            f"{db.engine.dialect.name}: {items} items in chunks of {chunk_size}: created in {created:.2f} s; "
            f"ran in {ran:.2f} s = {items / ran:.0f} items/s, {1000 * ran / items:.2f} ms per item "
            f"(machinery only: one commit per item)"
        )
        reset_schema(db.engine)
        db.session.remove()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=50)
    parser.add_argument("--database", default=None, help="a database URL (its tables are reset!)")
    args = parser.parse_args()
    if args.database:
        measure(args.database, args.items, args.chunk_size)
        return
    with tempfile.TemporaryDirectory() as tmp:
        measure(f"sqlite:///{Path(tmp) / 'runs.sqlite'}", args.items, args.chunk_size)


if __name__ == "__main__":
    main()
