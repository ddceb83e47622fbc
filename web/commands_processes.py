"""Commands for deployed processes: versions, and moving running instances to a newer version."""

import click
from sqlalchemy import select

from engine.db import db, unit_of_work

from .cli import _services, commits, wib


@click.group(help="Deployed processes: versions and migration of running instances.")
def processes():
    pass


@processes.command("versions")
@click.argument("process_id")
def versions(process_id):
    """List a process's versions: who deployed them, when, and how many instances run on each."""
    from engine.editing import version_list

    rows = version_list(db.session, process_id)
    if not rows:
        raise click.ClickException(f"process {process_id!r} has not been deployed")
    for version, live, total in rows:
        click.echo(
            f"{version.number}\t{version.origin}\t{wib(version.deployed_at)}\t{version.deployed_by or '-'}\t"
            f"{version.content_hash[:12]}\trunning {live}\tall {total}"
        )


@processes.command("migrate")
@click.argument("process_id")
@click.option("--from", "from_number", type=int, required=True, help="version number the instances run on")
@click.option("--to", "to_number", type=int, required=True, help="version number to move them to")
@click.option("--apply", is_flag=True, help="move them (without it: a dry run that only reports)")
@click.option(
    "--batch",
    default=200,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="instances per transaction when applying",
)
@click.option("--as", "username", default="cli", help="officer named in the audit log")
@commits
def migrate(process_id, from_number, to_number, apply, batch, username):
    """Dry run (default) or move every movable running instance; one transaction per batch."""
    from cases.audit import record
    from engine import migration
    from engine.models import ProcessVersion

    ids = {}
    for number in (from_number, to_number):
        ids[number] = db.session.scalar(
            select(ProcessVersion.id).where(ProcessVersion.process_id == process_id, ProcessVersion.number == number)
        )
        if ids[number] is None:
            raise click.ClickException(f"{process_id!r} has no version {number}")
    from_id, to_id = ids[from_number], ids[to_number]
    engine = _services().engine
    checks = migration.dry_run(engine, from_id, to_id, limit=1_000_000)
    movable = [c for c in checks if c.can_move]
    for check in checks:
        verdict = "can move" if check.can_move else "cannot move: " + "; ".join(r["message"] for r in check.reasons)
        click.echo(f"{check.business_key}\t{check.status}\t{','.join(check.positions)}\t{verdict}")
    click.echo(f"{len(movable)} of {len(checks)} running instances can move from version {from_number} to {to_number}")
    with unit_of_work(db.session):  # a unit of its own, nested in the command's (kept if a batch fails)
        record(
            db.session,
            username,
            "process.migration_dry_run",
            target_type="process_version",
            target_id=f"{from_id}->{to_id}",
            user_agent="cli",
            detail={"instances": len(checks), "movable": len(movable)},
        )
    if not apply:
        return
    moved = 0
    for start in range(0, len(movable), batch):
        ids = [c.instance_id for c in movable[start : start + batch]]
        with unit_of_work(db.session):  # one unit per batch: a failing batch leaves the earlier ones moved
            results = migration.migrate(engine, from_id, to_id, ids)
            done = [r.business_key for r in results if r.can_move]
            record(
                db.session,
                username,
                "process.migrated",
                target_type="process_version",
                target_id=f"{from_id}->{to_id}",
                user_agent="cli",
                detail={"moved": done, "refused": [r.business_key for r in results if not r.can_move]},
            )
        moved += len(done)
    click.echo(f"moved {moved} instances")
