"""Commands for data and set-up: sandbox registries, processes, officers, audit log, setup."""

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from cases.officers import OFFICER_ROLES
from engine.db import db, unit_of_work

from .cli import _services, commits, wib

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
        born = report.sign_in.get(kind, {}).get("birth_date", "-")
        click.echo(f"  persona {kind}: {nik}  lahir/born {born}")


@sandbox.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--errors",
    "errors_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="where to write refused rows (default FOLDER/import-errors.xlsx)",
)
@click.option(
    "--progress-every",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="seconds between progress lines on stderr",
)
@click.option(
    "--allow-mass-delete",
    is_flag=True,
    help="delete even more than BANSOS_IMPORT_MAX_DELETE_SHARE of a table's stored rows",
)
@click.option(
    "--on-workers", is_flag=True, help="as a tracked run: on a worker with BANSOS_EXECUTION=celery (tepat runs show ID)"
)
@click.option("--wait", is_flag=True, help="with --on-workers: follow the run until it finishes")
@click.option("--as", "username", default=None, help="with --on-workers: the administrator who starts it")
@commits
def sandbox_import(folder, errors_path, progress_every, allow_mass_delete, on_workers, wait, username):
    """Synchronise the sandbox registries with the extracts in FOLDER (all or nothing).

    Good rows are inserted or updated, rows the extracts no longer list are deleted, unchanged rows
    are left alone; refused rows are listed in an error workbook and keep their stored version.
    An import that would delete more than BANSOS_IMPORT_MAX_DELETE_SHARE (10%) of a table's stored
    rows is refused unless --allow-mass-delete is given.
    """
    import time

    from integrations.sandbox.importer import ExtractInvalid, MassDeleteRefused, import_extracts

    limit = None if allow_mass_delete else current_app.config["BANSOS_IMPORT_MAX_DELETE_SHARE"]
    if on_workers:
        _import_as_run(folder, errors_path, limit, wait, username)
        return

    shown = {"table": None, "at": 0.0}

    def progress(table, rows):
        now = time.monotonic()
        if table != shown["table"] or now - shown["at"] >= progress_every:
            shown.update(table=table, at=now)
            click.echo(f"  {table}: {rows} rows read", err=True)

    from cases.programme import after_import, record_changes, snapshot_registry

    since = snapshot_registry(db.session)  # the watched fields before: the change set is kept after
    try:
        report = import_extracts(
            folder, db.session, progress=progress, error_workbook_path=errors_path, max_delete_share=limit
        )
    except ExtractInvalid as exc:  # sys.exit: @commits rolls the command's unit back
        click.echo(
            "Error [EXTRACT_INVALID] Ekstrak tidak dapat diimpor; tidak ada yang diubah. / "
            "The extracts cannot be imported; nothing was changed.",
            err=True,
        )
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    except MassDeleteRefused as exc:  # likewise
        click.echo(
            f"Error [MASS_DELETE] Impor ditolak: akan menghapus lebih dari {exc.limit:.0%} baris "
            f"yang tersimpan; tidak ada yang diubah. / Import refused: it would delete more than "
            f"{exc.limit:.0%} of the stored rows; nothing was changed.",
            err=True,
        )
        for t in exc.tables:
            click.echo(f"  {t.table}: {t.deleting} dari/of {t.stored} baris/rows ({t.share:.0%})", err=True)
        click.echo(
            "  Periksa ekstraknya (lembar berisi judul kolom saja? berkas yang salah?), atau jalankan "
            "lagi dengan --allow-mass-delete jika penghapusan ini memang disengaja. / Check the "
            "extracts (a sheet with only its header? the wrong file?), or run again with "
            "--allow-mass-delete if the deletion is intended.",
            err=True,
        )
        sys.exit(2)
    click.echo(
        f"{'table':<26}{'inserted':>10}{'updated':>10}{'unchanged':>11}{'deleted':>10}{'kept':>7}{'rows now':>10}"
    )
    for table, sync in report.sync.items():
        click.echo(
            f"{table:<26}{sync.inserted:>10}{sync.updated:>10}{sync.unchanged:>11}{sync.deleted:>10}"
            f"{sync.kept:>7}{report.counts[table]:>10}"
        )
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
    changes = record_changes(db.session)
    recheck, deaths = after_import(_services().engine, None, since)
    click.echo(
        f"registry changes: {changes}; deceased members' components ended: {deaths}; "
        + (
            f"run {recheck.id} re-checks {recheck.total} changed enrolled families (tepat runs show {recheck.id})"
            if recheck is not None
            else "no enrolled family changed"
        )
    )


def _import_as_run(folder, errors_path, limit, wait, username):
    from cases.runkinds import start_import_run

    from .commands_runs import cli_actor, start_and_follow, start_run

    folder = str(Path(folder).resolve())  # a worker reads it: no path relative to this shell
    errors_path = str(Path(errors_path).resolve()) if errors_path else None
    run = start_run(
        lambda engine: start_import_run(
            engine, cli_actor(username), folder, errors_path=errors_path, max_delete_share=limit, user_agent="cli"
        )
    )
    run = start_and_follow(run, wait)
    if run.error_file:
        click.echo(f"refused rows -> {run.error_file}")
    from engine.runs import failures

    for item in failures(db.session, run.id):
        click.echo(f"  {item.error}", err=True)
    if run.status == "failed":
        sys.exit(2)


