"""The kinds of tracked runs (engine/runs.py) and the operations that start and cancel them.

- "recheck": re-check every enrolled family of the starter's districts (the quarterly DTSEN
  update); one item per case; the outcome is the case's status after the re-check's steps.
- "import": synchronise the sandbox registries with the extracts of a folder; one item (the import
  is all or nothing, in the item's transaction); the run keeps the tables' figures and the path of
  the refused rows' workbook.

Who may start: an import, administrators; a re-check, administrators and supervisors, over the
enrolled cases of their own districts (engine/scope: an officer limited to districts re-checks
those only). Every start and cancel is audited (run.start, run.cancel).
"""

from sqlalchemy import select

from engine.dispatch import hint_after_commit
from engine.errors import NotAllowed
from engine.runs import ItemRefused, cancel_run, create_run, register_kind, run_or_404
from engine.scope import scoped

from .audit import record
from .models import Application
from .statuses import CaseStatus

IMPORT, RECHECK = "import", "recheck"
REGISTRY_RECHECK, REVERIFY = "registry_recheck", "reverify"  # cases/programme.py
STARTERS = {
    IMPORT: ("administrator",),
    RECHECK: ("administrator", "supervisor"),
    REVERIFY: ("administrator",),
    REGISTRY_RECHECK: ("administrator",),
}
READERS = ("administrator", "supervisor", "auditor")


# --- what one item does ------------------------------------------------------------------------------


def _recheck_one(engine, run, case_number):
    from .operations import RecheckNotAllowed, case_or_404, recheck_enrolment

    try:
        recheck_enrolment(engine, case_number, actor=run.started_by)
    except RecheckNotAllowed:  # no longer enrolled, or already in a re-check: nothing to do for it
        return "skipped"
    engine.session.flush()
    return case_or_404(engine.session, case_number).status


def _import_one(engine, run, folder):
    from integrations.sandbox.importer import ExtractInvalid, MassDeleteRefused, import_extracts

    from .programme import after_import, record_changes, snapshot_registry

    params = run.params or {}
    since = snapshot_registry(engine.session)  # the watched fields before: the change set is computed after
    try:
        report = import_extracts(
            folder,
            engine.session,
            error_workbook_path=params.get("errors_path"),
            max_delete_share=params.get("max_delete_share"),
            progress=_rows_read_reporter(engine.session, run.id),
        )
    except ExtractInvalid as exc:
        raise ItemRefused("; ".join(exc.problems)) from exc
    except MassDeleteRefused as exc:
        raise ItemRefused(str(exc)) from exc
    run.result = {
        "tables": {t: dict(s.as_dict(), rows=report.counts.get(t, 0)) for t, s in report.sync.items()},
        "rows_read": report.rows_read,
        "refused_rows": len(report.errors),
        "seconds": round(report.seconds, 1),
    }
    run.error_file = str(report.error_workbook) if report.errors and report.error_workbook else None
    changes = record_changes(engine.session, run.id)
    recheck, deaths = after_import(engine, run, since)
    run.result = dict(
        run.result,
        **{
            "registry_changes": changes,
            "deaths_ended": deaths,
            "recheck_run": recheck.id if recheck is not None else None,
            "families_to_recheck": recheck.total if recheck is not None else 0,
        },
    )
    return "imported" if not report.errors else "imported_with_refusals"


def _rows_read_reporter(session, run_id, every=2.0):
    """Report an import's rows read on the run, every few seconds, in transactions of their own.

    The import itself is one transaction (all or nothing), so its progress is written beside it on a
    separate connection. PostgreSQL only: SQLite's single writer is the import's until it commits.
    """
    import time

    from sqlalchemy import update

    from engine.runs import Run

    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    state = {"at": 0.0}

    def progress(table, rows):
        now = time.monotonic()
        if now - state["at"] < every:
            return
        state["at"] = now
        with bind.engine.connect() as conn:
            conn.execute(update(Run).where(Run.id == run_id).values(result={"reading": table, "rows_read": rows}))
            conn.commit()

    return progress


def register_run_kinds():
    """Declare the import and the re-check kinds (called by web/bootstrap.py, once per process)."""
    from . import programme

    register_kind(IMPORT, _import_one)
    # A re-check chunk loads its families' registry answers set-based, as the re-verification's do.
    register_kind(RECHECK, _recheck_one, prepare=programme._prepare_families)
    programme.register_run_kinds()


# --- who may -------------------------------------------------------------------------------------------


def may_see(actor, run):
    """Administrators and auditors see every run; a supervisor the re-check runs within their districts."""
    roles = set(actor.roles)
    if roles & {"administrator", "auditor"}:
        return actor.regions is None or (run.regions is not None and set(run.regions) <= set(actor.regions))
    if "supervisor" in roles and run.kind in (RECHECK, REVERIFY, REGISTRY_RECHECK):
        return actor.regions is None or (run.regions is not None and set(run.regions) <= set(actor.regions))
    return False


