"""Process versions for administrators: who deployed what when, visual diff, moving running instances."""

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.audit import record
from engine import editing, migration
from engine.db import db, unit_of_work
from engine.errors import EngineError
from engine.models import ProcessVersion
from engine.xmldiff import diff_files
from integrations.digits import is_ascii_digits

from . import services
from .auth import roles_required
from .editor_messages import refusal_text, verdict_text

bp = Blueprint("versions", __name__, url_prefix="/admin/processes")
MIGRATE_BATCH = 500  # instances moved per request (each under its own lock, one commit)


def _version_or_404(process_id, version_id):
    version = db.session.get(ProcessVersion, version_id) if version_id else None
    if version is None or version.process_id != process_id:
        abort(404)
    return version


def _pair_or_404(process_id):
    rows = editing.version_list(db.session, process_id)
    if not rows:
        abort(404)
    newest = rows[0][0].id
    older = rows[1][0].id if len(rows) > 1 else newest
    old = _version_or_404(process_id, request.args.get("old", type=int) or older)
    new = _version_or_404(process_id, request.args.get("new", type=int) or newest)
    return rows, old, new


@bp.get("/<process_id>/versions")
@roles_required("administrator")
def index(process_id):
    """List the versions of a process with who deployed them, when, and how many cases run on each."""
    rows = editing.version_list(db.session, process_id)
    if not rows:
        abort(404)
    return render_template("versions_index.html", process_id=process_id, rows=rows)


@bp.get("/<process_id>/diff")
@roles_required("administrator")
def diff(process_id):
    """Show two versions side by side with the changed elements marked, and a list of the changes."""
    rows, old, new = _pair_or_404(process_id)
    names = sorted(set(old.files) | set(new.files))
    changes = {}
    for name in names:
        if name in old.files and name in new.files:
            changes[name] = diff_files(name, old.files[name], new.files[name])
        else:
            changes[name] = None  # added or removed file
    return render_template(
        "versions_diff.html", process_id=process_id, rows=rows, old=old, new=new, names=names, changes=changes
    )


@bp.get("/<process_id>/diff/<name>/data.json")
@roles_required("administrator")
def diff_data(process_id, name):
    """The two BPMN files and the element ids to mark, for the side-by-side viewers."""
    _rows, old, new = _pair_or_404(process_id)
    if name not in old.files or name not in new.files or not name.endswith(".bpmn"):
        abort(404)
    change = diff_files(name, old.files[name], new.files[name])
    return jsonify(
        old=old.files[name],
        new=new.files[name],
        added=[c["id"] for c in change["added"]],
        removed=[c["id"] for c in change["removed"]],
        changed=[c["id"] for c in change["changed"]],
        moved=[c["id"] for c in change["moved"]],
    )


@bp.get("/<process_id>/migrate")
@roles_required("administrator")
def plan(process_id):
    """Dry run: which running instances of the old version can move to the new one, and why not."""
    rows, old, new = _pair_or_404(process_id)
    try:
        checks = migration.dry_run(services().engine, old.id, new.id, limit=MIGRATE_BATCH)
    except EngineError as exc:
        flash(refusal_text(exc), "danger")
        return redirect(url_for("versions.index", process_id=process_id))
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "process.migration_dry_run",
            target_type="process_version",
            target_id=f"{old.id}->{new.id}",
            ip=request.remote_addr,
            detail={"instances": len(checks), "movable": sum(c.can_move for c in checks)},
        )
    return render_template(
        "versions_migrate.html",
        process_id=process_id,
        rows=rows,
        old=old,
        new=new,
        checks=checks,
        verdict_text=verdict_text,
        batch=MIGRATE_BATCH,
    )


@bp.post("/<process_id>/migrate")
@roles_required("administrator")
def run(process_id):
    """Move the chosen instances (re-checked one by one under their locks)."""
    old = _version_or_404(process_id, request.form.get("old", type=int))
    new = _version_or_404(process_id, request.form.get("new", type=int))
    ids = [int(x) for x in request.form.getlist("instance") if is_ascii_digits(x)][:MIGRATE_BATCH]
    if not ids:
        flash(_("Choose at least one case to move."), "warning")
        return redirect(url_for("versions.plan", process_id=process_id, old=old.id, new=new.id)), 303
    try:
        with unit_of_work(db.session):
            results = migration.migrate(services().engine, old.id, new.id, ids)
            moved = [r.business_key for r in results if r.can_move]
            record(
                db.session,
                current_user.actor,
                "process.migrated",
                target_type="process_version",
                target_id=f"{old.id}->{new.id}",
                ip=request.remote_addr,
                detail={"moved": moved, "refused": [r.business_key for r in results if not r.can_move]},
            )
    except EngineError as exc:
        flash(refusal_text(exc), "danger")
        return redirect(url_for("versions.index", process_id=process_id)), 303
    flash(
        _(
            "%(moved)d of %(asked)d cases moved to version %(version)d.",
            moved=len(moved),
            asked=len(ids),
            version=new.number,
        ),
        "success" if len(moved) == len(ids) else "warning",
    )
    return redirect(url_for("versions.plan", process_id=process_id, old=old.id, new=new.id)), 303


@bp.post("/<process_id>/versions/<int:version_id>/restore")
@roles_required("administrator")
def restore(process_id, version_id):
    """Copy an older version's files into drafts, to check and deploy again (a roll-back)."""
    version = _version_or_404(process_id, version_id)
    try:
        with unit_of_work(db.session):
            restored = editing.restore_as_drafts(services().engine, version, current_user.actor)
            record(
                db.session,
                current_user.actor,
                "process.version_restored_as_drafts",
                target_type="process_version",
                target_id=str(version.id),
                ip=request.remote_addr,
                detail={"files": restored},
            )
    except EngineError as exc:
        flash(refusal_text(exc), "danger")
        return redirect(url_for("versions.index", process_id=process_id)), 303
    if restored:
        flash(
            _(
                "The files of version %(id)d are now drafts: %(files)s. Deploy them to make that content current "
                "again.",
                id=version.number,
                files=", ".join(restored),
            ),
            "success",
        )
    else:
        flash(_("Version %(id)d has the same files as the deployed bundle.", id=version.number), "info")
    return redirect(url_for("editor.index")), 303


@bp.get("/<process_id>/versions/<int:version_id>/<name>")
@roles_required("administrator")
def file(process_id, version_id, name):
    """Download one file of a deployed version."""
    version = _version_or_404(process_id, version_id)
    if name not in version.files:
        abort(404)
    return (
        version.files[name],
        200,
        {
            "Content-Type": "application/xml; charset=utf-8",
            "Content-Disposition": f"attachment; filename={name}",
            "X-Content-Type-Options": "nosniff",
        },
    )
