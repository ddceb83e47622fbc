"""Tables of the applicant portal, and the sandbox identity provider's tables on the app's metadata."""

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import UTCDateTime, db, utcnow
from integrations.idp.tables import define_tables

# The sandbox digital-ID provider keeps its codes and attempts here (migrated and cleaned with ours).
IDP_TABLES = define_tables(db.metadata)


class ApplicantSession(db.Model):
    """A signed-in applicant; the browser holds a random token whose hash is kept here."""

    __tablename__ = "applicant_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    nik: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    district_code: Mapped[str | None] = mapped_column(String(2))
    village: Mapped[str | None] = mapped_column(String(60))
    kk_number: Mapped[str | None] = mapped_column(String(16))
    issuer: Mapped[str | None] = mapped_column(String(200))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # Signed out, or found expired: the token no longer works.
    ended_at: Mapped[object | None] = mapped_column(UTCDateTime)


class RegistrationDraft(db.Model):
    """An application being filled in, kept on the server step by step (one per person and owner)."""

    __tablename__ = "registration_drafts"
    __table_args__ = (UniqueConstraint("nik", "owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The random handle in facilitators' URLs (never the row id).
    key: Mapped[str] = mapped_column(String(32), unique=True)
    nik: Mapped[str] = mapped_column(String(16), index=True)
    # "self" for the applicant's own draft, else the facilitator's username.
    owner: Mapped[str] = mapped_column(String(100), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    # Consent (version, time, name typed), phone, payment channel and account, household confirmed.
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    selfie_ref: Mapped[str | None] = mapped_column(String(64))
    steps: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class EvidenceFile(db.Model):
    """A file an applicant sent with an appeal; the bytes are in the evidence store, not here."""

    __tablename__ = "evidence_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    # NULL while attached to an appeal not yet sent.
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeals.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    ref: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class ApiSubmission(db.Model):
    """An application sent through the API under an idempotency key: a retried upload finds its case here.

    One row per (officer, key); `request_hash` is the SHA-256 of the application's JSON and the selfie's
    bytes, so the same key sent again with another application is refused instead of answered.
    """

    __tablename__ = "api_submissions"
    __table_args__ = (UniqueConstraint("officer", "idempotency_key", name="uq_api_submissions_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer: Mapped[str] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    case_number: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
