"""The in-process APScheduler jobs: due timers and service retries, photo and evidence purges, audit anchors."""

import logging
import time
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from engine.db import db, unit_of_work, utcnow

log = logging.getLogger(__name__)


@dataclass
class WakeRun:
    """What one run over the due instances did."""

    woken: int = 0
    failed: int = 0  # wakes that raised and were pushed back
    incidents: int = 0  # wakes that raised once too often: now incidents, no longer woken
    finished: bool = True  # False when the run stopped at its bound with instances still due


def wake_one(engine, instance_id, now):
    """Wake one instance and commit; if the wake raises, roll back and record the failure instead.

    Returns "woken", "backoff", "incident", or None (nothing to record). One instance's failure
    never stops the others, and never leaves it first in line (engine.wakes).
    """
    try:
        with unit_of_work(db.session):
            engine.wake(instance_id, now)
        return "woken"
    except Exception as exc:  # one broken instance must not stop the others (its unit was rolled back)
        log.warning("waking instance %s failed", instance_id, exc_info=True)
        try:
            with unit_of_work(db.session):  # a second unit: the failure (backoff or incident) is kept
                return engine.wake_failed(instance_id, exc)
        except Exception:  # the database itself is failing: the next run tries again
            log.exception("recording the failed wake of instance %s failed", instance_id)
            return None


def run_due(app, bounded=True):
    """Wake every due instance, in batches, each in its own transaction, until none is due.

    Bounded (the scheduler job), a run stops after BANSOS_SCHEDULER_MAX_PER_RUN instances or
    BANSOS_SCHEDULER_MAX_SECONDS, so that it ends before the next is due; the next run goes on
    where the due order puts it. Unbounded (`tepat timers fire`), it handles every instance due
    when it started.
    """
    from . import services

    cfg = app.config
    batch_size = int(cfg.get("BANSOS_SCHEDULER_BATCH_SIZE", 100))
    max_instances = int(cfg.get("BANSOS_SCHEDULER_MAX_PER_RUN", 5000)) if bounded else None
    max_seconds = float(cfg.get("BANSOS_SCHEDULER_MAX_SECONDS", 20.0)) if bounded else None
    run = WakeRun()
    started = time.monotonic()
    with app.app_context():
        engine = services().engine
        now = utcnow()
        after = None
        handled = 0
        try:
            while True:
                batch = engine.due_instances(now, batch_size, after)
                if not batch:
                    break
                for instance_id, wake_at in batch:
                    if (max_instances is not None and handled >= max_instances) or (
                        max_seconds is not None and time.monotonic() - started >= max_seconds
                    ):
                        run.finished = False
                        return run
                    outcome = wake_one(engine, instance_id, now)
                    handled += 1
                    after = (wake_at, instance_id)
                    if outcome == "woken":
                        run.woken += 1
                    elif outcome == "backoff":
                        run.failed += 1
                    elif outcome == "incident":
                        run.incidents += 1
        finally:
            db.session.remove()
    if run.failed or run.incidents:
        log.warning(
            "wake run: %d woken, %d failed and pushed back, %d became incidents", run.woken, run.failed, run.incidents
        )
    return run


def fire_due(app):
    """The scheduler job: one bounded run over the due instances; return how many woke."""
    return run_due(app).woken


def purge_photos(app):
    """Delete selfies, and their kept face templates, older than the retention setting; return how many photos."""
    from . import services

    days = app.config["BANSOS_PHOTO_RETENTION_DAYS"]
    with app.app_context():
        kept = services().integrations.selfie_faces
        if kept is not None:
            try:
                with unit_of_work(db.session):
                    templates = kept.purge_older_than(days)
                if templates:
                    log.info("purged %d selfie face templates older than %s days", templates, days)
            finally:
                db.session.remove()
        return services().photos.purge_older_than(days)