def may_start(actor, kind):
    """Tell whether the actor's roles allow starting a run of this kind."""
    return bool(set(actor.roles) & set(STARTERS.get(kind, ())))


def may_cancel(actor, run):
    """Who may start such a run may cancel one they may see."""
    return may_start(actor, run.kind) and may_see(actor, run)


# --- operations ---------------------------------------------------------------------------------------


def _hint(engine, run):
    sender = getattr(engine, "chunk_hint_sender", None)
    if engine.defer_steps and sender is not None:
        for seq in range(1, (run.total + run.chunk_size - 1) // run.chunk_size + 1):
            hint_after_commit(engine.session, sender, (run.id, seq))


def start_run(engine, actor, kind, params, keys, chunk_size, regions, ip=None, user_agent=None, detail=None):
    """Create a run started by an officer, audit its start ("run.start": kind, total, regions and `detail`) and
    hint its chunks to the workers after the commit; return the run (flushed). Callers check who may start it."""
    run = create_run(engine.session, kind, params, actor.id, keys, chunk_size, regions=regions)
    audited = {"kind": kind, **(detail or {}), "total": run.total, "regions": sorted(regions) if regions else None}
    record(
        engine.session,
        actor,
        "run.start",
        target_type="run",
        target_id=str(run.id),
        ip=ip,
        user_agent=user_agent,
        detail=audited,
    )
    _hint(engine, run)
    return run


def start_recheck_run(engine, actor, ip=None, user_agent=None):
    """Start re-checking every enrolled case of the actor's districts; return the run (flushed)."""
    if not may_start(actor, RECHECK):
        raise NotAllowed("only administrators and supervisors start re-check runs", what="run")
    keys = scoped(
        select(Application.case_number).where(Application.status == CaseStatus.ENROLLED),
        Application.district_code,
        actor,
    )
    return start_run(
        engine,
        actor,
        RECHECK,
        {"all_enrolled": True},
        keys,
        engine.settings.get("BANSOS_RUN_CHUNK_SIZE", 50),
        regions=actor.regions,
        ip=ip,
        user_agent=user_agent,
    )


def start_import_run(engine, actor, folder, errors_path=None, max_delete_share=None, ip=None, user_agent=None):
    """Start an import of the extracts in `folder` (one item: all or nothing); return the run (flushed)."""
    if not may_start(actor, IMPORT):
        raise NotAllowed("only administrators start imports", what="run")
    params = {
        "folder": str(folder),
        "errors_path": str(errors_path) if errors_path else None,
        "max_delete_share": max_delete_share,
    }
    return start_run(
        engine,
        actor,
        IMPORT,
        params,
        [str(folder)],
        1,
        regions=None,
        ip=ip,
        user_agent=user_agent,
        detail={"folder": str(folder)},
    )


def cancel(engine, actor, run_id, ip=None, user_agent=None):
    """Cancel a run the actor may cancel (items done stay done); audited."""
    run = run_or_404(engine.session, run_id)
    if not may_cancel(actor, run):
        raise NotAllowed(f"run {run_id} is not yours to cancel", what="run")
    run = cancel_run(engine.session, run.id, actor.id)
    record(
        engine.session,
        actor,
        "run.cancel",
        target_type="run",
        target_id=str(run.id),
        ip=ip,
        user_agent=user_agent,
        detail={"kind": run.kind, "done": run.done, "failed": run.failed, "total": run.total},
    )
    return run


def purge_import_files(session, import_dir, days, now=None):
    """Delete the extracts uploaded in the browser (and their error workbook) of imports that ended more
    than `days` ago; return the runs whose files were deleted. The caller commits.

    Only folders inside `import_dir` (BANSOS_IMPORT_DIR, where the upload page keeps them) are touched: a
    folder given to `tepat sandbox import` belongs to its operator. The run keeps its counts and records
    when its files went (params["files_purged_at"]); one audit entry names the runs.
    """
    import shutil
    from datetime import timedelta
    from pathlib import Path

    from engine.core import SYSTEM
    from engine.db import utcnow
    from engine.runs import CANCELLED, DONE, FAILED, Run

    now = now or utcnow()
    root = Path(import_dir).resolve()
    runs = session.scalars(
        select(Run).where(
            Run.kind == IMPORT, Run.status.in_((DONE, FAILED, CANCELLED)), Run.finished_at < now - timedelta(days=days)
        )
    ).all()
    purged = []
    for run in runs:
        params = dict(run.params or {})
        if params.get("files_purged_at") or not params.get("folder"):
            continue
        folder = Path(params["folder"]).resolve()
        if folder == root or not folder.is_relative_to(root):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        params["files_purged_at"] = now.isoformat()
        run.params = params
        run.error_file = None
        purged.append(run.id)
    if purged:
        record(session, SYSTEM, "import.files_purged", target_type="run", detail={"runs": purged, "days": days})
    return purged
