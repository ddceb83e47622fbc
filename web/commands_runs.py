"""Commands for tracked runs (engine/runs.py): start a re-check or an import as a run, follow, list, cancel."""

import sys
import time

import click
from flask.cli import with_appcontext

from engine.db import db, unit_of_work

from .cli import _services, commits, wib

CLI_ACTOR_NAME = "cli"


def cli_actor(username):
    """The officer named by --as, or the command line itself (an administrator of every district)."""
    from engine.core import Actor

    from .cli import _actor

    if username:
        return _actor(username)
    return Actor(id=CLI_ACTOR_NAME, roles=frozenset({"administrator"}), regions=None, name="command line")


def progress_line(run):
    """One line: where a run stands, its counts by outcome."""
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted((run.outcomes or {}).items()))
    reading = (run.result or {}).get("reading") if not run.finished else None
    if reading:  # an import under way: its one item has no count yet, its rows read have
        outcomes = f"{reading}: {run.result.get('rows_read', 0)} rows read"
    return (
        f"run {run.id} {run.kind} {run.status}: {run.done + run.failed}/{run.total} ({run.percent}%) "
        f"done {run.done} failed {run.failed}" + (f" [{outcomes}]" if outcomes else "")
    )


def follow(run_id, timeout=None, interval=1.0, out=None):
    """Print the run's progress line until it finishes (or `timeout` seconds); return the run."""
    from engine.runs import Run

    out = out or sys.stderr
    tty = out.isatty()
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        db.session.rollback()  # a fresh snapshot: the workers commit elsewhere
        run = db.session.get(Run, run_id)
        line = progress_line(run)
        if line != last:
            click.echo(("\r" + line + "\x1b[K") if tty else line, file=out, nl=not tty)
            last = line
        if run.finished or (deadline is not None and time.monotonic() >= deadline):
            if tty:
                click.echo("", file=out)
            return run
        time.sleep(interval)


def start_and_follow(run, wait):
    """After the start's commit: inline, run the chunks here; with workers, print the id or follow."""
    from .runs_exec import run_in_process

    svc = _services()
    click.echo(f"run {run.id}: {run.kind}, {run.total} item(s) in chunks of {run.chunk_size}")
    if not svc.engine.defer_steps:  # inline: this process is where the chunks run
        tty = sys.stderr.isatty()
        shown = {"at": 0.0}

        def progress(r):
            now = time.monotonic()
            if tty or now - shown["at"] >= 2 or r.finished:
                shown["at"] = now
                click.echo(("\r" + progress_line(r) + "\x1b[K") if tty else progress_line(r), err=True, nl=not tty)

        run_in_process(svc.engine, run.id, wait=True, progress=progress if wait else None)
        if wait and tty:
            click.echo("", err=True)
        db.session.rollback()
        run = db.session.get(type(run), run.id)
    elif wait:
        run = follow(run.id)
    else:
        click.echo(f"the workers run it; follow it with: tepat runs show {run.id}")
        return run
    click.echo(progress_line(run))
    return run


@click.group(help="Tracked runs: imports and programme-wide re-checks (on the workers with BANSOS_EXECUTION=celery).")
def runs():
    pass


@runs.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@with_appcontext
def runs_list(limit):
    """List the latest runs with their progress (times in WIB)."""
    from sqlalchemy import select

    from engine.runs import Run

    rows = db.session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)).all()
    if not rows:
        click.echo("Belum ada proses massal. / No runs yet.")
    for run in rows:
        click.echo(
            f"#{run.id:<5} {run.kind:8} {run.status:9} {run.done + run.failed}/{run.total} ({run.percent}%) "
            f"failed {run.failed}  by {run.started_by}  started {wib(run.created_at)}  "
            f"finished {wib(run.finished_at)}"
        )


@runs.command("show")
@click.argument("run_id", type=int)
@click.option("--wait", is_flag=True, help="follow the progress until the run finishes")
@with_appcontext
def runs_show(run_id, wait):
    """Show a run: progress, counts by outcome, failures, the error workbook."""
    from engine.runs import RunNotFound, failures, run_or_404

    try:
        run = run_or_404(db.session, run_id)
    except RunNotFound:
        click.echo(f"Error [RUN_NOT_FOUND] Proses massal tidak ditemukan / Run not found: {run_id}", err=True)
        sys.exit(2)
    if wait:
        run = follow(run.id)
    click.echo(progress_line(run))
    click.echo(
        f"  started by {run.started_by}; created {wib(run.created_at)}, started {wib(run.started_at)}, "
        f"finished {wib(run.finished_at)}" + (f"; cancelled by {run.cancelled_by}" if run.cancelled_by else "")
    )
    if run.params:
        click.echo("  parameters: " + ", ".join(f"{k}={v}" for k, v in sorted(run.params.items()) if v is not None))
    for table, figures in sorted(((run.result or {}).get("tables") or {}).items()):
        click.echo(f"  {table}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    if run.error_file:
        click.echo(f"  refused rows: {run.error_file}")
    shown = failures(db.session, run.id)
    if shown:
        click.echo("  failures:")
    for item in shown:
        click.echo(f"    {item.key}: {item.status} after {item.attempts} attempt(s): {item.error}")
    if run.status == "failed":
        sys.exit(1)


@runs.command("cancel")
@click.argument("run_id", type=int)
@click.option("--as", "username", default=None, help="officer who cancels (default: the command line)")
@commits
def runs_cancel(run_id, username):
    """Cancel a queued or running run (what is done stays done)."""
    from cases.runkinds import cancel

    run = cancel(_services().engine, cli_actor(username), run_id, user_agent="cli")
    click.echo(f"run {run.id} cancelled: {run.done} done, {run.failed} failed of {run.total}")


def start_run(start):
    """Create a run with `start(engine)` and commit it (a refusal exits 2, as @commits does); return it."""
    from engine.errors import EngineError

    from .cli import ERROR_TEXT

    try:
        with unit_of_work(db.session):
            return start(_services().engine)
    except EngineError as exc:
        click.echo(f"Error [{exc.code}] {ERROR_TEXT.get(exc.code, exc.code)}: {exc.message}", err=True)
        sys.exit(2)


@click.command(
    help="Quarterly re-verification of every enrolled family (of --as's districts), as one tracked "
    "run: continue, review (a caseworker's task) or exit (a second officer approves)."
)
@click.option("--quarter", default=None, help="the quarter, e.g. 2026Q4 (default: the current one)")
@click.option("--wait", is_flag=True, help="follow the run's progress until it finishes")
@click.option("--as", "username", default=None, help="administrator who starts the run (default: the command line)")
@with_appcontext
def reverify(quarter, wait, username):
    from datetime import date

    from cases.programme import quarter_of, start_reverify_run

    quarter = quarter or quarter_of(date.today())
    run = start_run(lambda engine: start_reverify_run(engine, cli_actor(username), quarter, user_agent="cli"))
    run = start_and_follow(run, wait)
    if run.status == "failed":
        sys.exit(2)
