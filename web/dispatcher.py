"""`tepat scheduler`: the one scheduler of a deployment, however many web and worker processes run.

Every `tepat scheduler` process may be started (one per machine, say); they elect a leader with a
PostgreSQL session-level advisory lock, held on a connection of its own: the others wait and take
over within one interval when the leader's process or connection dies. The leader, every
BANSOS_DISPATCH_INTERVAL_SECONDS:

- with workers (BANSOS_EXECUTION = "celery"), sends a hint for every instance that is due (timers,
  service retries, steps whose hint was lost), again after BANSOS_DISPATCH_RESEND_SECONDS if it is
  still due; the workers do the work, and a duplicate finds nothing to do. While hints wait in the
  queue (a backlog), only the earliest-due instances beyond their number are hinted
  (engine.dispatch.hints_missing): a backlog is not hinted again every resend interval;
- without (inline), wakes the due instances itself (web.scheduler.run_due), as the in-process job does;
- for tracked runs (engine/runs.py), sends a hint for each chunk that is due (with workers) or runs
  a bounded number of them (inline); a chunk hinted and still not done is hinted again;
- once a day, runs the photo and evidence purges (on a worker with workers).

On SQLite (the embedded default, one machine) there is nothing to elect: the process leads.
"""

import logging
import signal
import threading
import time

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from engine.db import db, utcnow

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x7E9A7_5C4ED  # pg_try_advisory_lock key: "tepat scheduler"
REVERIFY_EVERY_SECONDS = 3600  # whether the quarter's re-verification is due (BANSOS_REVERIFY_*)
PURGE_EVERY_SECONDS = 24 * 3600


class Leadership:
    """Holds (or tries to take) the scheduler's advisory lock on a connection of its own."""

    def __init__(self, database_url, key=LEADER_LOCK_KEY):
        self.key = key
        self.postgres = database_url.startswith("postgresql")
        self._engine = create_engine(database_url, poolclass=NullPool) if self.postgres else None
        self._conn = None
        self.leading = False

    def hold(self):
        """Return True if this process leads now (taking the lock if it is free)."""
        if not self.postgres:
            self.leading = True
            return True
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            if self.leading:
                self._conn.execute(text("SELECT 1"))  # still connected: the lock is still ours
            else:
                self.leading = bool(
                    self._conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
                )
            self._conn.commit()  # the lock is the session's: it outlives the transaction
        except Exception:  # the connection died: so did the lock; try again next time
            log.warning("scheduler: lost the database connection; leadership dropped", exc_info=True)
            self.release()
        return self.leading

    def release(self):
        """Give the lock up: unlock it at once if the connection still works, then close it."""
        conn, leading, self._conn, self.leading = self._conn, self.leading, None, False
        if conn is None:
            return
        try:
            if leading:  # closing alone releases it too, but the server notices a moment later
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                conn.commit()
        except Exception:  # the connection is gone, and the lock with it
            pass
        try:
            conn.invalidate()
            conn.close()
        except Exception:
            pass


