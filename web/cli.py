"""The `tepat` command line: sandbox data, deploy, submit, tasks, timers, cases, incidents."""
import functools
import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select

from engine.db import db

# Bilingual labels for refusals (Indonesian first); the web layer will move these to Flask-Babel.
ERROR_TEXT = {
    "NIK_INVALID": "NIK tidak valid / Invalid NIK",
    "DUPLICATE_APPLICATION": "Sudah ada kasus terbuka / An open case already exists",
    "FORM_INVALID": "Isian tidak valid / Invalid form",
    "TASK_NOT_READY": "Tugas tidak lagi siap / Task is no longer ready",
    "TASK_ALREADY_CLAIMED": "Tugas dipegang petugas lain / Task held by another officer",
    "TASK_NOT_CLAIMED": "Tugas belum diambil / Task not claimed",
    "TASK_NOT_FOUND": "Tugas tidak ditemukan / Task not found",
    "FOUR_EYES": "Prinsip empat mata / Four-eyes rule",
    "NOT_ALLOWED": "Tidak diizinkan / Not allowed",
    "DEPLOY_REJECTED": "Diagram ditolak / Diagram rejected",
    "MESSAGE_NOT_EXPECTED": "Proses tidak menunggu pesan ini / Process is not waiting for this message",
    "APPEAL_NOT_ALLOWED": "Sanggah tidak dapat diajukan / Appeal not allowed",
    "CASE_NOT_FOUND": "Kasus tidak ditemukan / Case not found",
    "RECHECK_NOT_ALLOWED": "Pemeriksaan ulang tidak dapat dilakukan / Re-check not allowed",
    "INCIDENT_NOT_FOUND": "Insiden tidak ditemukan / Incident not found",
    "PROCESS_NOT_DEPLOYED": "Proses belum dipasang / Process not deployed",
}


def _services():
    from . import services

    return services()


def commits(fn):
    """Run a command in one transaction: commit on success; on a refusal roll back and exit 2."""
    from engine.errors import EngineError

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
            db.session.commit()
            return result
        except EngineError as exc:
            db.session.rollback()
            label = ERROR_TEXT.get(exc.code, exc.code)
            click.echo(f"Error [{exc.code}] {label}: {exc.message}", err=True)
            for key, value in exc.details.items():
                click.echo(f"  {key}: {json.dumps(value, default=str, ensure_ascii=False)}", err=True)
            sys.exit(2)
        except Exception:
            db.session.rollback()
            raise

    return with_appcontext(wrapper)


def _actor(username):
    from cases.operations import actor_for, officer_or_404

    return actor_for(officer_or_404(db.session, username))


def register_cli(app):
    """Attach the command groups to the app."""
    for group in (sandbox, officer, tasks, case, incidents, timers, audit):
        app.cli.add_command(group)
    for command in (deploy, submit, appeal, setup, recheck):
        app.cli.add_command(command)


# --- sandbox data ---------------------------------------------------------------------------

@click.group(help="Synthetic registry data for the sandbox integrations.")
def sandbox():
    pass


@sandbox.command("generate")
@click.option("--people", default=2000, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--seed", default=7, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
def sandbox_generate(people, seed, out_dir):
    """Write registry extract workbooks for a synthetic Banyuwangi population."""
    from integrations.sandbox.generator import generate_population

    report = generate_population(people, seed, out_dir)
    click.echo(f"{report.people} people in {report.households} households -> {out_dir}")
    for kind, nik in sorted(report.personas.items()):
        click.echo(f"  persona {kind}: {nik}")


@sandbox.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False), default=None,
              help="where to write refused rows (default FOLDER/import-errors.xlsx)")
@click.option("--progress-every", default=2.0, show_default=True, type=click.FloatRange(min=0),
              help="seconds between progress lines on stderr")
