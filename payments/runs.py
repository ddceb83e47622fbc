"""Tracked runs of payment cycles (engine/runs.py): results imports, the paid notices, the failure reviews.

Each is work on many rows split into items, each item one transaction (its work and its `done` mark
commit together, so an item is never done twice, whoever runs it and however often):

- "payment_results_file": one item, an uploaded results file kept on disk (`results.receive_results`): it is
  checked whole and its lines staged in the item's transaction (`results.stage_results`), then the
  "payment_results" run below is started. A worker killed in it rolls the staging back: the item runs again.
- "payment_results": one item per ITEM_LINES staged lines of a results import (`results.take_lines`); the
  item that takes the last lines finishes the import (counts, reconciliation, audit) and moves the cycle
  on when every batch is reconciled.
- "payment_notices": one item per range of payment ids of a cycle: the families paid are told (SMS and
  portal) and marked `notified_at`; the idempotency key is the payment reference.
- "payment_reviews": one item per failed payment to review: its caseworker review (payment_review.bpmn).

On workers (BANSOS_EXECUTION = "celery") the chunks are hinted after the commit that created the run (and
the dispatcher re-sends hints for chunks still due, e.g. after a worker was killed); inline they run in
process (`run_inline`, or the in-process scheduler's job).
"""

from __future__ import annotations

from sqlalchemy import func, select

from engine.runs import ACTIVE, ItemRefused, Run, create_run, register_kind

from .models import ResultImportStatus

RESULTS, NOTICES, REVIEWS = "payment_results", "payment_notices", "payment_reviews"
RESULTS_FILE = "payment_results_file"
FOLLOW_UPS = (NOTICES, REVIEWS)
# Items big enough that their fixed costs (run bookkeeping, the open task counts at commit, a review batch's
# two engine runs) are spread over many rows, small enough to keep a transaction short (a few seconds).
NOTICE_IDS = 5000  # payment ids per notices item (one UPDATE ... RETURNING, the messages in bulk)
REVIEW_IDS = 10000  # payment ids per reviews item (about 2% of payments fail for a review: ~200 reviews)
CHUNK_ITEMS = {RESULTS: 2, NOTICES: 5, REVIEWS: 2, RESULTS_FILE: 1}


