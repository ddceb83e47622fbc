"""Background workers on Celery (BANSOS_EXECUTION = "celery"): `tepat worker`, the hints, the tasks.

A message only says "look at instance N" (engine.dispatch). The worker locks the instance without
waiting, wakes it if it is still due and commits once; if the step raises, the failure is recorded
with backoff (engine.wakes) so that one broken instance never holds up the others. Messages are
acknowledged after the work (acks_late) and given back when a worker dies in the middle, so a
killed worker's message is taken by another; the dispatcher re-sends anything still due anyway.
"""

import functools
import logging
import os
import threading

import click
from celery import Celery
from celery.signals import worker_process_init
from flask import Flask, current_app
from flask.cli import with_appcontext

from engine.db import db, unit_of_work, utcnow
from engine.dispatch import claim_due

log = logging.getLogger(__name__)

ADVANCE = "tepat.advance"
PURGE = "tepat.purge"
_APPS: dict[tuple[str, str], Celery] = {}  # (broker URL, queue) -> its app
_LOCK = threading.Lock()
_FLASK: dict[str, Flask] = {}  # "app" -> this worker's Flask app


def celery_for(config):
    """The Celery app for these settings (one per broker and queue, built once)."""
    key = (config["BANSOS_BROKER_URL"], config["BANSOS_QUEUE"])
    with _LOCK:
        celery = _APPS.get(key)
        if celery is None:
            celery = _APPS[key] = _make_celery(*key)
    return celery


def runs_queue(queue):
    """The queue of tracked runs' chunk hints, beside the instances' queue.

    Kept apart so that the instances' queue depth counts only instance hints: the dispatcher
    relies on it (engine.dispatch.hints_missing), and a run of thousands of chunks waiting must not
    make it believe that timers and retries are already hinted. Workers consume both.
    """
    return f"{queue}.runs"


