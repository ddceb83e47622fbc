"""`tepat cycle`: payment cycles from a shell (the same operations and checks as the /cycles pages)."""

import sys
from datetime import date
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from engine.db import db
from engine.errors import NotAllowed

from .cli import _actor, _services, commits, wib


def _finance_officer(username):
    """The acting finance officer of every district (batch files and results cover the whole regency)."""
    actor = _actor(username)
    if "finance_officer" not in actor.roles:
        raise NotAllowed(f"{username} is not a finance officer", reason="role")
    return actor


def _regency_wide(actor):
    if actor.regions is not None:
        raise NotAllowed(
            f"{actor.id} works some districts only; batch files cover the whole regency", reason="district"
        )


@click.group(help="Payment cycles (tahap): schedule, open, files, results.")
def cycle():
    pass


@cycle.command("check", help="Check processes/payment_schedule.toml; list its cycles.")
@commits
def check():
    from payments.schedule import FILE_NAME, ScheduleInvalid, load_schedule

    try:
        schedule = load_schedule(current_app.config["BANSOS_PROCESS_DIR"])
    except ScheduleInvalid as exc:
        for problem in exc.problems:
            click.echo(f"Kesalahan / Problem: {problem}", err=True)
        sys.exit(2)
    for code, spec in sorted(schedule.cycles.items()):
        total = sum(a for _p, _c, a, _cap in schedule.rates(code))
        click.echo(
            f"{code:<16} {spec.programme:<6} {','.join(spec.months):<26} cut-off {spec.cut_off}  "
            f"({len(schedule.rates(code))} components, Rp {total:,} per unit of each)"
        )
    from datetime import datetime

    from payments.cycles import JAKARTA

    today = datetime.now(JAKARTA).date()
    gaps = schedule.runway_gaps(today)
    for programme, months in gaps:
        click.echo(
            f"Peringatan / Warning: jadwal {programme} tidak memiliki siklus untuk / "
            f"{programme} has no cycle for {', '.join(months)} (add the coming cycles to {FILE_NAME})"
        )
    if not gaps:
        click.echo(f"Every programme has cycles up to {schedule.runway_months} months ahead of {today:%Y-%m}.")


@cycle.command("list", help="Opened cycles, newest first.")
@commits
def list_():
    from payments.queries import cycles

    rows = cycles(db.session)
    if not rows:
        click.echo("Belum ada siklus pembayaran. / No payment cycles yet.")
    for row in rows:
        click.echo(
            f"{row.code:<16} {row.status:<11} {row.member_count:>9,} families  Rp {row.planned_total:>16,}  "
            f"opened {wib(row.opened_at)} by {row.opened_by}"
        )


@cycle.command("open", help="Open a scheduled cycle: its process freezes the list at the cut-off.")
@click.argument("code")
@click.option("--as", "username", required=True)
@commits
def open_(code, username):
    from payments.cycles import open_cycle
    from payments.schedule import load_schedule

    opened = open_cycle(
        _services().engine, load_schedule(current_app.config["BANSOS_PROCESS_DIR"]), code, _finance_officer(username)
    )
    click.echo(f"{opened.code}: {opened.status}, {opened.member_count:,} families, Rp {opened.planned_total:,}")


@cycle.command("show", help="A cycle's status, batches and figures per district and channel.")
@click.argument("code")
@commits
def show(code):
    from payments.cycles import cycle_or_404, entitlement_figures
    from payments.queries import batches_of

    row = cycle_or_404(db.session, code)
    click.echo(
        f"{row.code} ({row.programme}, {row.months}): {row.status}; {row.member_count:,} families, "
        f"Rp {row.planned_total:,}; prepared by {row.prepared_by or '-'}, approved by {row.approved_by or '-'}"
    )
    for figure in entitlement_figures(db.session, row.id):
        click.echo(
            f"  {figure.district_code}  {figure.programme:<5} {figure.channel:<8} {figure.families:>8,}  "
            f"Rp {figure.amount:>15,}"
        )
    for batch in batches_of(db.session, row.id):
        click.echo(
            f"  batch {batch.reference}: {batch.status}, {batch.count:,} payments, Rp {batch.total:,}, "
            f"results {batch.results_count:,}, sha256 {batch.control_hash}"
        )


