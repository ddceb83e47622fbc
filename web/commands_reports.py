"""Commands for programme reports: `tepat report targeting [--xlsx FILE] [--as OFFICER]`."""

import click
from flask import current_app

from engine.db import db

from .cli import commits


@click.group(help="Programme reports (laporan program).")
def report():
    pass


@report.command("targeting")
@click.option(
    "--xlsx",
    "xlsx_path",
    type=click.Path(dir_okay=False, writable=True),
    help="also write the report as an Excel workbook to this file",
)
@click.option(
    "--as",
    "username",
    default=None,
    help="officer whose districts limit the report (default: the command line, every district)",
)
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True)
@commits
def report_targeting(xlsx_path, username, lang):
    """Families and the annual benefit kept out per exclusion ground, per district; families enrolled."""
    from cases.audit import record
    from cases.officers import district_name
    from cases.targeting import GROUND_KEYS, ground_label, method_text, targeting_report, write_xlsx

    from .commands_runs import cli_actor

    actor = cli_actor(username)
    result = targeting_report(db.session, actor, current_app.config["BANSOS_BENEFITS"])
    for area in result.districts:
        area.name = district_name(area.code) or area.name

    def line(label, cell):
        click.echo(f"  {label:<58} {cell.families:>7} Rp{cell.total:>18,}")

    for area in [*result.districts, result.total]:
        click.echo(f"{area.code} {area.name}" if area.code else ("JUMLAH / TOTAL" if lang == "id" else "TOTAL"))
        for key in GROUND_KEYS:
            line(ground_label(key, lang), area.grounds[key])
        line("Dikecualikan (alasan apa pun, sekali)" if lang == "id" else "Excluded (any ground, once)", area.excluded)
        line("Layak (terdaftar)" if lang == "id" else "Eligible (enrolled)", area.included)
    click.echo("")
    for paragraph in method_text(lang):
        click.echo(paragraph)
    if xlsx_path:
        write_xlsx(result, xlsx_path, lang)
        click.echo(f"xlsx: {xlsx_path}")
    record(
        db.session,
        actor,
        "report.targeting.export" if xlsx_path else "report.targeting.view",
        user_agent="cli",
        detail={
            "districts": [a.code for a in result.districts],
            "excluded": result.total.excluded.families,
            "included": result.total.included.families,
        },
    )


@report.command("programme")
@click.option(
    "--xlsx",
    "xlsx_path",
    type=click.Path(dir_okay=False, writable=True),
    help="also write the figures as an Excel workbook to this file",
)
@click.option(
    "--as",
    "username",
    default=None,
    help="officer whose districts limit the figures (default: the command line, every district)",
)
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True)
@commits
def report_programme(xlsx_path, username, lang):
    """Enrolments and exits, payments and PKH commitments per quarter and district."""
    from cases.audit import record
    from cases.officers import district_name
    from cases.programme_figures import cycle_figures, programme_figures, write_xlsx

    from .commands_runs import cli_actor

    actor = cli_actor(username)
    figures = programme_figures(db.session, actor)
    click.echo("triwulan/quarter  baru/new  dikeluarkan/removed  graduasi/graduated  lainnya/other")
    for q in figures.quarter_list():
        c = figures.quarters[q]
        click.echo(f"{q:<17} {c.enrolled:>8} {c.removed:>20} {c.graduated:>19} {c.other:>14}")
    click.echo("kecamatan/district  aktif/active  keluar/exits")
    for d in figures.district_list():
        click.echo(f"{d} {district_name(d):<16} {figures.active.get(d, 0):>12} {figures.districts[d].exits:>13}")
    cycles = cycle_figures(db.session, actor)
    click.echo(
        "triwulan/quarter  dibayar/paid  Rp  gagal/failed  kembali/returned  periksa/checks  memenuhi/compliant"
        "  peringatan/warnings  tangguh/suspended"
    )
    for q in cycles.quarter_list():
        c = cycles.quarters[q]
        click.echo(
            f"{q:<17} {c.paid:>12} {c.paid_amount:>14} {c.failed:>12} {c.returned:>16} {c.checks:>14}"
            f" {c.compliant:>18} {c.warnings:>19} {c.suspended:>17}"
        )
    if xlsx_path:
        write_xlsx(figures, xlsx_path, lambda d: f"{d} {district_name(d)}".strip(), lang, cycles=cycles)
        click.echo(f"xlsx: {xlsx_path}")
    record(
        db.session,
        actor,
        "report.programme.export" if xlsx_path else "report.programme.view",
        user_agent="cli",
        detail={"districts": figures.district_list()},
    )


@click.group(help="Graduation (graduasi): families leaving the programme self-sufficient.")
def graduation():
    pass


@graduation.command("candidates")
@click.option("--as", "username", default=None, help="officer whose districts limit the list")
@commits
def graduation_candidates(username):
    """List the enrolled families meeting the graduation criteria (BANSOS_GRADUATION)."""
    from cases.audit import record
    from cases.graduation import criteria_candidates

    from .commands_runs import cli_actor

    actor = cli_actor(username)
    numbers = criteria_candidates(db.session, actor, current_app.config["BANSOS_GRADUATION"])
    if not numbers:
        click.echo("Tidak ada keluarga yang memenuhi kriteria. / No family meets the criteria.")
    for number in numbers:
        click.echo(number)
    click.echo(f"{len(numbers)} keluarga memenuhi kriteria / families meet the criteria", err=True)
    record(db.session, actor, "graduation.candidates", user_agent="cli", detail={"count": len(numbers)})


@graduation.command("start")
@click.argument("case_number")
@click.option("--kind", type=click.Choice(["voluntary", "criteria"]), required=True)
@click.option("--confirm", is_flag=True, help="voluntary: the family itself declared it is self-sufficient")
@click.option("--as", "username", required=True, help="officer or facilitator who records it")
@commits
def graduation_start(case_number, kind, confirm, username):
    """Start a family's graduation (criteria: a caseworker confirms; voluntary: needs --confirm)."""
    import sys

    from cases.graduation import start_graduation
    from cases.operations import case_or_404

    from .commands_runs import cli_actor

    if kind == "voluntary" and not confirm:
        click.echo(
            "Konfirmasi pernyataan keluarga dengan --confirm / confirm the family's declaration with --confirm",
            err=True,
        )
        sys.exit(2)
    actor = cli_actor(username)
    declared_by = ("facilitator" if "facilitator" in actor.roles else "officer") if kind == "voluntary" else "criteria"
    start_graduation(_engine(), case_number, kind, actor, declared_by, user_agent="cli")
    db.session.flush()
    click.echo(f"{case_number}: {case_or_404(db.session, case_number).status}")


def _engine():
    from .cli import _services

    return _services().engine
