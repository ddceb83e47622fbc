"""Commands for casework: submit, appeal, re-check, show cases, tasks, timers, incidents."""

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale, gettext
from sqlalchemy import select

from engine.db import db, unit_of_work
from integrations.payments import CHANNELS, PaymentChannel

from .cli import _actor, _services, commits, wib
from .labels import event_text

# --- applications --------------------------------------------------------------------------


@click.command(help="Submit an application (as the applicant, or a facilitator with --facilitator).")
@click.option("--nik", required=True)
@click.option("--selfie", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option(
    "--payment-channel",
    type=click.Choice(CHANNELS),
    default=None,
    help="bank of --account (default BRI); without an account the benefit is paid at the post "
    "office (POS, PT Pos Indonesia)",
)
@click.option("--account", default=None, help="bank account number; leave out to be paid through PT Pos")
@click.option("--phone", default=None)
@click.option("--facilitator", default=None, help="username of the facilitator registering the applicant")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="with workers (BANSOS_EXECUTION=celery): wait for the decision, with a progress line",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="seconds to wait for the decision (default BANSOS_SUBMIT_WAIT_SECONDS)",
)
@commits
def submit(nik, selfie, payment_channel, account, phone, facilitator, wait, timeout):
    from cases.operations import case_or_404, submit_application

    svc = _services()
    if payment_channel is None:
        payment_channel = PaymentChannel.BRI.value if account else PaymentChannel.POS.value
    payload = {
        "nik": nik,
        "consent": True,
        "payment_channel": payment_channel,
        "bank_account": account,
        "phone": phone,
        "channel": "facilitator" if facilitator else "self",
        "facilitator_id": facilitator,
    }
    data = Path(selfie).read_bytes() if selfie else None
    with unit_of_work(db.session):  # a unit of its own (nested in the command's): the workers see it committed
        app = submit_application(svc.engine, payload, photos=svc.photos, selfie=data, actor=facilitator or "applicant")
        db.session.flush()
        number = app.case_number
    if svc.engine.defer_steps:  # the workers check it after that commit
        click.echo(f"case {number}: {app.status}")
        if not wait:
            click.echo(f"the workers check it; follow it with: tepat case show {number}")
            return
        limit = timeout if timeout is not None else float(current_app.config["BANSOS_SUBMIT_WAIT_SECONDS"])
        if not wait_for_steps(svc.engine, number, limit):
            click.echo(f"no decision after {limit:.0f} s; the workers go on: tepat case show {number}", err=True)
            sys.exit(3)
        app = case_or_404(db.session, number)
    click.echo(f"case {number}: {app.status}")
    _print_decision(app)


def wait_for_steps(engine, business_key, timeout, interval=0.5):
    """Follow the workers until the case's pending steps are done, with a progress line; False on timeout."""
    import time

    from engine.dispatch import steps_pending

    started = time.monotonic()
    tty = sys.stderr.isatty()
    shown = -1
    while True:
        db.session.rollback()  # a fresh snapshot: the worker commits elsewhere
        if not steps_pending(engine, business_key):
            if tty and shown >= 0:
                click.echo("", err=True)
            return True
        waited = time.monotonic() - started
        if waited >= timeout:
            if tty:
                click.echo("", err=True)
            return False
        if int(waited) != shown and (tty or int(waited) % 5 == 0):
            shown = int(waited)
            line = f"{business_key}: sedang diproses / being processed ... {shown} s"
            click.echo(f"\r{line}\x1b[K" if tty else line, err=True, nl=not tty)
        time.sleep(interval)


@click.command(help="File an appeal (banding) on a rejected case.")
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
@click.option(
    "--all-enrolled",
    is_flag=True,
    help="every enrolled case (of --as's districts), as a tracked run: on the workers with "
    "BANSOS_EXECUTION=celery, else in this process (tepat runs show ID)",
)
@click.option("--wait", is_flag=True, help="with --all-enrolled: follow the run's progress until it finishes")
@click.option("--as", "username", default=None, help="officer who starts the run (default: the command line)")
@with_appcontext
def recheck(case_numbers, all_enrolled, wait, username):
    from cases.operations import case_or_404, recheck_enrolment
    from engine.errors import EngineError

    if all_enrolled:
        from cases.runkinds import start_recheck_run

        from .commands_runs import cli_actor, start_and_follow, start_run

        run = start_run(lambda engine: start_recheck_run(engine, cli_actor(username), user_agent="cli"))
        run = start_and_follow(run, wait)
        if run.status == "failed":
            sys.exit(2)
        return
    failures = 0
    for number in case_numbers:
        try:
            with unit_of_work(db.session):  # one unit per case: a refused case does not undo the others
                recheck_enrolment(_services().engine, number)
            app = case_or_404(db.session, number)
            click.echo(f"{number}: {app.status}")
        except EngineError as exc:
            failures += 1
            click.echo(f"{number}: Error [{exc.code}] {exc.message}", err=True)
    if failures:
        sys.exit(2)


