"""Registry photos encoded once on the app's database: the 1:1 handler and the encode-photos command."""

import json

from flask import current_app
from sqlalchemy import func, select

from engine.db import db
from tests.conftest import faces_or_skip


def people_with_photos(limit):
    from integrations.sandbox.tables import people

    return db.session.execute(
        select(people.c.nik, people.c.photo_ref)
        .where(people.c.photo_ref.is_not(None))
        .order_by(people.c.nik)
        .limit(limit)
    ).all()


def kept_rows():
    from integrations.registry_faces import registry_face_templates

    return db.session.execute(select(registry_face_templates)).all()


def test_the_face_match_handler_encodes_the_registry_photo_once(svc, monkeypatch):
    from integrations import face as face_module
    from integrations.face import FaceRecognitionMatcher
    from tasks.base import REGISTRY, ServiceContext, load_handlers

    faces = faces_or_skip()
    [(nik, photo_ref)] = people_with_photos(1)
    # A matcher without an in-process cache, as a fresh worker: only the kept template can help.
    monkeypatch.setattr(svc.integrations, "face", FaceRecognitionMatcher(cache_size=0))
    encoded = []
    real = face_module.face_recognition.face_encodings
    monkeypatch.setattr(
        face_module.face_recognition, "face_encodings", lambda *a, **k: encoded.append(1) or real(*a, **k)
    )
    load_handlers()
    selfie = (faces / photo_ref).read_bytes()
    outcomes = []
    for i in range(3):
        context = ServiceContext(
            integrations=svc.integrations, settings={}, photos=svc.photos, business_key=f"TPT-R-{i}"
        )
        ref = svc.photos.put(selfie + i.to_bytes(4, "big"))  # a new selfie each time
        result = json.loads(json.dumps(REGISTRY["biometric.face_match"](context, nik=nik, selfie_ref=ref)))
        db.session.commit()
        outcomes.append((result["outcome"], result["distance"]))
    assert outcomes == [("match", 0.0)] * 3
    assert len(encoded) == 2 + 1 + 1  # the registry photo once, then one selfie per application
    [row] = kept_rows()
    assert row.nik == nik and len(row.encoding) == 512


def test_encode_photos_ahead_of_applications_is_idempotent_and_audited(svc):
    from cases.audit import AuditEntry

    faces_or_skip()
    runner = current_app.test_cli_runner()
    expected = {(nik, photo) for nik, photo in people_with_photos(3)}
    out = runner.invoke(args=["sandbox", "encode-photos", "--limit", "3"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "3 registry photos encoded" in out.output
    assert {r.nik for r in kept_rows()} == {nik for nik, _ in expected}
    again = runner.invoke(args=["sandbox", "encode-photos", "--limit", "3"], catch_exceptions=False)
    assert "0 registry photos encoded" in again.output and len(kept_rows()) == 3
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "sandbox.encode_photos")
        )
        == 2
    )
