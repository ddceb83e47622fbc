"""Selfies encoded once: the upload check's template is kept and recalled by the face steps elsewhere."""

import hashlib
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from integrations.base import utc_now
from integrations.face import FaceRecognitionMatcher, ImageRejected
from integrations.face_index import face_metadata
from integrations.selfie_faces import SelfieFaceTemplates, selfie_face_templates
from tests.conftest import faces_or_skip
from tests.helpers import count_encodings


@pytest.fixture(scope="module")
def faces():
    return faces_or_skip()


@pytest.fixture
def session(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'selfies.sqlite'}")
    face_metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def encoded(monkeypatch):
    """The SHA-256 of every photo a matcher really encodes."""
    return count_encodings(monkeypatch)


def without_time(result):
    return result.outcome, result.distance, result.reason_code, dict(result.evidence.value)


def test_a_kept_selfie_is_not_encoded_again_by_another_process_and_gives_the_same_verdict(faces, session, encoded):
    selfie = (faces / "obama2.jpg").read_bytes()
    reference = (faces / "obama.jpg").read_bytes()
    ref = hashlib.sha256(selfie).hexdigest()
    web = FaceRecognitionMatcher()
    web.encode(selfie)  # the upload check
    assert SelfieFaceTemplates(lambda: session, web).keep(selfie) is True
    assert encoded == [ref]  # keeping it used the check's encoding
    session.commit()
    [row] = session.execute(select(selfie_face_templates)).all()
    assert (row.photo_sha256, row.model, len(row.encoding)) == (ref, web.model, 512)
    assert row.quality == web.quality_of(ref) and row.quality["sharpness"] > 0

    worker = FaceRecognitionMatcher()  # another process: an empty cache
    kept = SelfieFaceTemplates(lambda: session, worker)
    assert kept.recall(ref) is True
    encoded.clear()
    result = worker.verify(selfie, reference)
    assert encoded == [hashlib.sha256(reference).hexdigest()]  # only the registry photo
    assert np.array_equal(worker.encode(selfie), web.encode(selfie))
    assert without_time(result) == without_time(FaceRecognitionMatcher().verify(selfie, reference))
    assert kept.recall(ref) is True  # cached now: no query needed


def test_a_refused_photo_is_not_kept_and_an_unknown_selfie_is_encoded_as_before(faces, session, encoded):
    matcher = FaceRecognitionMatcher()
    kept = SelfieFaceTemplates(lambda: session, matcher)
    two_faces = (faces / "two_people.jpg").read_bytes()
    with pytest.raises(ImageRejected):
        matcher.encode(two_faces)
    assert kept.keep(two_faces) is False
    assert kept.keep(b"not an image") is False
    assert session.scalar(select(func.count()).select_from(selfie_face_templates)) == 0
    selfie = (faces / "biden2.jpg").read_bytes()
    ref = hashlib.sha256(selfie).hexdigest()
    assert kept.recall(ref) is False and kept.recall("../../etc/passwd") is False and kept.recall(None) is False
    encoded.clear()
    matcher.encode(selfie)
    assert encoded == [ref]


def test_templates_follow_the_photos_retention(faces, session):
    clock = [utc_now() - timedelta(days=40)]
    matcher = FaceRecognitionMatcher()
    kept = SelfieFaceTemplates(lambda: session, matcher, clock=lambda: clock[0])
    old, new = (faces / "obama2.jpg").read_bytes(), (faces / "biden2.jpg").read_bytes()
    assert kept.keep(old)
    clock[0] = utc_now()
    assert kept.keep(new) and kept.keep(new)  # twice: one row
    session.commit()
    assert kept.purge_older_than(30) == 1
    assert session.scalars(select(selfie_face_templates.c.photo_sha256)).all() == [hashlib.sha256(new).hexdigest()]


def test_remember_checks_the_template_and_keeps_it_with_a_tiny_cache():
    matcher = FaceRecognitionMatcher(cache_size=0)
    with pytest.raises(ValueError):
        matcher.remember("a" * 64, np.zeros(3), {})
    matcher.remember("a" * 64, np.ones(128), {"sharpness": 1.0})  # kept although the cache holds none
    assert matcher.knows("a" * 64) and matcher.quality_of("a" * 64) == {"sharpness": 1.0}