# --- definitions and officers ----------------------------------------------------------------


@click.command(help="Deploy the BPMN/DMN files of a folder: a new version of each process whose files changed.")
@click.option("--folder", type=click.Path(exists=True, file_okay=False), default=None)
@click.option("--as", "username", default=None, help="officer who deploys")
@click.option("--force", is_flag=True, help="also replace versions an administrator deployed in the browser")
@commits
def deploy(folder, username, force):
    from cases.audit import record

    report = _deploy_folder(folder, username or "cli", force)
    record(
        db.session,
        username or "cli",
        "deploy",
        target_type="process_versions",
        target_id=",".join(str(i) for i in report.created) or None,
        user_agent="cli",
        detail={
            "versions": [v.id for v in report.versions],
            "created": report.created,
            "kept": [v.id for _pid, v in report.kept],
            "forced": [v.id for _pid, v in report.forced],
        },
    )
    for v in report.versions:
        mark = "new" if v.id in report.created else "unchanged"
        click.echo(f"{v.process_id} version {v.number} ({v.content_hash[:12]}) {mark}")


def _deploy_folder(folder, deployed_by, force=False):
    """Deploy the folder; print what was kept or replaced, and each refused file's problems (both languages)."""
    from flask_babel import force_locale

    from engine.errors import DeployRejected

    from .editor_messages import problem_text

    try:
        report = _services().engine.deploy_folder(folder, deployed_by=deployed_by, force=force)
    except DeployRejected as exc:
        for problem in exc.problems:
            with force_locale("id"):
                text_id = problem_text(problem, with_place=True)
            with force_locale("en"):
                text_en = problem_text(problem, with_place=True)
            click.echo(f"[{problem.get('code')}] {text_id} / {text_en}", err=True)
        raise
    for process_id, version in report.kept:
        click.echo(
            f"{process_id}: the folder's file differs from version {version.number}, which "
            f"{version.deployed_by or '-'} deployed in the editor; that version stays current "
            "(tepat deploy --force replaces it)",
            err=True,
        )
    for process_id, version in report.forced:
        click.echo(
            f"{process_id}: replaced version {version.number} deployed by {version.deployed_by or '-'} (--force)",
            err=True,
        )
    return report


@sandbox.command("encode-photos")
@click.option("--limit", default=None, type=click.IntRange(min=1), help="at most this many people")
@click.option(
    "--batch",
    default=200,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="people per committed batch (an interrupted run keeps what it encoded)",
)
def sandbox_encode_photos(limit, batch):
    """Encode the civil-registry photos not encoded yet, ahead of the applications that use them.

    Each photo is otherwise encoded the first time an application is verified against it; either
    way it is encoded once (table registry_face_templates, by NIK and photo hash).
    """
    from cases.audit import record
    from integrations.sandbox.tables import people

    svc = _services()
    registry = svc.integrations.civil_registry
    query = select(people.c.nik).where(people.c.photo_ref.is_not(None)).order_by(people.c.nik)
    niks = db.session.execute(query.limit(limit) if limit else query).scalars().all()
    encoded = 0
    for lo in range(0, len(niks), batch):
        chunk = niks[lo : lo + batch]
        with unit_of_work(db.session):  # one unit per batch: what is encoded stays encoded
            encoded += svc.integrations.registry_faces.encode_registry(
                (nik, registry.reference_photo(nik)) for nik in chunk
            )
        click.echo(f"{min(lo + batch, len(niks))}/{len(niks)} people, {encoded} photos encoded", err=True)
    with unit_of_work(db.session):
        record(
            db.session,
            "cli",
            "sandbox.encode_photos",
            target_type="registry_face_templates",
            user_agent="cli",
            detail={"people": len(niks), "encoded": encoded},
        )
    click.echo(f"{encoded} registry photos encoded ({len(niks)} people with a photo)")


@click.group(help="Officers (caseworkers, supervisors, appeals officers, administrators).")
def officer():
    pass


@officer.command("add")
@click.argument("username")
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(OFFICER_ROLES))
@click.option("--region", "regions", multiple=True, help="district code 01-25; none = all districts")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="at least 10 characters (prompted when not given)",
)
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

    officers = db.session.execute(select(Officer).order_by(Officer.username)).scalars().all()
    if not officers:
        click.echo("Belum ada petugas. / No officers yet.")
    for o in officers:
        regions = ",".join(o.regions) if o.regions else "all"
        click.echo(f"{o.username:15} {','.join(o.roles):30} regions={regions}  {o.name}")


# --- audit trail ------------------------------------------------------------------------------


@click.group(help="The hash-chained audit log.")
def audit():
    pass