@click.group(help="Cases: show one with its timeline, reasons and evidence.")
def case():
    pass


def _print_payment_plan(app):
    """Enrolment pays nothing itself: the payment cycles do. The plan it recorded (or, for a family enrolled by the
    older path, the first stage it paid at enrolment)."""
    from cases.models import Enrolment

    enrolment = db.session.execute(select(Enrolment).where(Enrolment.application_id == app.id)).scalar_one_or_none()
    if enrolment is None:
        return
    if enrolment.disbursement_ref:
        click.echo(
            f"  dibayar saat pendaftaran / paid at enrolment: {enrolment.disbursement_ref}  "
            f"Rp{int((enrolment.benefits or {}).get('first_payment') or 0):,}"
        )
    plan = enrolment.payment_plan or {}
    for c in plan.get("cycles") or []:
        click.echo(
            f"  pembayaran pertama / first payment: {c['programme']} stage {c['cycle']} "
            f"({c['months'][0]}..{c['months'][-1]}, list frozen {c['cut_off']}), about Rp{c['estimated']:,}"
            f" via {plan.get('channel')}"
        )
    for programme in plan.get("unscheduled") or []:
        click.echo(f"  pembayaran pertama / first payment: {programme} with the next cycle opened for it")


def _print_decision(app):
    if app.decision:
        click.echo(f"  keputusan / decision: {app.decision} (by {app.decided_by})  rules: {app.rule_version}")
    from forms.reason_codes import applicant_reason_text, officer_written

    for r in app.reasons or []:
        # an officer's reason shows its catalogue texts (what the applicant reads), never a note kept in it
        texts = (
            (applicant_reason_text(r, "id"), applicant_reason_text(r, "en"))
            if officer_written(r)
            else (r.get("id"), r.get("en"))
        )
        click.echo(f"  - [{r.get('code')}] {texts[0]} / {texts[1]}")
    if app.applicant_message:
        click.echo(f"  pesan untuk pemohon / message to the applicant: {app.applicant_message}")
    if app.review_flags:
        click.echo(f"  flags: {', '.join(app.review_flags)}")


@case.command("show")
@click.argument("case_number")
@click.option("--evidence/--no-evidence", default=False)
@click.option("--as", "username", default="cli", help="who is looking (recorded in the audit log)")
@commits
def case_show(case_number, evidence, username):
    """Show a case: status, decision and reasons, benefits, timeline."""
    from cases.audit import record
    from cases.duplicates import as_shown
    from cases.models import CaseEvent, EvidenceRecord
    from cases.operations import case_or_404
    from cases.privacy import mask_identifiers
    from integrations.nik import mask_nik

    app = case_or_404(db.session, case_number)
    record(
        db.session,
        username,
        "case.view",
        target_type="case",
        target_id=case_number,
        user_agent="cli",
        detail={"evidence": evidence},
    )
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
        click.echo(
            f"  programmes: {', '.join(b.get('programmes', []))}  annual cash: Rp{b.get('annual_cash_total', 0):,}"
        )
    _print_payment_plan(app)
    _print_appeals_and_decisions(app)
    events = db.session.execute(select(CaseEvent).where(CaseEvent.application_id == app.id)).scalars().all()
    checks = as_shown(  # the other cases of a face search with their NIKs masked in today's format
        db.session,
        db.session.execute(
            select(EvidenceRecord).where(EvidenceRecord.application_id == app.id).order_by(EvidenceRecord.id)
        )
        .scalars()
        .all(),
    )
    lines = [(e.at, 0, e.id, f"{e.actor:12} {_in_both_languages(event_text, e)}") for e in events]
    lines += [(ev.checked_at, 1, ev.id, f"{'system':12} {_in_both_languages(_check_answered, ev)}") for ev in checks]
    click.echo("  timeline:")
    for at, _, _, text in sorted(lines):
        click.echo(f"    {wib(at)} {text}")
    if evidence:
        click.echo("  evidence:")
        for ev in checks:
            shown = json.dumps(mask_identifiers(ev.value), default=str)
            click.echo(f"    {wib(ev.checked_at)} {ev.source:16} {shown[:200]}")


def _check_answered(record):
    from .labels import source_label

    return gettext("Check answered: %(source)s", source=source_label(record.source))


def _in_both_languages(render, item):
    """Render a line as the officers' pages do, Indonesian first, then English when it differs."""
    with force_locale("id"):
        indonesian = str(render(item))
    with force_locale("en"):
        english = str(render(item))
    return indonesian if indonesian == english else f"{indonesian} / {english}"