@commits
def sandbox_import(folder, errors_path, progress_every):
    """Synchronise the sandbox registries with the extracts in FOLDER (all or nothing).

    Good rows are inserted or updated, rows the extracts no longer list are deleted, unchanged rows
    are left alone; refused rows are listed in an error workbook and keep their stored version.
    """
    import time

    from integrations.sandbox.importer import ExtractInvalid, import_extracts

    shown = {"table": None, "at": 0.0}

    def progress(table, rows):
        now = time.monotonic()
        if table != shown["table"] or now - shown["at"] >= progress_every:
            shown.update(table=table, at=now)
            click.echo(f"  {table}: {rows} rows read", err=True)

    try:
        report = import_extracts(folder, db.session, progress=progress, error_workbook_path=errors_path)
    except ExtractInvalid as exc:
        db.session.rollback()
        click.echo("Error: the extracts cannot be imported; nothing was changed.", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    click.echo(f"{'table':<26}{'inserted':>10}{'updated':>10}{'unchanged':>11}{'deleted':>10}"
               f"{'kept':>7}{'rows now':>10}")
    for table, sync in report.sync.items():
        click.echo(f"{table:<26}{sync.inserted:>10}{sync.updated:>10}{sync.unchanged:>11}{sync.deleted:>10}"
                   f"{sync.kept:>7}{report.counts[table]:>10}")
    rate = report.rows_read / report.seconds if report.seconds else 0
    click.echo(f"{report.rows_read} rows read in {report.seconds:.1f} s ({rate:.0f} rows/s)")
    click.echo(f"imported: {json.dumps(report.counts, sort_keys=True)}")
    if report.errors:
        click.echo(f"refused rows: {len(report.errors)} -> {report.error_workbook}")
        for error in report.errors[:20]:
            click.echo(f"  refused {error}", err=True)
        if len(report.errors) > 20:
            click.echo(f"  ... and {len(report.errors) - 20} more refused rows", err=True)
    else:
        click.echo("refused rows: 0")


# --- definitions and officers ----------------------------------------------------------------

@click.command(help="Deploy the BPMN/DMN files of a folder as new versions.")
@click.option("--folder", type=click.Path(exists=True, file_okay=False), default=None)
@click.option("--as", "username", default=None, help="officer who deploys")
@commits
def deploy(folder, username):
    versions, created = _services().engine.deploy_folder(folder, deployed_by=username)
    for v in versions:
        mark = "new" if v.id in created else "unchanged"
        click.echo(f"{v.process_id} version {v.id} ({v.content_hash[:12]}) {mark}")


@click.group(help="Officers (caseworkers, supervisors, appeals officers, administrators).")
def officer():
    pass


@officer.command("add")
@click.argument("username")
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["caseworker", "supervisor", "appeals_officer", "administrator", "auditor",
                                 "facilitator"]))
@click.option("--region", "regions", multiple=True, help="district code 01-25; none = all districts")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="at least 10 characters (prompted when not given)")
@commits
def officer_add(username, name, roles, regions, password):
    """Add an officer."""
    from cases.operations import create_officer

    try:
        create_officer(db.session, username, name, roles, list(regions) or None, password=password)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--password") from exc
    click.echo(f"officer {username} added: {', '.join(roles)}")


@officer.command("list")
@with_appcontext
def officer_list():
    """List officers."""
    from cases.models import Officer

    for o in db.session.execute(select(Officer).order_by(Officer.username)).scalars():
        regions = ",".join(o.regions) if o.regions else "all"
        click.echo(f"{o.username:15} {','.join(o.roles):30} regions={regions}  {o.name}")


# --- applications --------------------------------------------------------------------------