def purge_evidence(app):
    """Delete evidence files no appeal or draft refers to any more, and uploaded registry extracts past
    their retention (BANSOS_IMPORT_RETENTION_DAYS); return how many evidence files."""
    from cases.portal.files import purge_unreferenced_evidence
    from cases.runkinds import purge_import_files

    from .portal.wiring import portal_services

    with app.app_context():
        try:
            with unit_of_work(db.session):
                runs = purge_import_files(
                    db.session, app.config["BANSOS_IMPORT_DIR"], app.config["BANSOS_IMPORT_RETENTION_DAYS"]
                )
            if runs:
                log.info("deleted the uploaded extracts of import runs %s (retention)", runs)
            return purge_unreferenced_evidence(db.session, portal_services().evidence)
        finally:
            db.session.remove()


def anchor_audit(app):
    """Record every audit shard's head in the anchor chain (if any moved); return the entry or None."""
    from cases.audit import anchor

    with app.app_context():
        try:
            with unit_of_work(db.session):
                return anchor(db.session, "scheduler")
        finally:
            db.session.remove()


def notify_officers(app, now=None):
    """Tell officers of new tasks and near deadlines, then mail what is pending; return (told, sent)."""
    from cases import notifications as n

    from . import services
    from .labels import district_label, task_label
    from .links import notification_link

    with app.app_context():
        try:
            with unit_of_work(db.session):  # the notices first, in a unit of their own
                told = n.new_task_notices(db.session)
                told += n.deadline_reminders(db.session, app.config.get("BANSOS_DEADLINE_REMINDER_HOURS", [24, 2]), now)
            with unit_of_work(db.session):  # deliver_mail commits each message as it goes (cases/notifications.py)
                sent, _skipped = n.deliver_mail(
                    db.session,
                    services().integrations.mailer,
                    task_label=task_label,
                    district_label=district_label,
                    link=notification_link,
                )
            return told, sent
        finally:
            db.session.remove()


def reverify_due(app, today=None):
    """Start this quarter's re-verification when BANSOS_REVERIFY_SCHEDULE_ENABLED and none exists; return its id."""
    from cases.programme import reverify_if_due

    from . import services

    if not app.config.get("BANSOS_REVERIFY_SCHEDULE_ENABLED"):
        return None
    with app.app_context():
        try:
            with unit_of_work(db.session):
                run = reverify_if_due(services().engine, today)
            return run.id if run is not None else None
        finally:
            db.session.remove()


def start_scheduler(app):
    """Start the background job (one per process)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        fire_due,
        "interval",
        args=[app],
        seconds=app.config["BANSOS_SCHEDULER_INTERVAL_SECONDS"],
        id="tepat-fire-due",
        max_instances=1,
        coalesce=True,
    )
    from .runs_exec import run_due_chunks  # tracked runs started from a page (engine/runs.py)

    scheduler.add_job(
        run_due_chunks,
        "interval",
        args=[app],
        seconds=app.config["BANSOS_SCHEDULER_INTERVAL_SECONDS"],
        id="tepat-run-chunks",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        notify_officers,
        "interval",
        args=[app],
        seconds=app.config["BANSOS_SCHEDULER_INTERVAL_SECONDS"],
        id="tepat-notify-officers",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        reverify_due, "interval", args=[app], hours=1, id="tepat-reverify", max_instances=1, coalesce=True
    )
    scheduler.add_job(
        purge_photos, "interval", args=[app], hours=24, id="tepat-purge-photos", max_instances=1, coalesce=True
    )
    scheduler.add_job(
        purge_evidence, "interval", args=[app], hours=24, id="tepat-purge-evidence", max_instances=1, coalesce=True
    )
    scheduler.add_job(
        anchor_audit,
        "interval",
        args=[app],
        seconds=app.config["BANSOS_AUDIT_ANCHOR_SECONDS"],
        id="tepat-audit-anchor",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    app.extensions["tepat-scheduler"] = scheduler
    return scheduler
