"""The portal's photo check encodes the selfie once; the face steps on a worker recall that template.

With workers the face steps run in another process whose matcher cache is empty: without the kept
template the selfie was encoded a second time there (about 110-140 ms of one core per application).
"""

import hashlib

from flask import current_app
from sqlalchemy import func, select, update

from cases.models import Application
from engine.db import db
from engine.models import ProcessInstance
from integrations.face import FaceRecognitionMatcher
from integrations.selfie_faces import selfie_face_templates
from tests.helpers import count_encodings
from tests.integration.api_support import api  # noqa: F401  (fixture)
from tests.integration.portal_helpers import (  # noqa: F401  (fixture)
    portal,
    register_self,
    sign_in_applicant,
    submit_registration,
)
from tests.integration.test_portal_registration import good_selfie
from web.scheduler import purge_photos
from web.worker import advance_instance


def _worker(svc):
    from engine.core import Engine

    engine = Engine(db.session, svc.engine.settings, svc.integrations, svc.engine.forms, photos=svc.photos)
    engine.defer_steps = False
    return engine


def _face_evidence(app):
    from cases.models import EvidenceRecord as Evidence

    rows = db.session.scalars(
        select(Evidence).where(Evidence.application_id == app.id, Evidence.source == "face")
    ).all()
    return [r.value for r in rows]


def test_a_portal_selfie_is_encoded_once_though_a_worker_runs_the_face_steps(portal, svc, population, monkeypatch):
    nik = population["personas"]["eligible_head_with_photo"]
    selfie = good_selfie(population, nik)
    ref = hashlib.sha256(selfie).hexdigest()
    encoded = count_encodings(monkeypatch)
    # The web process's matcher, its cache empty (another test may have checked this photo already).
    monkeypatch.setattr(svc.integrations, "face", FaceRecognitionMatcher(threshold=svc.integrations.face.threshold))
    sign_in_applicant(portal, nik)
    register_self(portal, selfie)
    assert encoded.count(ref) == 1  # the photo step's check
    db.session.expire_all()
    [row] = db.session.execute(select(selfie_face_templates).where(selfie_face_templates.c.photo_sha256 == ref)).all()
    assert len(row.encoding) == 512

    engine = svc.engine
    monkeypatch.setattr(engine, "defer_steps", True)
    monkeypatch.setattr(engine, "hint_sender", lambda ids: None)
    assert submit_registration(portal).status_code == 302
    db.session.expire_all()
    app = db.session.scalar(select(Application).where(Application.nik == nik))
    assert app.status == "SUBMITTED"  # left to a worker

    # The worker: another process, its face matcher's cache empty.
    worker_matcher = FaceRecognitionMatcher(threshold=svc.integrations.face.threshold)
    monkeypatch.setattr(svc.integrations, "face", worker_matcher)
    encoded.clear()
    instance_id = app.instance_id
    assert advance_instance(_worker(svc), instance_id) == "woken"
    db.session.expire_all()
    app = db.session.get(Application, app.id)
    assert app.status != "SUBMITTED"
    assert ref not in encoded  # the selfie was not encoded again (the registry photo may be)
    [face] = _face_evidence(app)
    assert face["selfie_sha256"] == ref and face["outcome"] == "match"
    assert face["selfie_quality"] == row.quality
    assert db.session.get(ProcessInstance, instance_id) is not None


def test_kept_selfie_templates_are_purged_with_the_photos(svc, population):
    from datetime import timedelta

    from integrations.base import utc_now as utcnow

    selfie = good_selfie(population, population["personas"]["eligible_head_with_photo"])
    assert svc.integrations.selfie_faces.keep(selfie)
    db.session.commit()
    days = current_app.config["BANSOS_PHOTO_RETENTION_DAYS"]
    purge_photos(current_app._get_current_object())
    assert db.session.scalar(select(func.count()).select_from(selfie_face_templates)) == 1  # young: kept
    db.session.execute(update(selfie_face_templates).values(encoded_at=utcnow() - timedelta(days=days + 1)))
    db.session.commit()
    purge_photos(current_app._get_current_object())
    assert db.session.scalar(select(func.count()).select_from(selfie_face_templates)) == 0


def test_an_api_submission_with_workers_keeps_the_checked_selfie_for_them(api, svc, population, monkeypatch):
    from tests.integration.test_api_applications import application, send

    nik = population["personas"]["eligible_head_with_photo"]
    selfie = good_selfie(population, nik)
    monkeypatch.setattr(svc.engine, "defer_steps", True)
    monkeypatch.setattr(svc.engine, "hint_sender", lambda ids: None)
    answer = send(api, application(nik), selfie)
    assert answer.status_code == 201 and answer.get_json()["status"] == "SUBMITTED", answer.get_json()
    db.session.expire_all()
    kept = db.session.scalars(select(selfie_face_templates.c.photo_sha256)).all()
    assert kept == [hashlib.sha256(selfie).hexdigest()]
