"""Registry photos encoded once: one face encoding per application, the same verdicts as before."""

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from integrations import face as face_module
from integrations.face import FaceRecognitionMatcher, ImageRejected
from integrations.face_index import face_metadata
from integrations.registry_faces import RegistryFaceTemplates, registry_face_templates
from tests.conftest import faces_or_skip

NIK = "3510014101900001"


@pytest.fixture(scope="module")
def faces():
    return faces_or_skip()


@pytest.fixture
def session(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    face_metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def encodings(monkeypatch):
    """Count the face encodings the matcher really computes."""
    counted = []
    real = face_module.face_recognition.face_encodings
    monkeypatch.setattr(
        face_module.face_recognition, "face_encodings", lambda *a, **k: counted.append(1) or real(*a, **k)
    )
    return counted


def unique(data: bytes, i: int) -> bytes:
    return data + i.to_bytes(4, "big")  # after the JPEG end marker: new bytes, same picture


def without_time(result):
    value = dict(result.evidence.value)
    return result.outcome, result.distance, result.reason_code, value


def test_the_registry_photo_is_encoded_once_then_each_application_encodes_its_selfie_only(faces, session, encodings):
    matcher = FaceRecognitionMatcher(cache_size=0)  # no in-process cache: only the table can help
    kept = RegistryFaceTemplates(lambda: session, matcher)
    reference = (faces / "obama.jpg").read_bytes()
    selfie = (faces / "obama2.jpg").read_bytes()
    first = kept.verify(NIK, unique(selfie, 1), reference)
    assert len(encodings) == 2 and first.outcome == "match"
    session.commit()
    for i in range(2, 5):
        again = kept.verify(NIK, unique(selfie, i), reference)
        assert again.outcome == "match" and again.distance == pytest.approx(first.distance, abs=1e-6)
    assert len(encodings) == 2 + 3  # one encoding per later application: the selfie's
    [row] = session.execute(select(registry_face_templates)).all()
    assert (row.nik, row.problem, len(row.encoding)) == (NIK, None, 512)
    assert np.allclose(np.frombuffer(row.encoding, "<f4"), matcher.encode(reference))
    # The verdict and evidence are those of comparing the two photos directly.
    assert without_time(kept.verify(NIK, selfie, reference)) == without_time(matcher.verify(selfie, reference))


def test_a_changed_registry_photo_is_encoded_again(faces, session, encodings):
    kept = RegistryFaceTemplates(lambda: session, FaceRecognitionMatcher(cache_size=0))
    selfie = (faces / "biden2.jpg").read_bytes()
    assert kept.verify(NIK, selfie, (faces / "obama.jpg").read_bytes()).outcome == "no_match"
    assert kept.verify(NIK, selfie, (faces / "biden.jpg").read_bytes()).outcome == "match"
    assert len(encodings) == 4
    assert session.scalar(select(func.count()).select_from(registry_face_templates)) == 2


@pytest.mark.parametrize("name, problem", [("two_people.jpg", "MULTIPLE_FACES"), (None, "NO_FACE")])
def test_an_unusable_registry_photo_gives_the_same_outcome_and_is_not_decoded_again(
    faces, session, encodings, name, problem
):
    if name:
        reference = (faces / name).read_bytes()
    else:
        buffer = io.BytesIO()
        Image.new("RGB", (400, 400), (120, 160, 200)).save(buffer, "JPEG")
        reference = buffer.getvalue()
    matcher = FaceRecognitionMatcher(cache_size=0)
    kept = RegistryFaceTemplates(lambda: session, matcher)
    selfie = (faces / "obama.jpg").read_bytes()
    direct = matcher.verify(selfie, reference)
    assert (direct.outcome, direct.reason_code, direct.evidence.value["reference_problem"]) == (
        "cannot_decide",
        "REFERENCE_UNUSABLE",
        problem,
    )
    first = kept.verify(NIK, selfie, reference)
    session.commit()
    assert without_time(first) == without_time(direct)
    decoded = []
    real = matcher._decode
    matcher._decode = lambda data: decoded.append(1) or real(data)
    assert without_time(kept.verify(NIK, selfie, reference)) == without_time(direct)
    assert len(decoded) == 1  # the selfie only
    assert session.execute(select(registry_face_templates.c.problem)).scalar_one() == problem


def test_no_registry_photo_and_a_bad_selfie_behave_as_before(faces, session):
    kept = RegistryFaceTemplates(lambda: session, FaceRecognitionMatcher())
    assert kept.verify(NIK, (faces / "obama.jpg").read_bytes(), None).reason_code == "NO_REFERENCE_PHOTO"
    with pytest.raises(ImageRejected) as refused:
        kept.verify(NIK, (faces / "two_people.jpg").read_bytes(), (faces / "obama.jpg").read_bytes())
    assert refused.value.code == "MULTIPLE_FACES"


def test_encode_registry_ahead_of_time_then_forget(faces, session, encodings):
    kept = RegistryFaceTemplates(lambda: session, FaceRecognitionMatcher(cache_size=0))
    people = [
        (NIK, (faces / "obama.jpg").read_bytes()),
        ("3510020202910002", None),
        ("3510030303920003", (faces / "biden.jpg").read_bytes()),
    ]
    assert kept.encode_registry(people) == 2
    assert kept.encode_registry(people) == 0  # kept already
    session.commit()
    assert len(encodings) == 2
    assert kept.verify(NIK, (faces / "obama2.jpg").read_bytes(), people[0][1]).outcome == "match"
    assert len(encodings) == 3
    assert kept.forget(NIK) == 1