@audit.command("verify")
@click.option("--batch", default=10_000, show_default=True)
@with_appcontext
def audit_verify(batch):
    """Recompute every hash of every shard and check the anchors; exit 1 if a chain is broken."""
    from cases.audit import ANCHOR_SHARD, chain_head, record, verify_chain

    result = verify_chain(db.session, batch=batch)
    with unit_of_work(db.session):
        record(
            db.session,
            "cli",
            "audit.verify",
            user_agent="cli",
            detail={"ok": result.ok, "checked": result.checked, "broken_shards": [s.shard for s in result.broken]},
        )
    anchored = wib(result.anchored_at) if result.anchored_at else "never"
    for shard in result.shards:
        name = "anchors" if shard.shard == ANCHOR_SHARD else f"shard {shard.shard}"
        if shard.ok:
            click.echo(f"{name:10} intact: {shard.checked} entries, last seq {shard.last_seq}")
        else:
            entry = f" (entry id {shard.first_bad_id})" if shard.first_bad_id is not None else ""
            click.echo(f"{name:10} BROKEN at seq {shard.first_bad_seq}{entry}: {shard.reason}", err=True)
    if result.ok:
        click.echo(
            f"audit chains intact: {result.checked} entries in {len(result.shards) - 1} shards; last anchor {anchored}"
        )
        head = chain_head(db.session)
        if head is not None and head[0]:
            click.echo(f"anchor chain head (keep a copy elsewhere): seq {head[0]} hash {head[1]}")
    else:
        click.echo(
            f"audit chains BROKEN in {len(result.broken)} shard(s); first: shard {result.shard} at seq "
            f"{result.first_bad_seq}: {result.reason}",
            err=True,
        )
        sys.exit(1)


@audit.command("anchor")
@with_appcontext
def audit_anchor():
    """Record every shard's head in the anchor chain now (the scheduler does it periodically)."""
    from cases.audit import anchor

    with unit_of_work(db.session):
        entry = anchor(db.session, "cli", user_agent="cli")
    if entry is None:
        click.echo("no shard moved since the last anchor: nothing to anchor")
    else:
        click.echo(f"anchor seq {entry.seq}: {len(entry.detail['heads'])} shard heads, hash {entry.hash}")


@audit.command("export")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True)
@with_appcontext
def audit_export(out_path):
    """Write every entry with its hashes to a CSV file."""
    from cases.audit import export_csv, record

    with open(out_path, "w", newline="", encoding="utf-8") as out:
        count = export_csv(db.session, out)
    with unit_of_work(db.session):
        record(db.session, "cli", "audit.export", user_agent="cli", detail={"rows": count})
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
    ("facilitator1", "Eko Pendamping", ["facilitator"], None),
    ("auditor1", "Lina Auditor", ["auditor"], None),
    ("finance1", "Maya Keuangan", ["finance_officer"], None),
    ("finance2", "Yoga Keuangan", ["finance_officer"], None),
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
    report = _deploy_folder(None, "setup")
    if report.created or report.kept:
        from cases.audit import record

        record(
            db.session,
            "setup",
            "deploy",
            target_type="process_versions",
            target_id=",".join(str(i) for i in report.created) or None,
            user_agent="cli",
            detail={"created": report.created, "kept": [v.id for _pid, v in report.kept]},
        )
    click.echo(
        f"processes: {', '.join(f'{v.process_id} v{v.number}' for v in report.versions)} ({len(report.created)} new)"
    )
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


@click.group("face-index", help="The 1:N face-template index each worker process keeps in memory.")
def face_index():
    pass


@face_index.command("snapshot")
def face_index_snapshot():
    """Write the face index to BANSOS_FACE_INDEX_SNAPSHOT (one file per machine, 0600).

    A worker process starts from this file and catches up with what changed since, instead of reading
    every template row and training the approximate index again (about 18 s of CPU per process at a
    million templates, docs/scaling.md §1.8). Run it on each worker machine from a timer
    (deploy/systemd/tepat-face-snapshot.timer) and after a large import; a file that no longer agrees
    with the table is ignored by the workers, never trusted.
    """
    from cases.audit import record

    svc = _services()
    index = svc.integrations.face_index
    if not index.snapshot_path:
        click.echo(
            "Error [SNAPSHOT_NOT_SET] BANSOS_FACE_INDEX_SNAPSHOT belum diatur; tidak ada yang ditulis. / "
            "BANSOS_FACE_INDEX_SNAPSHOT is not set; nothing was written.",
            err=True,
        )
        sys.exit(2)
    path = index.save_snapshot()  # catches up with the table first (from the previous file, if it agrees)
    templates = index.snapshot_templates  # what the file holds, counted with the write
    with unit_of_work(db.session):
        record(
            db.session,
            "cli",
            "face_index.snapshot",
            target_type="face_templates",
            user_agent="cli",
            detail={"templates": templates, "approximate": index.approximate},
        )
    click.echo(f"{templates} templat wajah ditulis ke / face templates written to {path}")
