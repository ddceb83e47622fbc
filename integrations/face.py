"""Face verification: does a selfie show the person in the civil-registry photo?"""

from __future__ import annotations

import hashlib
import io
import math
import threading
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from integrations.base import Evidence, IntegrationError, utc_now
from integrations.face_messages import face_message

with warnings.catch_warnings():
    # face_recognition_models imports pkg_resources, which newer setuptools flags as deprecated
    # (DeprecationWarning, later UserWarning); that is the library's concern, not ours.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    import face_recognition

# face_recognition switches Pillow to padding truncated files with grey at import; an upload cut
# off in transit must be refused (IMAGE_INVALID), not half-matched.
ImageFile.LOAD_TRUNCATED_IMAGES = False

OUTCOMES = ("match", "no_match", "cannot_decide")
SOURCE = "face"
ENCODING_SIZE = 128

# Decided by the leading bytes, never by the file name or the declared content type.
_SIGNATURES = (
    ("JPEG", lambda d: d[:3] == b"\xff\xd8\xff"),
    ("PNG", lambda d: d[:8] == b"\x89PNG\r\n\x1a\n"),
    ("WEBP", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP"),
)


class ImageRejected(IntegrationError):
    """A photo that cannot be used; ``code`` tells the applicant what to fix (not transient)."""

    def __init__(self, code: str, message: str | None = None, **params):
        self.code = code
        self.params = params
        self.message_id, message_en = face_message(code, **params)
        super().__init__(SOURCE, message or message_en)


@dataclass(frozen=True)
class FaceMatchResult:
    """The verdict of one selfie-to-reference comparison."""

    outcome: str  # one of OUTCOMES
    distance: float | None
    threshold: float
    reason_code: str | None
    evidence: Evidence | None = None


@dataclass(frozen=True)
class ReferenceFace:
    """What a registry photo yields, kept so it is encoded once (``integrations.registry_faces``):
    its template, or the code of the check it failed; never the photo itself."""

    sha256: str
    encoding: np.ndarray | None
    problem: str | None  # an ImageRejected code when the photo is unusable
    quality: dict = field(default_factory=dict)


class FaceMatcher(ABC):
    """Compares an applicant's selfie with their registry photo, and turns a photo into a template.

    Contract for every implementation:
    - The selfie is checked first; an unusable selfie raises ``ImageRejected``. Codes (texts in
      ``integrations.face_messages.FACE_MESSAGES``): 'IMAGE_TOO_LARGE' (bytes, checked before
      anything else), 'IMAGE_TYPE_NOT_ALLOWED' (content is not JPEG, PNG or WebP, whatever the file
      is called), 'IMAGE_DIMENSIONS_TOO_LARGE' (from the header, before the pixels are decoded),
      'IMAGE_INVALID' (empty, not bytes, corrupt or truncated), 'NO_FACE', 'MULTIPLE_FACES',
      'FACE_TOO_SMALL', 'IMAGE_BLURRY'. The applicant can retake the photo for every one of them.
    - ``reference`` None gives 'cannot_decide' with reason 'NO_REFERENCE_PHOTO'; a reference that
      fails any check gives 'cannot_decide' with reason 'REFERENCE_UNUSABLE' (not the applicant's
      fault). 'cannot_decide' always goes to a human, never to a rejection.
    - Otherwise 'match' when ``distance <= threshold``, else 'no_match'.
    - The evidence holds hashes of the images and the numbers, never the images or face encodings.
    - ``encode`` applies the same checks and returns the 128-number template of the one face, for
      1:N deduplication; matchers that only compare (a remote 1:1 service) do not override it.
    """

    source = SOURCE

    @abstractmethod
    def verify(self, selfie: bytes, reference: bytes | None) -> FaceMatchResult:
        """Compare a selfie with a reference photo."""

    def encode(self, image_bytes: bytes) -> np.ndarray:
        """Return the float32 template of the one face in a photo, or raise ImageRejected."""
        raise NotImplementedError(f"{type(self).__name__} cannot produce face templates")

    def describe_reference(self, reference: bytes) -> ReferenceFace:
        """Encode a registry photo once, for ``verify_reference`` (matchers that keep templates)."""
        raise NotImplementedError(f"{type(self).__name__} cannot produce face templates")

    def verify_reference(self, selfie: bytes, reference: ReferenceFace | None) -> FaceMatchResult:
        """Compare a selfie with a registry photo encoded earlier: the same verdicts as ``verify``."""
        raise NotImplementedError(f"{type(self).__name__} cannot compare with stored templates")


@dataclass(frozen=True)
class _Encoded:
    """What one image yields: an encoding and its quality figures, or the reason it has none."""

    encoding: np.ndarray | None
    problem: ImageRejected | None
    quality: dict = field(default_factory=dict)


class FaceRecognitionMatcher(FaceMatcher):
    """Face matcher on dlib's ResNet encodings through the ``face_recognition`` package.

    Quality limits (defaults tuned on ../shared/faces, see tests/unit/integrations/test_face_quality.py):
    ``max_dimension`` 640: photos are shrunk to this longer side before detection; the HOG detector
    then finds faces of about 11% of the longer side or more in one pass, and one verification
    takes about 0.2 s a photo on one core (bench/biometric.py). ``min_face_px`` 80: the encoder
    reads a 150-px chip, so a face under 80 original pixels is mostly interpolation (obama_small.jpg,
    320x240, has a 103-px face and passes). ``min_face_fraction`` 0.08 of the longer side: smaller
    faces have too few pixels left after shrinking (the real photos measure 11% and more).
    ``min_sharpness`` 300: variance of the Laplacian of the face, contrast-stretched and scaled to
    64x64 so light and face size do not count; the real photos measure 515 (obama3.jpg) to 2,142;
    obama.jpg under a Gaussian blur of radius 4 measures 385 (passes), 5: 243, 6: 153, 8: 73.
    """

    model = "face_recognition/dlib-hog-resnet"

    def __init__(
        self,
        threshold: float = 0.6,
        max_dimension: int = 640,
        cache_size: int = 512,
        clock: Callable[[], datetime] = utc_now,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        max_pixels: int = 64_000_000,
        max_side: int = 12_000,
        min_face_px: int = 80,
        min_face_fraction: float = 0.08,
        min_sharpness: float = 300.0,
    ):
        if not 0 < threshold < 2:
            raise ValueError("The face-match threshold must be between 0 and 2.")
        if max_bytes <= 0 or max_pixels <= 0 or max_side <= 0 or max_dimension < 64:
            raise ValueError("Image limits must be positive (max_dimension at least 64).")
        self.threshold = float(threshold)
        self.max_dimension = int(max_dimension)
        self.max_bytes = int(max_bytes)
        self.max_pixels = int(max_pixels)
        self.max_side = int(max_side)
        self.min_face_px = int(min_face_px)
        self.min_face_fraction = float(min_face_fraction)
        self.min_sharpness = float(min_sharpness)
        self._cache_size = cache_size
        self._cache: OrderedDict[str, _Encoded] = OrderedDict()
        self._lock = threading.Lock()
        self._clock = clock

    def verify(self, selfie: bytes, reference: bytes | None) -> FaceMatchResult:
        """Compare a selfie with a reference photo."""
        encoded, selfie_hash = self._lookup(selfie)
        if encoded.problem:
            raise encoded.problem  # checked first: the applicant's photo decides before the registry's
        assert selfie_hash is not None  # only a photo refused unread (not bytes, too large) has no hash
        return self._compare(encoded, selfie_hash, None if reference is None else self.describe_reference(reference))

    def describe_reference(self, reference: bytes) -> ReferenceFace:
        """Encode a registry photo (or note why it cannot be used); never raises for a bad photo."""
        ref, reference_hash = self._lookup(reference)
        return ReferenceFace(
            reference_hash or "",
            None if ref.problem or ref.encoding is None else ref.encoding.copy(),
            ref.problem.code if ref.problem else None,
            dict(ref.quality),
        )

    def verify_reference(self, selfie: bytes, reference: ReferenceFace | None) -> FaceMatchResult:
        """Compare a selfie with a registry photo encoded earlier: only the selfie is encoded."""
        encoded, selfie_hash = self._lookup(selfie)
        if encoded.problem:
            raise encoded.problem
        assert selfie_hash is not None  # only a photo refused unread (not bytes, too large) has no hash
        return self._compare(encoded, selfie_hash, reference)

    def _compare(self, encoded: _Encoded, selfie_hash: str, reference: ReferenceFace | None) -> FaceMatchResult:
        facts: dict[str, Any] = {"selfie_sha256": selfie_hash, "selfie_quality": encoded.quality}
        if reference is None:
            return self._result("cannot_decide", None, "NO_REFERENCE_PHOTO", facts)
        facts["reference_sha256"] = reference.sha256 or None
        if reference.problem or reference.encoding is None:
            # A reference of the wrong kind is the registry's problem, never the applicant's.
            facts["reference_problem"] = reference.problem or "IMAGE_INVALID"
            return self._result("cannot_decide", None, "REFERENCE_UNUSABLE", facts)
        facts["reference_quality"] = reference.quality
        assert encoded.encoding is not None  # the callers raised its problem: a photo without one is encoded
        distance = float(
            np.linalg.norm(np.asarray(reference.encoding, dtype=np.float64) - encoded.encoding.astype(np.float64))
        )
        outcome = "match" if distance <= self.threshold else "no_match"
        return self._result(outcome, distance, None, facts)

    def encode(self, image_bytes: bytes) -> np.ndarray:
        """Return the float32 template of the one face in a photo, or raise ImageRejected."""
        encoded, _ = self._lookup(image_bytes)
        if encoded.problem:
            raise encoded.problem
        assert encoded.encoding is not None  # a photo without a problem is encoded
        return encoded.encoding.copy()  # the cached array must not be changed by callers

    def knows(self, digest: str) -> bool:
        """True when the photo with this SHA-256 is in the cache (no encoding needed)."""
        with self._lock:
            return digest in self._cache

    def quality_of(self, digest: str) -> dict:
        """The quality figures of a cached photo, by its SHA-256 ({} when not cached)."""
        with self._lock:
            cached = self._cache.get(digest)
            return dict(cached.quality) if cached is not None else {}

    def remember(self, digest: str, encoding: np.ndarray, quality: dict) -> None:
        """Cache an encoding made earlier (possibly by another process) for the photo with this SHA-256.

        Only for a photo that passed the checks: its encoding and quality figures as ``encode`` gave them
        (integrations.selfie_faces keeps them in the database).
        """
        encoded = _Encoded(np.asarray(encoding, dtype=np.float32).copy(), None, dict(quality or {}))
        if encoded.encoding is None or encoded.encoding.shape != (ENCODING_SIZE,):
            raise ValueError("a face encoding has 128 numbers")
        with self._lock:
            self._cache[digest] = encoded
            self._cache.move_to_end(digest)
            while len(self._cache) > max(self._cache_size, 1):  # kept at least until the next encoding
                self._cache.popitem(last=False)

    def cache_info(self) -> dict:
        """Return the number of cached encodings and the cache capacity."""
        with self._lock:
            return {"size": len(self._cache), "capacity": self._cache_size}

    def _result(self, outcome, distance, reason, facts) -> FaceMatchResult:
        value = {
            "outcome": outcome,
            "distance": distance,
            "threshold": self.threshold,
            "reason_code": reason,
            "selfie_sha256": None,
            "reference_sha256": None,
            "model": self.model,
            **facts,
        }
        evidence = Evidence(self.source, self._clock(), value)
        return FaceMatchResult(outcome, distance, self.threshold, reason, evidence)

    def _lookup(self, data) -> tuple[_Encoded, str | None]:
        """Return the encoding of ``data`` (cached by content hash) and the hash; never raises."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return _Encoded(None, ImageRejected("IMAGE_INVALID", "The photo must be given as image bytes.")), None
        if len(data) > self.max_bytes:
            # Refused before hashing or parsing: a huge upload must cost as little as possible.
            return _Encoded(None, ImageRejected("IMAGE_TOO_LARGE", max_mb=self._max_mb())), None
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None:
                self._cache.move_to_end(digest)
                return cached, digest
        encoded = self._encode(bytes(data))
        with self._lock:
            self._cache[digest] = encoded
            self._cache.move_to_end(digest)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return encoded, digest

    def _encode(self, data: bytes) -> _Encoded:
        try:
            pixels, original_side = self._decode(data)
            location, quality = self._one_face(pixels, original_side)
        except ImageRejected as exc:
            return _Encoded(None, exc)
        encodings = face_recognition.face_encodings(pixels, known_face_locations=[location], model="small")
        if not encodings:
            return _Encoded(None, ImageRejected("NO_FACE", "The face in the photo could not be measured."))
        return _Encoded(np.asarray(encodings[0], dtype=np.float32), None, quality)

    def _one_face(self, pixels: np.ndarray, original_side: int) -> tuple[tuple, dict]:
        """Find exactly one usable face; return its (top, right, bottom, left) box and quality figures."""
        locations = face_recognition.face_locations(pixels, number_of_times_to_upsample=0, model="hog")
        if not locations:
            # A second pass at double size finds faces down to about 6% of the longer side; it costs
            # four times as much, so only photos that need it pay for it.
            locations = face_recognition.face_locations(pixels, number_of_times_to_upsample=1, model="hog")
        if not locations:
            raise ImageRejected("NO_FACE")
        if len(locations) > 1:
            raise ImageRejected("MULTIPLE_FACES")
        top, right, bottom, left = locations[0]
        working_side = max(pixels.shape[:2])
        face_side = min(right - left, bottom - top)
        quality = {
            "face_px": round(face_side * original_side / working_side),
            "face_fraction": round(face_side / working_side, 3),
        }
        if quality["face_px"] < self.min_face_px or quality["face_fraction"] < self.min_face_fraction:
            raise ImageRejected("FACE_TOO_SMALL")
        quality["sharpness"] = round(face_sharpness(pixels[top:bottom, left:right]), 1)
        if quality["sharpness"] < self.min_sharpness:
            raise ImageRejected("IMAGE_BLURRY")
        return locations[0], quality

    def decode(self, data: bytes) -> np.ndarray:
        """Check and decode image bytes to an upright RGB array no larger than ``max_dimension``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageRejected("IMAGE_INVALID", "The photo must be given as image bytes.")
        if len(data) > self.max_bytes:
            raise ImageRejected("IMAGE_TOO_LARGE", max_mb=self._max_mb())
        return self._decode(bytes(data))[0]

    def _decode(self, data: bytes) -> tuple[np.ndarray, int]:
        """Return the upright RGB working array and the longer side of the original picture."""
        if not data:
            raise ImageRejected("IMAGE_INVALID", "The photo is empty.")
        kind = sniff_image_type(data)
        if kind is None:
            raise ImageRejected("IMAGE_TYPE_NOT_ALLOWED")
        try:
            with warnings.catch_warnings():
                # Pillow's other warnings (odd EXIF, palette transparency) describe photos we can
                # still use; its bomb warning means a picture far beyond our own limits.
                warnings.simplefilter("ignore")
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                # Only the sniffed format's decoder may read the bytes: no surprises from other plugins.
                image: Image.Image = Image.open(io.BytesIO(data), formats=[kind])
                self._check_dimensions(*image.size)  # from the header, nothing decoded yet
                original_side = max(image.size)
                scale = self.max_dimension / original_side
                if scale < 1:
                    # JPEG can decode at 1/2, 1/4 or 1/8 scale: far cheaper than decoding then shrinking.
                    image.draft("RGB", (math.ceil(image.width * scale), math.ceil(image.height * scale)))
                image.load()
                image = _upright(image)
                image = _to_rgb(image)
                image.thumbnail((self.max_dimension, self.max_dimension), Image.Resampling.LANCZOS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("IMAGE_DIMENSIONS_TOO_LARGE", **self._dimension_params()) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageRejected("IMAGE_INVALID") from exc
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)), original_side

    def _check_dimensions(self, width: int, height: int) -> None:
        if width > self.max_side or height > self.max_side or width * height > self.max_pixels:
            raise ImageRejected("IMAGE_DIMENSIONS_TOO_LARGE", **self._dimension_params())

    def _dimension_params(self) -> dict:
        return {"max_side": self.max_side, "max_megapixels": round(self.max_pixels / 1_000_000)}

    def _max_mb(self) -> float:
        return round(self.max_bytes / (1024 * 1024), 1)


def sniff_image_type(data: bytes) -> str | None:
    """Return 'JPEG', 'PNG' or 'WEBP' from the leading bytes, or None for anything else."""
    head = bytes(data[:16])
    return next((kind for kind, matches in _SIGNATURES if matches(head)), None)


def face_sharpness(face: np.ndarray) -> float:
    """Return the variance of the Laplacian of a face crop, independent of its light and size."""
    grey = Image.fromarray(face).convert("L").resize((64, 64), Image.Resampling.BILINEAR)
    values = np.asarray(grey, dtype=np.float64)
    low, high = np.percentile(values, (1, 99))
    # Stretch the contrast so a dark but sharp face is not called blurred; a floor on the range
    # keeps sensor noise in a flat crop from being stretched into false detail.
    values = (values - low) * (255.0 / max(high - low, 16.0))
    laplacian = values[1:-1, :-2] + values[1:-1, 2:] + values[:-2, 1:-1] + values[2:, 1:-1] - 4.0 * values[1:-1, 1:-1]
    return float(laplacian.var())


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make good pixels unusable
        return image


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