def _print_appeals_and_decisions(app):
    """The applicant's appeals (reason, evidence files) and the officers' decisions (notes included)."""
    from cases.decisions import human_decisions
    from cases.models import Appeal
    from cases.portal.files import files_of_case
    from forms.reason_codes import reason_text

    appeals = (
        db.session.execute(select(Appeal).where(Appeal.application_id == app.id).order_by(Appeal.id)).scalars().all()
    )
    files = files_of_case(db.session, app)
    for appeal in appeals:
        click.echo(f"  banding / appeal {wib(appeal.filed_at)}: {appeal.outcome or 'open'}")
        click.echo(f"    alasan pemohon / applicant's reason: {appeal.reason}")
        for f in (f for f in files if f.appeal_id == appeal.id):
            click.echo(
                f"    file: {f.filename} ({f.content_type}, {f.size} bytes) "
                f"/cases/{app.case_number}/evidence-files/{f.key}"
            )
    decisions = human_decisions(db.session, app.case_number)
    if decisions:
        click.echo("  keputusan petugas / officers' decisions:")
    for d in decisions:
        click.echo(f"    {wib(d.at)} {d.officer} ({', '.join(d.officer_roles) or '-'}) {d.task_name}: {d.decision}")
        for code in d.reason_codes:
            click.echo(f"      [{code}] {reason_text(code, 'id')} / {reason_text(code, 'en')}")
        if d.message:
            click.echo(f"      pesan untuk pemohon / message to the applicant: {d.message}")
        if d.notes:
            click.echo(f"      catatan internal / internal note: {d.notes}")


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
    rows = list_tasks(db.session, actor, mine=mine)
    if not rows:
        click.echo("Tidak ada tugas. / No tasks.")
    for t in rows:
        due = wib(t.due_at, date_only=True)
        flags = f" flags={','.join(t.flags)}" if t.flags else ""
        click.echo(
            f"#{t.id:<6} {t.status:8} {t.business_key} {t.name} form={t.form_name} due={due} "
            f"prio={t.priority} assignee={t.assignee or '-'}{flags}"
        )


@tasks.command("claim")
@click.argument("task_id", type=int)
@click.option("--as", "username", required=True)
@commits
def tasks_claim(task_id, username):
    """Claim a task."""
    from cases.enrolment_check import approval_warning
    from engine.humantasks import claim_task

    row = claim_task(_services().engine, task_id, _actor(username))
    click.echo(f"task {row.id} claimed by {row.assignee}")
    warning = approval_warning(_services().engine, row)
    if warning:  # told before approving: approving this one rejects the case with these reasons
        click.echo(
            "PERINGATAN: keluarga ini tidak dapat didaftarkan; jika disetujui, permohonan ditolak karena: / "
            "WARNING: this family cannot be enrolled; approving rejects the application because:"
        )
        for blocker in warning["blockers"]:
            click.echo(f"  {blocker['code']}: {blocker['id']} / {blocker['en']}")


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
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="with workers: wait (BANSOS_SUBMIT_WAIT_SECONDS) for the steps the task leaves to them",
)
@commits
def tasks_complete(task_id, username, fields, wait):
    """Complete a claimed task with form fields."""
    from cases.operations import case_or_404
    from engine.humantasks import complete_task

    data = {}
    for item in fields:
        name, _, value = item.partition("=")
        data[name.strip()] = value
    engine = _services().engine
    with unit_of_work(db.session):  # a unit of its own (nested in the command's): the workers see it committed
        row = complete_task(engine, task_id, _actor(username), data)
        db.session.flush()
        key = row.business_key
    if engine.defer_steps and wait:  # the workers run what follows, after that commit
        if not wait_for_steps(engine, key, float(current_app.config["BANSOS_SUBMIT_WAIT_SECONDS"])):
            click.echo(f"the workers have not finished yet: tepat case show {key}", err=True)
    app = case_or_404(db.session, key)
    click.echo(f"task {row.id} completed; case {app.case_number}: {app.status}")
    _print_decision(app)


# --- timers and incidents --------------------------------------------------------------------


@click.group(help="Timers and service retries.")
def timers():
    pass


@timers.command("fire")
@with_appcontext
def timers_fire():
    """Fire every due timer and retry now, however many are due (what the scheduler job does)."""
    from .scheduler import run_due

    run = run_due(current_app._get_current_object(), bounded=False)
    click.echo(f"{run.woken} instance(s) woken")
    if run.failed or run.incidents:
        click.echo(
            f"Gagal dilanjutkan / failed to wake: {run.failed} (dicoba lagi nanti / tried again later), "
            f"{run.incidents} menjadi insiden / became incidents (tepat incidents list)"
        )


@click.group(help="Incidents: tasks the engine could not run.")
def incidents():
    pass


@incidents.command("list")
@with_appcontext
def incidents_list():
    """List open incidents."""
    from engine.models import Incident

    rows = db.session.execute(select(Incident).where(Incident.status == "open").order_by(Incident.id)).scalars().all()
    if not rows:
        click.echo("Tidak ada insiden terbuka. / No open incidents.")
    for i in rows:
        click.echo(
            f"#{i.id} {i.business_key} {i.bpmn_id} ({i.operator}) attempts={i.attempts} {wib(i.created_at)}"
            f"\n    {i.error}"
        )


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