@click.command(help="Submit an application (as the applicant, or a facilitator with --facilitator).")
@click.option("--nik", required=True)
@click.option("--selfie", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--payment-channel", default="BRI", show_default=True)
@click.option("--account", default=None)
@click.option("--phone", default=None)
@click.option("--facilitator", default=None, help="username of the facilitator registering the applicant")
@commits
def submit(nik, selfie, payment_channel, account, phone, facilitator):
    from cases.operations import submit_application

    svc = _services()
    payload = {"nik": nik, "consent": True, "payment_channel": payment_channel, "bank_account": account,
               "phone": phone, "channel": "facilitator" if facilitator else "self", "facilitator_id": facilitator}
    data = Path(selfie).read_bytes() if selfie else None
    app = submit_application(svc.engine, payload, photos=svc.photos, selfie=data,
                             actor=facilitator or "applicant")
    db.session.flush()
    click.echo(f"case {app.case_number}: {app.status}")
    _print_decision(app)


@click.command(help="File an appeal (sanggah) on a rejected case.")
@click.argument("case_number")
@click.option("--reason", required=True)
@commits
def appeal(case_number, reason):
    from cases.operations import case_or_404, file_appeal

    file_appeal(_services().engine, case_number, {"reason": reason})
    db.session.flush()
    app = case_or_404(db.session, case_number)
    click.echo(f"appeal filed on {case_number}: {app.status}")


@click.command(help="Re-check enrolled families on fresh evidence (as for the quarterly DTSEN update).")
@click.argument("case_numbers", nargs=-1)
@click.option("--all-enrolled", is_flag=True, help="every enrolled case, one transaction each")
@with_appcontext
def recheck(case_numbers, all_enrolled):
    from cases.models import Application
    from cases.operations import case_or_404, recheck_enrolment
    from engine.errors import EngineError

    if all_enrolled:
        case_numbers = db.session.scalars(select(Application.case_number)
                                          .where(Application.status == "ENROLLED")).all()
    failures = 0
    for number in case_numbers:
        try:
            recheck_enrolment(_services().engine, number)
            db.session.commit()
            app = case_or_404(db.session, number)
            click.echo(f"{number}: {app.status}")
        except EngineError as exc:
            db.session.rollback()
            failures += 1
            click.echo(f"{number}: Error [{exc.code}] {exc.message}", err=True)
    if failures:
        sys.exit(2)


@click.group(help="Cases: show one with its timeline, reasons and evidence.")
def case():
    pass


def _print_decision(app):
    if app.decision:
        click.echo(f"  keputusan / decision: {app.decision} (by {app.decided_by})  rules: {app.rule_version}")
    for r in app.reasons or []:
        click.echo(f"  - [{r.get('code')}] {r.get('id')} / {r.get('en')}")
    if app.review_flags:
        click.echo(f"  flags: {', '.join(app.review_flags)}")


@case.command("show")
@click.argument("case_number")
@click.option("--evidence/--no-evidence", default=False)
@with_appcontext
def case_show(case_number, evidence):
    """Show a case: status, decision and reasons, benefits, timeline."""
    from cases.models import CaseEvent, EvidenceRecord
    from cases.operations import case_or_404
    from cases.privacy import mask_identifiers
    from integrations.nik import mask_nik

    app = case_or_404(db.session, case_number)
    click.echo(f"{app.case_number}  NIK {mask_nik(app.nik)}  {app.applicant_name or '-'}  district {app.district_code}")
    click.echo(f"  status: {app.status}")
    _print_decision(app)
    if app.explanation:
        click.echo("  penjelasan / explanation:")
        for e in app.explanation:
            facts = ", ".join(f"{k}={v}" for k, v in mask_identifiers(e["facts"]).items())
            click.echo(f"    [{e['outcome']:12}] {e['criterion']}: {e['text_id']} / {e['text_en']}  ({facts})")
    if app.benefits:
        b = app.benefits
        click.echo(f"  programmes: {', '.join(b.get('programmes', []))}  annual cash: Rp{b.get('annual_cash_total', 0):,}"
                   f"  first payment: Rp{b.get('first_payment', 0):,}")
    events = db.session.execute(select(CaseEvent).where(CaseEvent.application_id == app.id)).scalars().all()
    checks = db.session.execute(select(EvidenceRecord).where(EvidenceRecord.application_id == app.id)
                                .order_by(EvidenceRecord.id)).scalars().all()
    lines = [(e.at, 0, e.id, f"{e.actor:12} {e.summary}") for e in events]
    lines += [(ev.checked_at, 1, ev.id, f"{'system':12} Check answered: {ev.source} ({ev.operator})") for ev in checks]
    click.echo("  timeline:")
    for at, _, _, text in sorted(lines):
        click.echo(f"    {at:%Y-%m-%d %H:%M:%S} {text}")
    if evidence:
        click.echo("  evidence:")
        for ev in checks:
            shown = json.dumps(mask_identifiers(ev.value), default=str)
            click.echo(f"    {ev.checked_at:%Y-%m-%d %H:%M:%S} {ev.source:16} {shown[:200]}")


# --- human tasks ---------------------------------------------------------------------------

@click.group(help="Human tasks: list, claim, unclaim, reassign, complete.")
def tasks():
    pass


@tasks.command("list")
@click.option("--as", "username", required=True)
@click.option("--mine", is_flag=True)
@with_appcontext
def tasks_list(username, mine):
    """List the tasks an officer may work, most urgent first."""
    from engine.humantasks import list_tasks, queue_counts

    actor = _actor(username)
    for (queue, region), n in sorted(queue_counts(db.session, actor).items(), key=lambda x: (x[0][0], x[0][1] or "")):
        click.echo(f"queue {queue} district {region}: {n} open")
    for t in list_tasks(db.session, actor, mine=mine):
        due = f"{t.due_at:%Y-%m-%d}" if t.due_at else "-"
        flags = f" flags={','.join(t.flags)}" if t.flags else ""
        click.echo(f"#{t.id:<6} {t.status:8} {t.business_key} {t.name} form={t.form_name} due={due} "
                   f"prio={t.priority} assignee={t.assignee or '-'}{flags}")


@tasks.command("claim")
@click.argument("task_id", type=int)
@click.option("--as", "username", required=True)
@commits
def tasks_claim(task_id, username):
    """Claim a task."""
    from engine.humantasks import claim_task

    row = claim_task(_services().engine, task_id, _actor(username))
    click.echo(f"task {row.id} claimed by {row.assignee}")


@tasks.command("unclaim")
@click.argument("task_id", type=int)
@click.option("--as", "username", required=True)
@commits
def tasks_unclaim(task_id, username):
    """Put a task back in its queue."""
    from engine.humantasks import unclaim_task

    row = unclaim_task(_services().engine, task_id, _actor(username))
    click.echo(f"task {row.id} back in queue {row.queue}")


@tasks.command("reassign")
@click.argument("task_id", type=int)
@click.option("--to", "target", required=True)
@click.option("--as", "username", required=True)
@commits
def tasks_reassign(task_id, target, username):
    """Give a task to another officer (supervisors)."""
    from engine.humantasks import reassign_task

    row = reassign_task(_services().engine, task_id, _actor(username), _actor(target))
    click.echo(f"task {row.id} reassigned to {row.assignee}")


@tasks.command("complete")
@click.argument("task_id", type=int)
@click.option("--as", "username", required=True)
@click.option("-f", "--field", "fields", multiple=True, help="form field as name=value")
@commits
def tasks_complete(task_id, username, fields):
    """Complete a claimed task with form fields."""
    from cases.operations import case_or_404
    from engine.humantasks import complete_task

    data = {}
    for item in fields:
        name, _, value = item.partition("=")
        data[name.strip()] = value
    row = complete_task(_services().engine, task_id, _actor(username), data)
    db.session.flush()
    app = case_or_404(db.session, row.business_key)
    click.echo(f"task {row.id} completed; case {app.case_number}: {app.status}")
    _print_decision(app)


# --- timers and incidents --------------------------------------------------------------------

@click.group(help="Timers and service retries.")
def timers():
    pass


@timers.command("fire")
@with_appcontext
def timers_fire():
    """Fire every due timer and retry now (the scheduler job, once)."""
    from .scheduler import fire_due

    n = fire_due(current_app._get_current_object())
    click.echo(f"{n} instance(s) woken")


@click.group(help="Incidents: tasks the engine could not run.")
def incidents():
    pass


@incidents.command("list")
@with_appcontext
def incidents_list():
    """List open incidents."""
    from engine.models import Incident

    rows = db.session.execute(select(Incident).where(Incident.status == "open").order_by(Incident.id)).scalars()
    for i in rows:
        click.echo(f"#{i.id} {i.business_key} {i.bpmn_id} ({i.operator}) attempts={i.attempts} {i.created_at:%Y-%m-%d %H:%M}"
                   f"\n    {i.error}")


@incidents.command("retry")
@click.argument("incident_id", type=int)
@click.option("--as", "username", required=True)
@commits
def incidents_retry(incident_id, username):
    """Run the failed task again."""
    inst = _services().engine.retry_incident(incident_id, _actor(username))
    click.echo(f"incident {incident_id} retried; instance {inst.id} is {inst.status}")


@incidents.command("skip")
@click.argument("incident_id", type=int)
@click.option("--as", "username", required=True)
@commits
def incidents_skip(incident_id, username):
    """Complete the failed task without running it."""
    inst = _services().engine.skip_incident(incident_id, _actor(username))
    click.echo(f"incident {incident_id} skipped; instance {inst.id} is {inst.status}")


# --- audit trail ------------------------------------------------------------------------------

@click.group(help="The hash-chained audit log.")
def audit():
    pass


@audit.command("verify")
@click.option("--batch", default=10_000, show_default=True)
@with_appcontext
def audit_verify(batch):
    """Recompute every hash; exit 1 if the chain is broken."""
    from cases.audit import record, verify_chain

    result = verify_chain(db.session, batch=batch)
    record(db.session, "cli", "audit.verify", user_agent="cli", detail={"ok": result.ok, "checked": result.checked})
    db.session.commit()
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} entries")
    else:
        click.echo(f"audit chain BROKEN at entry {result.first_bad_id}: {result.reason}", err=True)
        sys.exit(1)