def _hint(engine, run):
    from engine.dispatch import hint_after_commit

    sender = getattr(engine, "chunk_hint_sender", None)
    # On a worker (steps not deferred there) a run started by another run's item is hinted too.
    on_workers = engine.defer_steps or engine.settings.get("BANSOS_EXECUTION") == "celery"
    if on_workers and sender is not None:
        for seq in range(1, (run.total + run.chunk_size - 1) // run.chunk_size + 1):
            hint_after_commit(engine.session, sender, (run.id, seq))


# --- results imports --------------------------------------------------------------------------------


def start_results_file_run(engine, row, batch, actor, path):
    """The run checking and staging a received results file (one item); hinted to the workers in celery mode."""
    run = create_run(
        engine.session,
        RESULTS_FILE,
        {"import_id": row.id, "batch": batch.reference, "path": str(path), "actor": str(getattr(actor, "id", actor))},
        getattr(actor, "id", actor),
        [str(row.id)],
        CHUNK_ITEMS[RESULTS_FILE],
    )
    _hint(engine, run)
    return run


def _lines_reporter(session, run_id, every=2.0):
    """Report the lines read of a file being staged on its run, every few seconds, in transactions of their own.

    The staging is one transaction (all or nothing), so its progress is written beside it on another
    connection. PostgreSQL only: SQLite's single writer is the staging's until it commits.
    """
    import time

    from sqlalchemy import update

    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    state = {"at": time.monotonic()}

    def progress(lines):
        now = time.monotonic()
        if now - state["at"] < every:
            return
        state["at"] = now
        with bind.engine.connect() as conn:
            conn.execute(update(Run).where(Run.id == run_id).values(result={"lines_read": lines}))
            conn.commit()

    return progress


def _results_file_item(engine, run, key):
    from pathlib import Path

    from cases.audit import record

    from .models import PaymentBatch, PaymentResultImport
    from .results import RECEIVED, stage_results

    session = engine.session
    row = session.get(PaymentResultImport, int(key))
    if row is None:
        raise ItemRefused(f"no results import {key}")
    if row.status != RECEIVED:  # staged (or refused) by an earlier attempt that committed
        return "already"
    batch = session.get(PaymentBatch, row.batch_id)
    try:
        data = Path(run.params["path"]).read_bytes()
    except OSError:
        row.status, row.refused = ResultImportStatus.REFUSED, 1
        row.refusals = [{"line": 0, "reference": "", "code": "NOT_STORED"}]
        record(
            session,
            row.uploaded_by,
            "cycle.results_refused",
            "payment_batch",
            batch.reference,
            detail={"file": row.file_name, "sha256": row.file_sha256, "reason": "NOT_STORED"},
        )
        run.result = {"import_id": row.id, "refused": "NOT_STORED"}
        return "refused"
    row = stage_results(
        session, batch, data, row.file_name, row.uploaded_by, row=row, progress=_lines_reporter(session, run.id)
    )
    if row.status == ResultImportStatus.REFUSED:
        run.result = {"import_id": row.id, "refused": row.refusals[0]["code"]}
        return "refused"
    take = start_results_run(engine, row, batch, row.uploaded_by)
    run.result = {
        "import_id": row.id,
        "lines": row.lines,
        "control": getattr(row, "control", None),
        "take_run": take.id,
    }
    return "staged"


def import_runs(session, import_ids):
    """{import id: (file run, take run)} of the given results imports (either may be None: CLI and callbacks)."""
    wanted = {int(i) for i in import_ids}
    found = {}
    if not wanted:
        return found
    runs = session.scalars(
        select(Run).where(Run.kind.in_((RESULTS_FILE, RESULTS))).order_by(Run.id.desc()).limit(20 * len(wanted) + 50)
    )
    for run in runs:
        import_id = (run.params or {}).get("import_id")
        if import_id in wanted:
            pair = found.setdefault(import_id, [None, None])
            slot = 0 if run.kind == RESULTS_FILE else 1
            pair[slot] = pair[slot] or run
    return {k: tuple(v) for k, v in found.items()}


def start_results_run(engine, row, batch, actor):
    """The run taking a staged import (results.stage_results) in chunks; hinted to the workers in celery mode."""
    from .results import line_ranges

    keys = [f"{row.id}:{first}:{last}" for first, last in line_ranges(engine.session, row.id)]
    run = create_run(
        engine.session,
        RESULTS,
        {"import_id": row.id, "batch": batch.reference, "actor": str(getattr(actor, "id", actor))},
        getattr(actor, "id", actor),
        keys,
        CHUNK_ITEMS[RESULTS],
    )
    if not keys:  # an import without lines: finished at once
        _finish(engine, row.id)
    _hint(engine, run)
    return run


def _results_item(engine, run, key):
    from .models import PaymentBatch, PaymentResultImport
    from .results import take_lines

    import_id, first, last = (int(x) for x in key.split(":"))
    session = engine.session
    row = session.get(PaymentResultImport, import_id)
    if row is None:
        raise ItemRefused(f"no results import {import_id}")
    take_lines(session, row, session.get(PaymentBatch, row.batch_id), first, last)
    return "finished" if _finish(engine, import_id) else "taken"


def _finish(engine, import_id):
    from .models import PaymentBatch, PaymentResultImport
    from .results import advance_if_reconciled, finish_import

    session = engine.session
    row = session.get(PaymentResultImport, import_id)
    batch = session.get(PaymentBatch, row.batch_id)
    if not finish_import(session, row, batch, row.uploaded_by):
        return False
    advance_if_reconciled(engine, batch)
    return True


# --- notices and reviews (follow-up of a reconciled cycle) -------------------------------------------


def start_notices(session, cycle_id):
    """The run telling the families of the cycle whose money was credited or paid out; return it (or None)."""
    from .models import Payment

    low, high = session.execute(
        select(func.min(Payment.id), func.max(Payment.id)).where(Payment.cycle_id == cycle_id)
    ).one()
    if low is None:
        return None
    keys = [f"{cycle_id}:{start}:{min(start + NOTICE_IDS - 1, high)}" for start in range(low, high + 1, NOTICE_IDS)]
    return create_run(session, NOTICES, {"cycle_id": cycle_id}, "system", keys, CHUNK_ITEMS[NOTICES])


def _notices_item(engine, run, key):
    from .results import notify_paid

    cycle_id, low, high = (int(x) for x in key.split(":"))
    told = notify_paid(engine.session, engine.script_engine.integrations.notifier, cycle_id, low, high)
    return "told" if told else "none_to_tell"


def _id_ranges(session, query, cycle_id, size):
    low, high = session.execute(select(func.min(query.c.id), func.max(query.c.id))).one()
    if low is None:
        return []
    return [f"{cycle_id}:{start}:{min(start + size - 1, high)}" for start in range(low, high + 1, size)]


def start_reviews_run(engine, cycle_id):
    """The run starting a caseworker review for each failure of the cycle to review; return (run, how many)."""
    from .cycles import reviews_due

    due = reviews_due(cycle_id).subquery()
    count = engine.session.scalar(select(func.count()).select_from(due))
    keys = _id_ranges(engine.session, due, cycle_id, REVIEW_IDS)
    run = create_run(
        engine.session, REVIEWS, {"cycle_id": cycle_id, "reviews": count}, "system", keys, CHUNK_ITEMS[REVIEWS]
    )
    _hint(engine, run)
    return run, count


def _reviews_item(engine, run, key):
    from .cycles import start_review_range

    cycle_id, low, high = (int(x) for x in key.split(":"))
    return "started" if start_review_range(engine, cycle_id, low, high) else "none_to_start"


def run_inline(engine, run_id):
    """Inline mode: take the run's due chunks here, now (each item its own transaction)."""
    from web.runs_exec import run_in_process  # the one chunk driver (web/runs_exec.py)

    return run_in_process(engine, run_id)


def run_follow_ups_inline(engine):
    """Inline mode: take the due chunks of the notices and reviews runs still active; return how many chunks."""
    session = engine.session
    ids = list(session.scalars(select(Run.id).where(Run.kind.in_(FOLLOW_UPS), Run.status.in_(ACTIVE)).order_by(Run.id)))
    session.rollback()
    return sum(run_inline(engine, run_id) for run_id in ids)


def register_run_kinds():
    """Declare the results, notices and reviews kinds (called by web/bootstrap.py, once per process)."""
    register_kind(RESULTS_FILE, _results_file_item)
    register_kind(RESULTS, _results_item)
    register_kind(NOTICES, _notices_item)
    register_kind(REVIEWS, _reviews_item)
