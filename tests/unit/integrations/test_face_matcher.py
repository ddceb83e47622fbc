import io

import pytest
from PIL import Image

from integrations import face as face_module
from integrations.face import FaceRecognitionMatcher, ImageRejected


@pytest.fixture(scope="module")
def matcher():
    # One matcher for the module: its encoding cache keeps the tests fast.
    return FaceRecognitionMatcher(threshold=0.6)


def photo(faces, name):
    return (faces / name).read_bytes()


def blank_png():
    buffer = io.BytesIO()
    Image.new("RGB", (200, 200), (180, 180, 180)).save(buffer, "PNG")
    return buffer.getvalue()


def test_same_person_matches(matcher, faces):
    result = matcher.verify(photo(faces, "obama.jpg"), photo(faces, "obama2.jpg"))
    assert result.outcome == "match"
    assert result.distance <= result.threshold == 0.6
    assert result.reason_code is None
    assert result.evidence.source == "face"
    assert set(result.evidence.value) >= {"distance", "threshold", "selfie_sha256", "reference_sha256"}


def test_different_people_do_not_match(matcher, faces):
    result = matcher.verify(photo(faces, "obama.jpg"), photo(faces, "biden.jpg"))
    assert result.outcome == "no_match" and result.distance > 0.6


def test_rgba_png_matches(matcher, faces):
    assert matcher.verify(photo(faces, "32bit.png"), photo(faces, "obama.jpg")).outcome == "match"


def test_two_faces_are_rejected(matcher, faces):
    with pytest.raises(ImageRejected) as caught:
        matcher.verify(photo(faces, "two_people.jpg"), photo(faces, "obama.jpg"))
    assert caught.value.code == "MULTIPLE_FACES"


@pytest.mark.parametrize(
    "data, code",
    [
        (b"not an image", "IMAGE_TYPE_NOT_ALLOWED"),  # no JPEG/PNG/WebP signature: the type is refused
        (b"", "IMAGE_INVALID"),
        (b"\xff\xd8\xff\xe0 truncated jpeg", "IMAGE_INVALID"),  # a JPEG signature, then nothing usable
    ],
)
def test_non_images_are_rejected(matcher, data, code):
    with pytest.raises(ImageRejected) as caught:
        matcher.verify(data, None)
    assert caught.value.code == code


def test_photo_without_face_is_rejected(matcher):
    with pytest.raises(ImageRejected) as caught:
        matcher.verify(blank_png(), None)
    assert caught.value.code == "NO_FACE"


def test_missing_reference_cannot_decide(matcher, faces):
    result = matcher.verify(photo(faces, "obama.jpg"), None)
    assert (result.outcome, result.distance) == ("cannot_decide", None)
    assert result.reason_code == "NO_REFERENCE_PHOTO"


def test_unusable_reference_is_not_the_applicants_fault(matcher, faces):
    for reference in (blank_png(), photo(faces, "two_people.jpg"), b"garbage", "not bytes"):
        result = matcher.verify(photo(faces, "obama.jpg"), reference)
        assert (result.outcome, result.reason_code) == ("cannot_decide", "REFERENCE_UNUSABLE")


def test_repeated_photos_are_encoded_once(faces, monkeypatch):
    matcher = FaceRecognitionMatcher(threshold=0.6, cache_size=2)
    encoded = []
    real = face_module.face_recognition.face_encodings
    monkeypatch.setattr(
        face_module.face_recognition, "face_encodings", lambda *a, **k: encoded.append(1) or real(*a, **k)
    )
    reference = photo(faces, "obama.jpg")
    matcher.verify(photo(faces, "obama2.jpg"), reference)
    matcher.verify(photo(faces, "obama2.jpg"), reference)
    assert len(encoded) == 2
    matcher.verify(photo(faces, "obama_small.jpg"), reference)  # evicts obama2, keeps the reference
    assert len(encoded) == 3 and matcher.cache_info() == {"size": 2, "capacity": 2}
    matcher.verify(photo(faces, "obama_small.jpg"), reference)
    assert len(encoded) == 3


def test_large_images_are_downscaled(faces):
    matcher = FaceRecognitionMatcher(threshold=0.6, max_dimension=400)
    pixels = matcher.decode(photo(faces, "obama3.jpg"))
    assert max(pixels.shape[:2]) <= 400 and pixels.shape[2] == 3


def test_threshold_must_be_sensible():
    with pytest.raises(ValueError):
        FaceRecognitionMatcher(threshold=0)