class Dispatcher:
    """What the leader does each interval."""

    def __init__(self, app, send=None, send_chunks=None, queued=None, queued_chunks=None):
        self.app = app
        self.celery = app.config["BANSOS_EXECUTION"] == "celery"
        if self.celery and send is None:
            from .worker import queued_hints, send_hints

            send = lambda ids: send_hints(app.config, ids)  # noqa: E731
            queued = queued or (lambda: queued_hints(app.config))
        self.send = send
        self.send_chunks = send_chunks
        if self.celery and send_chunks is None:
            from .runs_exec import send_chunk_hints

            self.send_chunks = lambda chunks: send_chunk_hints(app.config, chunks)  # noqa: E731
        if self.celery and queued_chunks is None:
            from .worker import queued_chunk_hints

            queued_chunks = lambda: queued_chunk_hints(app.config)  # noqa: E731
        # How many chunk hints wait in the runs queue (None: unknown): a run's backlog is not hinted again.
        self.queued_chunks = queued_chunks or (lambda: None)
        # How many hints wait in the queue (None: unknown); see engine.dispatch.hints_missing.
        self.queued = queued or (lambda: None)
        self.sent = {}  # instance id -> monotonic time of the last hint
        self.last_purge = None
        self.last_anchor = None
        self.last_reverify = None

    def tick(self):
        """One round: hints (or wakes) for what is due; the audit anchor and daily purges. Returns how many handled."""
        if self.last_purge is None or time.monotonic() - self.last_purge >= PURGE_EVERY_SECONDS:
            self.last_purge = time.monotonic()
            self._purge()
        anchor_every = float(self.app.config["BANSOS_AUDIT_ANCHOR_SECONDS"])
        if self.last_anchor is None or time.monotonic() - self.last_anchor >= anchor_every:
            self.last_anchor = time.monotonic()
            self._anchor()
        if self.last_reverify is None or time.monotonic() - self.last_reverify >= REVERIFY_EVERY_SECONDS:
            self.last_reverify = time.monotonic()
            self._reverify()
        from .runs_exec import dispatch_chunks, run_due_chunks

        if not self.celery:
            from .scheduler import run_due

            return run_due(self.app).woken + run_due_chunks(self.app)
        return self.dispatch_due() + dispatch_chunks(self.app, self.send_chunks, queued=self.queued_chunks())

    def dispatch_due(self):
        """Send a hint for every due instance that may lack one and was not hinted within the resend interval."""
        from engine.dispatch import count_due, hints_missing

        from . import services

        cfg = self.app.config
        resend = float(cfg["BANSOS_DISPATCH_RESEND_SECONDS"])
        batch_size = int(cfg["BANSOS_SCHEDULER_BATCH_SIZE"])
        limit = int(cfg["BANSOS_SCHEDULER_MAX_PER_RUN"])
        now, mono = utcnow(), time.monotonic()
        due = []
        with self.app.app_context():
            try:
                queued = self.queued()
                if queued:  # a backlog: only the earliest-due beyond the hints waiting may lack one
                    limit = min(limit, hints_missing(count_due(db.session, now), queued))
                engine, after = services().engine, None
                while len(due) < limit:  # read only those: a tick costs the missing hints, not the backlog
                    batch = engine.due_instances(now, min(batch_size, limit - len(due)), after)
                    if not batch:
                        break
                    due.extend(instance_id for instance_id, _ in batch)
                    after = batch[-1][1], batch[-1][0]
            finally:
                db.session.remove()
        fresh = [i for i in due if mono - self.sent.get(i, -resend) >= resend]
        self.sent = {i: t for i, t in self.sent.items() if mono - t < resend}
        if fresh:
            try:
                self.send(fresh)
            except Exception:  # the broker is down: the same instances are still due next time
                log.warning("scheduler: could not send %d hints", len(fresh), exc_info=True)
                return 0
            self.sent.update({i: mono for i in fresh})
        return len(fresh)

    def _anchor(self):
        from .scheduler import anchor_audit

        try:
            anchor_audit(self.app)
        except Exception:  # the next interval tries again
            log.warning("scheduler: anchoring the audit shards failed", exc_info=True)

    def _reverify(self):
        """The quarterly re-verification, when due (cases/programme.py); its chunks go out as hints."""
        from .scheduler import reverify_due

        try:
            reverify_due(self.app)
        except Exception:
            log.warning(
                "scheduler: could not start the quarterly re-verification; tried again in an hour", exc_info=True
            )

    def _purge(self):
        from .scheduler import purge_evidence, purge_photos

        try:
            if self.celery:
                from .worker import PURGE, celery_for

                for name in ("photos", "evidence"):
                    celery_for(self.app.config).send_task(PURGE, args=[name])
            else:
                purge_photos(self.app)
                purge_evidence(self.app)
        except Exception:
            log.warning("scheduler: the purges failed; they run again tomorrow", exc_info=True)


def run_scheduler(app, stop, leadership=None, dispatcher=None):
    """Lead (or wait to lead) and tick every interval until `stop` is set."""
    leadership = leadership or Leadership(app.config["BANSOS_DATABASE_URL"])
    dispatcher = dispatcher or Dispatcher(app)
    interval = float(app.config["BANSOS_DISPATCH_INTERVAL_SECONDS"])
    was_leading = False
    try:
        while not stop.is_set():
            leading = leadership.hold()
            if leading != was_leading:
                log.warning("scheduler: %s", "leading" if leading else "standing by (another scheduler leads)")
                click.echo(f"tepat scheduler: {'leading' if leading else 'standing by'}", err=True)
                was_leading = leading
            if leading:
                try:
                    dispatcher.tick()
                except Exception:  # one bad round never stops the scheduler
                    log.exception("scheduler: a round failed")
            stop.wait(interval)
    finally:
        leadership.release()


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the deployment's one scheduler: timers, retries, lost hints, purges (leader-elected)."""
    app = current_app._get_current_object()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(
        f"tepat scheduler: execution {app.config['BANSOS_EXECUTION']}, "
        f"every {app.config['BANSOS_DISPATCH_INTERVAL_SECONDS']} s",
        err=True,
    )
    run_scheduler(app, stop)