def _make_celery(broker, queue):
    from .runs_exec import RUN_CHUNK

    celery = Celery("tepat", broker=broker, set_as_current=False)
    celery.conf.update(
        task_default_queue=queue,
        task_routes={RUN_CHUNK: {"queue": runs_queue(queue)}},
        task_acks_late=True,  # acknowledged after the work: a killed worker's message is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # A request must not hang on a broker that is down: the dispatcher re-sends the hint.
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    celery.task(name=ADVANCE, ignore_result=True, bind=True)(advance)
    celery.task(name=PURGE, ignore_result=True)(purge)
    from .runs_exec import run_chunk_task

    celery.task(name=RUN_CHUNK, ignore_result=True, bind=True)(run_chunk_task)  # tracked runs (engine/runs.py)
    return celery


def send_hints(config, ids):
    """Publish one "look at instance N" message per id (after the caller's commit)."""
    celery = celery_for(config)
    with celery.producer_or_acquire() as producer:  # one connection for the lot
        for instance_id in ids:
            celery.send_task(ADVANCE, args=[int(instance_id)], producer=producer)


def queued_hints(config):
    """How many hints wait in the queue, not yet taken by a worker (None when the broker does not say).

    Messages a worker has taken but not yet acknowledged are not counted.
    """
    celery = celery_for(config)
    try:
        with celery.connection_for_write() as conn:
            return int(conn.default_channel.queue_declare(queue=config["BANSOS_QUEUE"], passive=True).message_count)
    except Exception:  # the broker is down, or the queue does not exist yet: we cannot tell
        log.debug("could not read the depth of queue %s", config["BANSOS_QUEUE"], exc_info=True)
        return None


def queued_chunk_hints(config):
    """How many run chunk hints wait in the runs queue (None when the broker does not say)."""
    celery = celery_for(config)
    try:
        with celery.connection_for_write() as conn:
            return int(
                conn.default_channel.queue_declare(queue=runs_queue(config["BANSOS_QUEUE"]), passive=True).message_count
            )
    except Exception:  # the broker is down, or the queue does not exist yet: we cannot tell
        log.debug("could not read the depth of the runs queue", exc_info=True)
        return None


def hint_sender(config):
    """A `sender(ids)` for Engine.hint_sender, bound to these settings."""
    return functools.partial(send_hints, config)


# --- in the worker --------------------------------------------------------------------------------


def _worker_app():
    app = _FLASK.get("app")
    if app is None:
        from . import create_app

        app = _FLASK["app"] = create_app({"BANSOS_SCHEDULER_ENABLED": False})
    return app


def _worker_engine():
    from . import services

    engine = services().engine
    engine.defer_steps = False  # the worker is where the steps run
    engine.hint_sender = None
    return engine


class WorkerLost(Exception):
    """A worker died (killed, out of memory, its machine lost) while it advanced the instance."""


def advance_instance(engine, instance_id, now=None, redelivered=False):
    """Advance one instance if it is due and free; commit once. Returns the outcome.

    "skipped": not due (a duplicate hint, or done meanwhile) or locked by someone else (they are
    advancing it); otherwise wake_one's outcome ("woken", "backoff", "incident", None).

    `redelivered`: the broker gives the message again because the worker that had it died in the
    middle. That counts as a failed wake (backoff, an incident at the bound) instead of running the
    step at once: a step that kills its worker (a crash in a native library, memory) would otherwise
    kill one worker after another, in a tight loop.
    """
    from .scheduler import wake_one

    now = now or utcnow()
    try:
        claimed = claim_due(db.session, instance_id, now)
    except Exception:
        db.session.rollback()
        log.warning("could not look at instance %s; the dispatcher will send it again", instance_id, exc_info=True)
        return None
    if not claimed:
        db.session.rollback()
        return "skipped"
    if redelivered:
        with unit_of_work(db.session):
            return engine.wake_failed(instance_id, WorkerLost("a worker died while advancing this instance"), now)
    return wake_one(engine, instance_id, now)  # under our lock: the wake's own lock is ours already


def advance(task, instance_id):
    """Celery task: look at instance N."""
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    app = _worker_app()
    with app.app_context():
        try:
            outcome = advance_instance(_worker_engine(), int(instance_id), redelivered=redelivered)
            log.info("instance %s: %s", instance_id, outcome)
            return outcome
        finally:
            db.session.remove()


def purge(name):
    """Celery task: a housekeeping job of the scheduler ("photos" or "evidence")."""
    from .scheduler import purge_evidence, purge_photos

    jobs = {"photos": purge_photos, "evidence": purge_evidence}
    return jobs[name](_worker_app())


@worker_process_init.connect
def _after_fork(**_):
    """A forked pool process must not share the parent's database connections."""
    app = _FLASK.get("app")
    if app is not None:
        from engine import native_threads

        native_threads.limit(app.config["BANSOS_NATIVE_THREADS"])  # the child's own thread pools
        with app.app_context():
            db.engine.dispose(close=False)


# --- the command ------------------------------------------------------------------------------------


@click.command("worker")
@click.option(
    "--concurrency",
    "-c",
    type=int,
    default=2,
    show_default=True,
    help="Processes (prefork) taking messages in parallel.",
)
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--hostname", default=None, help="Node name, unique per worker (default: tepat-<pid>@<host>).")
@with_appcontext
def worker_command(concurrency, pool, loglevel, hostname):
    """Run a background worker: engine steps, timers and retries from the broker (BANSOS_EXECUTION=celery)."""
    config = current_app.config
    if config["BANSOS_EXECUTION"] != "celery":
        click.echo(
            'BANSOS_EXECUTION is not "celery": requests run the engine themselves; '
            "a worker would only wake what the scheduler sends it.",
            err=True,
        )
    _FLASK["app"] = current_app._get_current_object()
    logging.getLogger("spiff").setLevel(logging.WARNING)  # every task state change is not news
    celery = celery_for(config)
    argv = [
        "worker",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        "-Q",
        f"{config['BANSOS_QUEUE']},{runs_queue(config['BANSOS_QUEUE'])}",
    ]
    # Each worker needs a node name of its own on the broker (its control queue is exclusive: a
    # second `tepat worker` with the same name stops at start-up). Default: one per process, so that
    # `honcho start -c worker=2` or two workers on one machine just work.
    argv.append(f"--hostname={hostname or f'tepat-{os.getpid()}@%h'}")
    celery.worker_main(argv)
