"""The in-process APScheduler job that fires due timers and service retries."""
import logging

from apscheduler.schedulers.background import BackgroundScheduler

from engine.db import db

log = logging.getLogger(__name__)


def fire_due(app, limit=100):
    """Wake every instance whose timer or retry is due; commit once per instance."""
    from . import services

    fired = 0
    with app.app_context():
        engine = services().engine
        for instance_id in engine.wake_due(limit=limit):
            try:
                engine.wake(instance_id)
                db.session.commit()
                fired += 1
            except Exception:  # one broken instance must not stop the others
                db.session.rollback()
                log.exception("waking instance %s failed", instance_id)
        db.session.remove()
    return fired


def purge_photos(app):
    """Delete selfies older than the retention setting; return how many."""
    from . import services

    with app.app_context():
        return services().photos.purge_older_than(app.config["BANSOS_PHOTO_RETENTION_DAYS"])


def purge_evidence(app):
    """Delete evidence files no appeal or draft refers to any more; return how many."""
    from cases.portal.files import purge_unreferenced_evidence

    from .portal.wiring import portal_services

    with app.app_context():
        try:
            return purge_unreferenced_evidence(db.session, portal_services().evidence)
        finally:
            db.session.remove()


def start_scheduler(app):
    """Start the background job (one per process)."""
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(fire_due, "interval", args=[app], seconds=app.config["BANSOS_SCHEDULER_INTERVAL_SECONDS"],
                      id="tepat-fire-due", max_instances=1, coalesce=True)
    scheduler.add_job(purge_photos, "interval", args=[app], hours=24, id="tepat-purge-photos",
                      max_instances=1, coalesce=True)
    scheduler.add_job(purge_evidence, "interval", args=[app], hours=24, id="tepat-purge-evidence",
                      max_instances=1, coalesce=True)
    scheduler.start()
    app.extensions["tepat-scheduler"] = scheduler
    return scheduler
