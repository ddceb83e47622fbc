"""Face verification: does a selfie show the person in the civil-registry photo?"""
from __future__ import annotations

import hashlib
import io
import threading
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from integrations.base import Evidence, IntegrationError, utc_now

with warnings.catch_warnings():
    # face_recognition_models imports pkg_resources, which newer setuptools flags as deprecated
    # (DeprecationWarning, later UserWarning); that is the library's concern, not ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    import face_recognition

OUTCOMES = ("match", "no_match", "cannot_decide")
SOURCE = "face"


class ImageRejected(IntegrationError):
    """A selfie that cannot be used; ``code`` tells the applicant what to fix (not transient)."""

    def __init__(self, code: str, message: str):
        super().__init__(SOURCE, message)
        self.code = code


@dataclass(frozen=True)
class FaceMatchResult:
    """The verdict of one selfie-to-reference comparison."""

    outcome: str  # one of OUTCOMES
    distance: float | None
    threshold: float
    reason_code: str | None
    evidence: Evidence | None = None


class FaceMatcher(ABC):
    """Compares an applicant's selfie with their registry photo.

    Contract for every implementation:
    - The selfie is checked first; an unusable selfie raises ``ImageRejected`` with ``code``
      'IMAGE_INVALID' (not a decodable image), 'NO_FACE' or 'MULTIPLE_FACES', so the applicant can
      retake it. Implementations may add codes for quality problems.
    - ``reference`` None gives 'cannot_decide' with reason 'NO_REFERENCE_PHOTO'; a reference without
      one usable face gives 'cannot_decide' with reason 'REFERENCE_UNUSABLE' (not the applicant's
      fault). 'cannot_decide' always goes to a human, never to a rejection.
    - Otherwise 'match' when ``distance <= threshold``, else 'no_match'.
    - The evidence holds hashes of the images and the numbers, never the images or face encodings.
    """

    source = SOURCE

    @abstractmethod
    def verify(self, selfie: bytes, reference: bytes | None) -> FaceMatchResult:
        """Compare a selfie with a reference photo."""


@dataclass(frozen=True)
class _Encoded:
    """What one image yields: an encoding, or the reason it has none."""

    encoding: np.ndarray | None
    problem: str | None  # None, or an ImageRejected code
    message: str = ""


class FaceRecognitionMatcher(FaceMatcher):
    """Face matcher on dlib's ResNet encodings through the ``face_recognition`` package."""

    model = "face_recognition/dlib-hog-resnet"

    def __init__(
        self,
        threshold: float = 0.6,
        max_dimension: int = 800,
        cache_size: int = 512,
        clock: Callable[[], datetime] = utc_now,
    ):
        if not 0 < threshold < 2:
            raise ValueError("The face-match threshold must be between 0 and 2.")
        self.threshold = float(threshold)
        self.max_dimension = int(max_dimension)
        self._cache_size = cache_size
        self._cache: OrderedDict[str, _Encoded] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock

    def verify(self, selfie: bytes, reference: bytes | None) -> FaceMatchResult:
        """Compare a selfie with a reference photo."""
        selfie_hash = self._hash(selfie)
        encoded = self._encoding(selfie, selfie_hash)
        if encoded.problem:
            raise ImageRejected(encoded.problem, encoded.message)
        if reference is None:
            return self._result("cannot_decide", None, "NO_REFERENCE_PHOTO", selfie_hash, None)
        try:
            reference_hash = self._hash(reference)
        except ImageRejected:
            # A reference of the wrong kind is the registry's problem, never the applicant's.
            return self._result("cannot_decide", None, "REFERENCE_UNUSABLE", selfie_hash, None)
        ref = self._encoding(reference, reference_hash)
        if ref.problem:
            return self._result("cannot_decide", None, "REFERENCE_UNUSABLE", selfie_hash, reference_hash)
        distance = float(face_recognition.face_distance([ref.encoding], encoded.encoding)[0])
        outcome = "match" if distance <= self.threshold else "no_match"
        return self._result(outcome, distance, None, selfie_hash, reference_hash)

    def cache_info(self) -> dict:
        """Return the number of cached encodings and the cache capacity."""
        with self._lock:
            return {"size": len(self._cache), "capacity": self._cache_size}

    @staticmethod
    def _hash(data) -> str:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageRejected("IMAGE_INVALID", "The photo must be given as image bytes.")
        return hashlib.sha256(data).hexdigest()

    def _result(self, outcome, distance, reason, selfie_hash, reference_hash) -> FaceMatchResult:
        value = {
            "outcome": outcome, "distance": distance, "threshold": self.threshold,
            "reason_code": reason, "selfie_sha256": selfie_hash,
            "reference_sha256": reference_hash, "model": self.model,
        }
        evidence = Evidence(self.source, self._clock(), value)
        return FaceMatchResult(outcome, distance, self.threshold, reason, evidence)

    def _encoding(self, data: bytes, digest: str) -> _Encoded:
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None:
                self._cache.move_to_end(digest)
                return cached
        encoded = self._encode(bytes(data))
        with self._lock:
            self._cache[digest] = encoded
            self._cache.move_to_end(digest)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return encoded

    def _encode(self, data: bytes) -> _Encoded:
        try:
            pixels = self.decode(data)
        except ImageRejected as exc:
            return _Encoded(None, exc.code, exc.message)
        locations = face_recognition.face_locations(pixels, number_of_times_to_upsample=1, model="hog")
        if not locations:
            return _Encoded(None, "NO_FACE", "No face was found in the photo.")
        if len(locations) > 1:
            return _Encoded(None, "MULTIPLE_FACES", "The photo shows more than one face.")
        encodings = face_recognition.face_encodings(pixels, known_face_locations=locations)
        if not encodings:
            return _Encoded(None, "NO_FACE", "The face in the photo could not be measured.")
        return _Encoded(encodings[0], None)

    def decode(self, data: bytes) -> np.ndarray:
        """Decode image bytes to an upright RGB array no larger than ``max_dimension``."""
        if not data:
            raise ImageRejected("IMAGE_INVALID", "The photo is empty.")
        try:
            with warnings.catch_warnings():
                # Huge images are an attack or a mistake; treat Pillow's bomb warning as a rejection.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))
                # JPEG can decode at reduced scale, much cheaper than decoding then shrinking.
                image.draft("RGB", (self.max_dimension, self.max_dimension))
                image.load()
                image = ImageOps.exif_transpose(image)
                image = _to_rgb(image)
                image.thumbnail((self.max_dimension, self.max_dimension), Image.Resampling.LANCZOS)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
                Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("IMAGE_INVALID", "The file is not a readable image.") from exc
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Flatten transparency onto white, as the photo would look on a form.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Wide greyscale: scale to 8 bits before converting, or Pillow clips to white.
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        return Image.fromarray((array * (255.0 / peak)).astype(np.uint8), "L").convert("RGB")
    return image.convert("RGB")
