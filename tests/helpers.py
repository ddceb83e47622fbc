"""Small helpers shared by the integration tests."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import time_machine
from flask import current_app
from flask.testing import FlaskClient
from sqlalchemy import select

from cases.models import Application
from cases.operations import case_or_404, submit_application
from engine.db import db
from engine.humantasks import claim_task, complete_task
from engine.models import HumanTask


def submit(svc, nik, selfie=None, **extra):
    """Submit an application and commit; return the Application."""
    payload = {"nik": nik, "consent": True, "bank_account": "1234567890", **extra}
    app = submit_application(svc.engine, payload, photos=svc.photos, selfie=selfie)
    db.session.commit()
    return app


def case(number):
    """Reload a case by number."""
    db.session.expire_all()
    return case_or_404(db.session, number)


def open_task(number, bpmn_id=None):
    """Return the open or claimed human task of a case (optionally of one BPMN id)."""
    query = select(HumanTask).where(HumanTask.business_key == number, HumanTask.status.in_(("open", "claimed")))
    if bpmn_id:
        query = query.where(HumanTask.bpmn_id == bpmn_id)
    return db.session.execute(query).scalar_one_or_none()


def work(svc, number, bpmn_id, actor, data):
    """Claim and complete a case's task as `actor`, commit, and return the case."""
    row = open_task(number, bpmn_id)
    assert row is not None, f"no open {bpmn_id} task on {number}"
    claim_task(svc.engine, row.id, actor)
    db.session.commit()
    complete_task(svc.engine, row.id, actor, data)
    db.session.commit()
    return case(number)


def later(days):
    """A time_machine traveller `days` from now (ticking)."""
    return time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)


def wake_all(svc):
    """Run the scheduler job's work once, committing per instance (`svc`: services or an Engine)."""
    engine = getattr(svc, "engine", svc)
    count = 0
    for instance_id in engine.wake_due():
        engine.wake(instance_id)
        db.session.commit()
        count += 1
    return count


def all_cases():
    return list(db.session.execute(select(Application)).scalars())


@contextmanager
def fresh_client():
    """A test client of the current app whose requests each run in their own app context."""
    app = current_app._get_current_object()
    app.test_client_class = FreshContextClient
    try:
        yield app.test_client()
    finally:
        app.test_client_class = None


class FreshContextClient(FlaskClient):
    """Each request in its own app context, as in production (the test itself holds one open)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@contextmanager
def civil_servant_in_poor_family(nik):
    """Make `nik` (a head of a poor family no ground excludes) a civil servant in the sandbox civil-service
    registry for the duration: their case is rejected on that one ground, and an appeal that overturns it
    can enrol them (the synthetic population has few such families)."""
    from integrations.sandbox.tables import civil_service

    db.session.execute(civil_service.insert().values(nik=nik, category="ASN"))
    db.session.commit()
    try:
        yield nik
    finally:
        db.session.rollback()
        db.session.execute(civil_service.delete().where(civil_service.c.nik == nik))
        db.session.commit()


def count_encodings(monkeypatch):
    """Record the SHA-256 of every photo a FaceRecognitionMatcher really encodes (not served from a cache)."""
    import hashlib

    from integrations.face import FaceRecognitionMatcher

    seen = []
    real = FaceRecognitionMatcher._encode

    def counting(self, data):
        seen.append(hashlib.sha256(data).hexdigest())
        return real(self, data)

    monkeypatch.setattr(FaceRecognitionMatcher, "_encode", counting)
    return seen
