"""Selfies encoded once: the face template the upload check made, kept for the steps that run later.

The portal's photo step (and the API's submission) encodes the selfie to check it (one face, sharp,
large enough: about 110-140 ms of one core). With workers (BANSOS_EXECUTION=celery) the face steps
run later in another process, whose matcher cache does not hold that encoding, so the selfie used to
be encoded a second time there; in a web deployment of several processes the submission's process
may not be the one that checked the photo either. The check's template is therefore kept in
``selfie_face_templates`` by the photo's SHA-256 (which is also the photo store's reference) and the
matcher's model, and the face steps ``recall`` it into their matcher's cache before encoding: a kept
selfie is never encoded again, whichever process runs the step.

Only usable selfies are kept (the upload check refuses the others before they are stored). The
template is biometric data under UU PDP, derived from the photo: it follows the photo's retention
(``purge_older_than`` with BANSOS_PHOTO_RETENTION_DAYS, in the same scheduler job). Rows are written in
the caller's transaction with "insert, or nothing if already there": a rolled-back upload loses only the
row, and the step encodes instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import cast

import numpy as np
from sqlalchemy import JSON, Column, DateTime, LargeBinary, String, Table, delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from integrations.base import utc_now
from integrations.face import FaceMatcher, ImageRejected
from integrations.face_index import TEMPLATE_BYTES, face_metadata
from integrations.photos import REF_PATTERN
from integrations.registry_faces import INSERTS, template_model

selfie_face_templates = Table(
    "selfie_face_templates",
    face_metadata,
    Column("photo_sha256", String(64), primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("encoding", LargeBinary(TEMPLATE_BYTES), nullable=False),
    Column("quality", JSON, nullable=True),
    Column("encoded_at", DateTime(timezone=True), nullable=False, index=True),
)


def _keeps_templates(matcher: FaceMatcher) -> bool:
    return callable(getattr(matcher, "remember", None)) and callable(getattr(matcher, "quality_of", None))


class SelfieFaceTemplates:
    """Templates of checked selfies in the database, recalled into a matcher's cache by the face steps."""

    def __init__(self, session_factory: Callable[[], Session], matcher: FaceMatcher, clock=utc_now):
        self._session_factory = session_factory
        self._matcher = matcher
        self._clock = clock

    def keep(self, selfie: bytes, matcher: FaceMatcher | None = None) -> bool:
        """Keep the template of a selfie that passed the upload check (encoded then: a cache hit).

        Returns True when a template is kept (or was already). A photo the matcher refuses is not
        kept (False; the face steps report it); a matcher that keeps no templates keeps nothing.
        """
        matcher = matcher or self._matcher
        if not _keeps_templates(matcher) or not isinstance(selfie, (bytes, bytearray, memoryview)):
            return False
        try:
            encoding = matcher.encode(bytes(selfie))
        except (ImageRejected, NotImplementedError):
            return False
        digest = hashlib.sha256(selfie).hexdigest()
        session = self._session_factory()
        make = INSERTS.get(session.get_bind().dialect.name)
        if make is None:
            return False
        values = {
            "photo_sha256": digest,
            "model": template_model(matcher),
            "encoding": np.asarray(encoding, dtype="<f4").tobytes(),
            "quality": matcher.quality_of(digest) or None,  # type: ignore[attr-defined]
            "encoded_at": self._clock(),
        }
        session.execute(make(selfie_face_templates).values(**values).on_conflict_do_nothing())
        return True

    def recall(self, ref: str | None, matcher: FaceMatcher | None = None) -> bool:
        """Put the kept template of the selfie stored as ``ref`` into the matcher's cache.

        Returns True when the matcher now holds it without encoding (cached already, or kept here).
        No query when the matcher has it cached (the same process checked the photo).
        """
        matcher = matcher or self._matcher
        if not _keeps_templates(matcher) or not isinstance(ref, str) or not REF_PATTERN.match(ref):
            return False
        if matcher.knows(ref):  # type: ignore[attr-defined]
            return True
        row = (
            self._session_factory()
            .execute(
                select(selfie_face_templates.c.encoding, selfie_face_templates.c.quality).where(
                    selfie_face_templates.c.photo_sha256 == ref,
                    selfie_face_templates.c.model == template_model(matcher),
                )
            )
            .first()
        )
        if row is None or row.encoding is None or len(row.encoding) != TEMPLATE_BYTES:
            return False
        matcher.remember(ref, np.frombuffer(row.encoding, dtype="<f4").copy(), dict(row.quality or {}))  # type: ignore[attr-defined]
        return True

    def purge_older_than(self, days: float) -> int:
        """Delete templates kept more than ``days`` ago (the photos' retention); the caller commits."""
        cutoff = self._clock() - timedelta(days=float(days))
        result = cast(
            CursorResult,
            self._session_factory().execute(
                delete(selfie_face_templates).where(selfie_face_templates.c.encoded_at < cutoff)
            ),
        )
        return int(result.rowcount or 0)
