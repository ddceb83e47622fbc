"""Tables of the applicant portal, and the sandbox identity provider's tables on the app's metadata."""
from sqlalchemy import Integer, String
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
