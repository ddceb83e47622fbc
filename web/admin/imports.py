"""Registry extracts uploaded in the browser: checked at once, kept for the worker, applied as a tracked run.

An administrator of every district (the registries are the regency's, not one district's) uploads the
extract workbooks; each is checked before anything is kept (a known name, an .xlsx package that is no zip
bomb and declares no DTD, within the size limit); the set is kept under BANSOS_IMPORT_DIR and an import
run starts (engine/runs.py): its page follows the progress and offers the error workbook.
"""

import secrets
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.utils import secure_filename

from cases.runkinds import start_import_run
from engine.db import db, unit_of_work
from engine.errors import EngineError
from integrations.sandbox import extracts
from integrations.sandbox.xlsx import WorkbookUnreadable, check_package

from .. import services
from ..auth import roles_required
from ..portal.uploads import TOO_MANY_FILES, read_upload_form
from ..refusals import log_refusal
from . import bp
from .officers import origin

WORKBOOKS = tuple(sorted({layout.workbook for layout in extracts.ALL_SHEETS}))


def _page(problems=(), status=200):
    from .runs import _status_labels, import_runs

    return render_template(
        "admin_import.html",
        workbooks=WORKBOOKS,
        problems=problems,
        runs=import_runs(),
        status_labels=_status_labels(),
        max_mb=current_app.config["BANSOS_IMPORT_MAX_FILE_BYTES"] // (1024 * 1024),
        limit=current_app.config["BANSOS_IMPORT_MAX_DELETE_SHARE"],
    ), status


def _all_districts():
    return current_user.actor.regions is None


@bp.get("/imports")
@roles_required("administrator")
def imports():
    """The upload form for a registry extract and the latest import runs."""
    if not _all_districts():
        log_refusal("run.refused", "run", "import", reason="scope")
        return _page(
            [_("Registry extracts cover every district: only an administrator of all districts imports them.")], 403
        )
    return _page()


def _checked(uploads, folder):
    """Keep each uploaded workbook in `folder` if it passes the checks; return the problems (translated)."""
    problems, seen = [], set()
    max_mb = current_app.config["BANSOS_IMPORT_MAX_FILE_BYTES"] // (1024 * 1024)
    for upload in uploads:
        name = secure_filename(upload.filename or "").lower()
        if not upload.filename:
            continue
        if name not in WORKBOOKS:
            problems.append(
                _(
                    "%(name)s is not one of the extract workbooks (%(names)s).",
                    name=upload.filename[:80],
                    names=", ".join(WORKBOOKS),
                )
            )
        elif name in seen:
            problems.append(_("%(name)s was chosen twice.", name=name))
        elif upload.too_large:
            problems.append(_("%(name)s is larger than %(mb)d MB.", name=name, mb=max_mb))
        else:
            seen.add(name)
            upload.save_as(folder / name)
            try:
                check_package(folder / name)
            except WorkbookUnreadable:
                problems.append(
                    _(
                        "%(name)s is not an Excel workbook (.xlsx) that can be read safely: it is damaged, "
                        "a zip bomb, or declares a DTD.",
                        name=name,
                    )
                )
    missing = [name for name in WORKBOOKS if name not in seen]
    if missing:
        problems.append(
            _("Missing: %(names)s. An extract is imported whole, every workbook together.", names=", ".join(missing))
        )
    return problems


def _discard(folder):
    for path in folder.glob("*"):
        path.unlink(missing_ok=True)
    folder.rmdir()


@bp.post("/imports")
@roles_required("administrator")
def start_import():
    """Take the uploaded extract, check it, keep it and start the import run (or say what is wrong)."""
    if not _all_districts():
        log_refusal("run.refused", "run", "import", reason="scope")
        return _page(
            [_("Registry extracts cover every district: only an administrator of all districts imports them.")], 403
        )
    max_bytes = current_app.config["BANSOS_IMPORT_MAX_FILE_BYTES"]
    body = read_upload_form(max_bytes, max_files=len(WORKBOOKS), hard_limit=max_bytes * len(WORKBOOKS) + 1024 * 1024)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    folder = Path(current_app.config["BANSOS_IMPORT_DIR"]) / f"{stamp}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True, exist_ok=False)
    problems = _checked(body.uploads, folder)
    if body.stopped == TOO_MANY_FILES:
        problems.insert(0, _("Choose at most %(n)d workbooks.", n=len(WORKBOOKS)))
    ip, agent = origin()
    if problems:
        _discard(folder)
        from cases.audit import record

        with unit_of_work(db.session):
            record(
                db.session,
                current_user.actor,
                "import.refused",
                target_type="run",
                ip=ip,
                user_agent=agent,
                detail={"files": [u.filename[:80] for u in body.uploads][:10], "problems": len(problems)},
            )
        return _page(problems, 422)
    allow_mass_delete = body.form.get("allow_mass_delete") == "yes"
    try:
        with unit_of_work(db.session):
            run = start_import_run(
                services().engine,
                current_user.actor,
                folder,
                errors_path=folder / "import-errors.xlsx",
                max_delete_share=None if allow_mass_delete else current_app.config["BANSOS_IMPORT_MAX_DELETE_SHARE"],
                ip=ip,
                user_agent=agent,
            )
    except EngineError:
        _discard(folder)
        return _page([_("You may not start imports.")], 403)
    flash(
        _("The extract was received and checked; run %(id)d applies it on the background workers.", id=run.id),
        "success",
    )
    return redirect(url_for("admin.run", run_id=run.id))
