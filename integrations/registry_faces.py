"""Registry photos encoded once: the face template of each civil-registry photo, kept by NIK and photo hash.

Verifying a selfie against the registry photo used to encode both (about 274 ms on one core, cold);
the registry photo is the same for every application of that person, so its template is kept in
``registry_face_templates`` the first time it is used (or ahead of time: ``encode_registry``) and a
new application costs one encoding, the selfie's (about 141 ms). The key is (NIK, SHA-256 of the
photo bytes, model): a changed photo has another hash and is encoded again; another model (a future
matcher) does not reuse templates it did not make. A photo that cannot be used (no face, two faces,
too blurred...) is kept with the code of the failed check, so it gives the same 'cannot_decide'
(REFERENCE_UNUSABLE) as before without being decoded again. The templates are numbers derived from
the registry (never the photo) and biometric data under UU PDP: ``forget`` erases a person's.

Rows are written in the caller's transaction with "insert, or nothing if already there", so two
applications using the same photo at once both succeed; a rolled-back application only loses the
row, encoded again next time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import cast

import numpy as np
from sqlalchemy import JSON, Column, DateTime, LargeBinary, String, Table, delete, select
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from integrations.base import utc_now
from integrations.face import FaceMatcher, FaceMatchResult, ReferenceFace
from integrations.face_index import TEMPLATE_BYTES, face_metadata

registry_face_templates = Table(
    "registry_face_templates",
    face_metadata,
    Column("nik", String(16), primary_key=True),
    Column("photo_sha256", String(64), primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("encoding", LargeBinary(TEMPLATE_BYTES), nullable=True),  # NULL when the photo is unusable
    Column("problem", String(40), nullable=True),  # why: an ImageRejected code
    Column("quality", JSON, nullable=True),
    Column("encoded_at", DateTime(timezone=True), nullable=False),
)

# Both dialects' INSERTs have ON CONFLICT DO NOTHING (the generic Insert has not).
INSERTS: dict[str, Callable[[Table], PgInsert | SqliteInsert]] = {"postgresql": pg_insert, "sqlite": sqlite_insert}


class RegistryFaceTemplates:
    """Templates of registry photos in the database, made on first use with the matcher."""

    def __init__(self, session_factory: Callable[[], Session], matcher: FaceMatcher, clock=utc_now):
        self._session_factory = session_factory
        self._matcher = matcher
        self._clock = clock

    def reference(self, nik: str, photo: bytes, matcher: FaceMatcher | None = None) -> ReferenceFace:
        """Return the kept template of this registry photo, encoding and keeping it the first time.

        ``matcher``: the one to encode with (default: the one given at construction); templates are
        kept per matcher model.
        """
        matcher = matcher or self._matcher
        model = template_model(matcher)
        digest = hashlib.sha256(photo).hexdigest() if isinstance(photo, (bytes, bytearray, memoryview)) else ""
        session = self._session_factory()
        if digest:
            row = session.execute(
                select(registry_face_templates).where(
                    registry_face_templates.c.nik == nik,
                    registry_face_templates.c.photo_sha256 == digest,
                    registry_face_templates.c.model == model,
                )
            ).first()
            if row is not None:
                encoding = None if row.encoding is None else np.frombuffer(row.encoding, dtype="<f4").copy()
                return ReferenceFace(digest, encoding, row.problem, dict(row.quality or {}))
        face = matcher.describe_reference(photo)
        if face.sha256:  # bytes too large or not bytes at all have no hash: not kept
            self._keep(session, nik, face, model)
        return face

    def verify(
        self, nik: str, selfie: bytes, photo: bytes | None, matcher: FaceMatcher | None = None
    ) -> FaceMatchResult:
        """Compare a selfie with this person's registry photo: the same verdicts as ``FaceMatcher.verify``
        (the selfie is checked first), with the photo's template taken from the table when kept.

        ``matcher``: the host's current matcher (``integrations.face``), default the one given at
        construction; a matcher that keeps no templates (a remote 1:1 service) compares the photos.
        """
        matcher = matcher or self._matcher
        if photo is None or type(matcher).describe_reference is FaceMatcher.describe_reference:
            return matcher.verify(selfie, photo)  # no photo, or a matcher that keeps no templates
        try:
            reference = self.reference(nik, photo, matcher)
        except NotImplementedError:
            return matcher.verify(selfie, photo)
        return matcher.verify_reference(selfie, reference)  # the selfie's checks still come first

    def encode_registry(self, people: Iterable[tuple[str, bytes | None]]) -> int:
        """Encode ahead of time the photos of ``(nik, photo bytes)`` not kept yet (an import's people);
        return how many were encoded. The caller commits."""
        count = 0
        for nik, photo in people:
            if photo is None:
                continue
            before = self._kept(nik, hashlib.sha256(photo).hexdigest(), template_model(self._matcher))
            if not before:
                self.reference(nik, photo)
                count += 1
        return count

    def forget(self, nik: str) -> int:
        """Erase every kept template of a person (the registry photo changed hands, or erasure)."""
        result = cast(
            CursorResult,
            self._session_factory().execute(
                delete(registry_face_templates).where(registry_face_templates.c.nik == nik)
            ),
        )
        return int(result.rowcount or 0)

    def _kept(self, nik: str, digest: str, model: str) -> bool:
        return (
            self._session_factory()
            .execute(
                select(registry_face_templates.c.nik).where(
                    registry_face_templates.c.nik == nik,
                    registry_face_templates.c.photo_sha256 == digest,
                    registry_face_templates.c.model == model,
                )
            )
            .first()
            is not None
        )

    def _keep(self, session: Session, nik: str, face: ReferenceFace, model: str) -> None:
        dialect = session.get_bind().dialect.name
        values = {
            "nik": nik,
            "photo_sha256": face.sha256,
            "model": model,
            "encoding": None if face.encoding is None else np.asarray(face.encoding, dtype="<f4").tobytes(),
            "problem": face.problem,
            "quality": face.quality or None,
            "encoded_at": self._clock(),
        }
        make = INSERTS.get(dialect)
        if make is None:
            raise NotImplementedError(f"no registry face templates for {dialect}")
        session.execute(make(registry_face_templates).values(**values).on_conflict_do_nothing())


def template_model(matcher: FaceMatcher) -> str:
    """The key a matcher's templates are kept under (another model does not reuse them)."""
    return str(getattr(matcher, "model", type(matcher).__name__))[:64]