@audit.command("export")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True)
@with_appcontext
def audit_export(out_path):
    """Write every entry with its hashes to a CSV file."""
    from cases.audit import export_csv, record

    with open(out_path, "w", newline="", encoding="utf-8") as out:
        count = export_csv(db.session, out)
    record(db.session, "cli", "audit.export", user_agent="cli", detail={"rows": count})
    db.session.commit()
    click.echo(f"{count} entries -> {out_path}")


# --- one-shot setup ----------------------------------------------------------------------------

DEMO_PASSWORD = "tepat-demo-2026"  # demo data only; real officers get their own
DEMO_OFFICERS = [
    ("caseworker1", "Sari Caseworker", ["caseworker"], None),
    ("caseworker2", "Budi Caseworker", ["caseworker"], None),
    ("supervisor1", "Dewi Supervisor", ["supervisor"], None),
    ("supervisor2", "Agus Supervisor", ["supervisor"], None),
    ("appeals1", "Rina Appeals", ["appeals_officer"], None),
    ("admin", "Admin", ["administrator", "supervisor"], None),
]


@click.command(help="Upgrade the database, deploy processes, and load demo data on an empty database.")
@click.option("--demo/--no-demo", default=True)
@commits
def setup(demo):
    from flask_migrate import upgrade

    from cases.models import Officer
    from cases.operations import create_officer
    from integrations.sandbox.generator import generate_population
    from integrations.sandbox.importer import import_extracts
    from integrations.sandbox.tables import people

    upgrade()
    versions, created = _services().engine.deploy_folder(deployed_by="setup")
    click.echo(f"processes: {', '.join(f'{v.process_id} v{v.id}' for v in versions)} ({len(created)} new)")
    if not demo:
        return
    from cases.accounts import set_password

    for username, name, roles, regions in DEMO_OFFICERS:
        existing = db.session.execute(select(Officer).where(Officer.username == username)).scalar_one_or_none()
        if existing is None:
            create_officer(db.session, username, name, roles, regions, password=DEMO_PASSWORD)
        elif not existing.password_hash:  # demo officers made before sign-in existed
            set_password(existing, DEMO_PASSWORD)
    click.echo(f"demo officers: {', '.join(o[0] for o in DEMO_OFFICERS)} (password {DEMO_PASSWORD!r})")
    if not db.session.scalar(select(func.count()).select_from(people)):
        cfg = current_app.config
        out = Path(cfg["BANSOS_VAR_DIR"]) / "extracts"
        report = generate_population(cfg["BANSOS_DEMO_PEOPLE"], cfg["BANSOS_DEMO_SEED"], out)
        import_extracts(out, db.session)
        click.echo(f"demo registry: {report.people} people; personas in {out / 'personas.json'}")


def main():
    """Entry point of the `tepat` command."""
    from . import create_app

    cli = FlaskGroup(create_app=create_app, add_version_option=False, help="Tepat: bansos case engine.")
    cli.main(prog_name="tepat")