def _batch(code, channel):
    from payments.cycles import cycle_or_404
    from payments.models import PaymentBatch

    row = cycle_or_404(db.session, code)
    batch = db.session.execute(
        select(PaymentBatch).where(PaymentBatch.cycle_id == row.id, PaymentBatch.channel == channel)
    ).scalar_one_or_none()
    if batch is None:
        raise click.ClickException(f"cycle {code} has no batch for {channel}")
    return batch


@cycle.command("batch-file", help="Write a batch file for a bank or PT Pos (CSV, or Excel with --xlsx).")
@click.argument("code")
@click.argument("channel")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True)
@click.option("--xlsx", is_flag=True)
@click.option("--as", "username", required=True)
@commits
def batch_file(code, channel, out, xlsx, username):
    from cases.audit import record
    from payments.bankfile import batch_csv_lines
    from payments.bankfile import batch_xlsx as write_xlsx

    actor = _finance_officer(username)
    _regency_wide(actor)
    batch = _batch(code, channel)
    if xlsx:
        with open(out, "wb") as handle:
            write_xlsx(db.session, batch, handle)
    else:
        with open(out, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(batch_csv_lines(db.session, batch))
    batch.downloaded_by = actor.id
    record(
        db.session,
        actor,
        "cycle.batch_downloaded",
        "payment_batch",
        batch.reference,
        detail={
            "format": "xlsx" if xlsx else "csv",
            "count": batch.count,
            "total": batch.total,
            "sha256": batch.control_hash,
            "via": "cli",
        },
    )
    click.echo(f"{out}: {batch.count:,} payments, Rp {batch.total:,}, sha256 {batch.control_hash}")


@cycle.command("results", help="Import a bank's or PT Pos's results file for a batch (CSV or Excel .xlsx).")
@click.argument("code")
@click.argument("channel")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", required=True)
@commits
def results(code, channel, path, username):
    from payments.results import MAX_FILE_BYTES, REASONS, import_and_advance

    actor = _finance_officer(username)
    _regency_wide(actor)
    batch = _batch(code, channel)
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    row = import_and_advance(_services().engine, batch, data, Path(path).name, actor)
    if row.status == "refused":
        reason = REASONS.get(row.refusals[0]["code"], ("", ""))
        click.echo(f"Berkas ditolak / File refused: {reason[0]} / {reason[1]}", err=True)
    elif row.status == "importing":  # celery mode: the workers take the lines in chunks after this commit
        click.echo(f"{batch.reference}: {row.lines} lines checked, being taken by the workers (import {row.id})")
    else:
        click.echo(
            f"{batch.reference}: taken {row.accepted}, already known {row.repeated}, refused {row.refused}; "
            f"batch {batch.status}"
        )
        for refusal in row.refusals[:20]:
            reason = REASONS.get(refusal["code"], (refusal["code"], refusal["code"]))
            click.echo(
                f"  line {refusal['line']} {refusal['reference']}: {refusal['code']} ({reason[0]} / {reason[1]})"
            )


@cycle.command("sandbox-bank", help="Answer a batch file as the sandbox bank or post office would (demo).")
@click.argument("batch_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True)
@click.option("--stage", type=click.Choice(["credit", "draw"]), default="credit")
@click.option("--xlsx", is_flag=True, help="Write the results as the bank's Excel workbook (sheets Kontrol, Hasil).")
def sandbox_bank(batch_path, out, stage, xlsx):
    from integrations.sandbox.paying_bank import results_lines, results_workbook

    with open(batch_path, encoding="utf-8") as handle:
        try:
            lines = results_lines(handle, date.today(), stage=stage)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    if xlsx:
        with open(out, "wb") as handle:
            results_workbook(lines, handle)
    else:
        with open(out, "w", encoding="utf-8", newline="") as handle:
            handle.writelines(lines)
    click.echo(f"{out}: {len(lines) - 1} result lines")
