"""Worker processes for the lock and crash tests: `python -m tests.integration.workers MODE ARGS...`."""

import json
import os
import sys
import time

from marshmallow import Schema, fields


class TickForm(Schema):
    tick = fields.String(required=True)


FORMS = {"tick": TickForm}


def _engine():
    from engine.core import Engine
    from engine.db import db
    from web import create_app, services

    app = create_app({"BANSOS_SCHEDULER_ENABLED": False})
    ctx = app.app_context()
    ctx.push()
    s = services()
    return Engine(db.session, dict(app.config), s.integrations, FORMS, photos=s.photos), db


def loop(instance_id, name, start_at):
    """Claim and complete ticks on one instance until it finishes; print how many we did."""
    from sqlalchemy import select

    from engine.core import Actor
    from engine.errors import EngineError
    from engine.humantasks import claim_task, complete_task
    from engine.models import HumanTask, ProcessInstance

    engine, db = _engine()
    actor = Actor(name, frozenset({"caseworker"}))
    done = 0
    while time.time() < start_at:
        time.sleep(0.005)
    deadline = time.time() + 120
    while time.time() < deadline:
        db.session.expire_all()
        status = db.session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == instance_id))
        db.session.rollback()
        if status == "completed":
            break
        row = db.session.scalar(
            select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "open").limit(1)
        )
        db.session.rollback()
        if row is None:
            time.sleep(0.002)
            continue
        try:
            claim_task(engine, row.id, actor)
            db.session.commit()
            complete_task(engine, row.id, actor, {"tick": name})
            db.session.commit()
            done += 1
        except EngineError:
            db.session.rollback()
    print(json.dumps({"done": done}))


def complete_once(task_id, name, start_at):
    """Try to complete one task at a given moment; print whether we did."""
    from engine.core import Actor
    from engine.errors import EngineError
    from engine.humantasks import complete_task

    engine, db = _engine()
    actor = Actor(name, frozenset({"caseworker"}))
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        complete_task(engine, task_id, actor, {"tick": str(os.getpid())})
        db.session.commit()
        print(json.dumps({"completed": True}))
    except EngineError as exc:
        db.session.rollback()
        print(json.dumps({"completed": False, "code": exc.code}))


def crash_after_save(task_id, name):
    """Complete a task but die after the engine saved and before the commit."""
    from engine import signals
    from engine.core import Actor
    from engine.humantasks import complete_task

    engine, db = _engine()

    def die(sender, runtime):
        sys.stdout.flush()
        os._exit(3)

    signals.instance_saved.connect(die)
    complete_task(engine, task_id, Actor(name, frozenset({"caseworker"})), {"tick": "crash"})
    db.session.commit()  # never reached


def submit_held():
    """Submit applications told on stdin; hold each commit until told to (the dedup race test).

    stdin: ``submit NIK PHOTO_PATH`` then, once this worker printed ``saved``, ``commit``.
    stdout: ``ready``, ``saved CASE`` (the engine saved, not committed), ``done CASE OUTCOME``.
    """
    from cases.operations import submit_application
    from engine import signals
    from web import services

    engine, db = _engine()
    photos = services().photos

    def hold(sender, runtime):
        print("saved", runtime.instance.business_key, flush=True)
        assert sys.stdin.readline().strip() == "commit"

    signals.instance_saved.connect(hold)
    print("ready", flush=True)
    for line in sys.stdin:
        _, nik, photo = line.split()
        with open(photo, "rb") as handle:
            app = submit_application(
                engine, {"nik": nik, "consent": True, "bank_account": "1234567890"}, photos=photos, selfie=handle.read()
            )
        number = app.case_number
        db.session.commit()
        dedup = db.session.execute(_dedup_query(number)).scalar_one()
        db.session.rollback()
        print("done", number, dedup["outcome"], flush=True)


def _dedup_query(number):
    from sqlalchemy import select

    from cases.models import Application, EvidenceRecord

    return (
        select(EvidenceRecord.value)
        .join(Application, Application.id == EvidenceRecord.application_id)
        .where(Application.case_number == number, EvidenceRecord.source == "face_index")
    )


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "loop":
        loop(int(args[0]), args[1], float(args[2]))
    elif mode == "complete_once":
        complete_once(int(args[0]), args[1], float(args[2]))
    elif mode == "submit_held":
        submit_held()
    elif mode == "crash":
        crash_after_save(int(args[0]), args[1])
