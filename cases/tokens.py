"""API tokens: officers' credentials for the JSON API, stored as a sha256 of the secret only.

A token reads ``tpt_`` followed by 43 URL-safe characters (256 random bits). The secret is shown
once, when issued; the database keeps its sha256 (a fast hash is enough for a random secret of this
length: there is no password to guess) and the first characters (the prefix) so an officer can tell
tokens apart. Every token expires; a revoked token stays listed, refused.
"""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import UTCDateTime, db, utcnow
from engine.errors import EngineError
from integrations.digits import is_ascii_digits

from .models import Officer

TOKEN_MARK = "tpt_"
PREFIX_LENGTH = 12  # "tpt_" and 8 characters of the secret: enough to tell tokens apart, useless to guess
MAX_DAYS = 365
USE_RECORD_INTERVAL = timedelta(minutes=1)  # last_used_at is written at most once a minute per token


class ApiToken(db.Model):
    """One API token of an officer: who, what for, until when, and whether it was revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(PREFIX_LENGTH), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[object] = mapped_column(UTCDateTime)
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    last_used_at: Mapped[object | None] = mapped_column(UTCDateTime)

    officer = relationship(Officer, lazy="joined")

    def state(self, now=None):
        """Return "active", "expired" or "revoked"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"


class TokenError(EngineError):
    code = "TOKEN_ERROR"


class TokenRefused(TokenError):
    """A presented token was not accepted; `reason` says why (malformed, unknown, expired, revoked,
    officer_inactive) and `token` is the row when one was found."""

    code = "TOKEN_REFUSED"

    def __init__(self, message, reason, token=None):
        super().__init__(message, reason=reason)
        self.reason = reason
        self.token = token


class TokenNotFound(TokenError):
    code = "TOKEN_NOT_FOUND"


class TokenInvalid(TokenError):
    code = "TOKEN_INVALID"


def hash_secret(secret):
    """Return the sha256 hex digest stored for a token secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def presented_prefix(secret):
    """Return the part of a presented token that may be logged (its prefix), or None if not ours."""
    if isinstance(secret, str) and secret.startswith(TOKEN_MARK) and len(secret) > PREFIX_LENGTH:
        return secret[:PREFIX_LENGTH]
    return None


def issue_token(session, officer, name, days, created_by=None, now=None):
    """Create a token for `officer` valid `days` days; return (row, secret). The secret is not stored."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise TokenInvalid("a token needs a name of 1 to 100 characters", field="name")
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise TokenInvalid(f"a token is valid for 1 to {MAX_DAYS} days", field="days")
    if not officer.active:
        raise TokenInvalid(f"officer {officer.username} is deactivated", field="officer")
    now = now or utcnow()
    secret = TOKEN_MARK + secrets.token_urlsafe(32)
    row = ApiToken(
        officer_id=officer.id,
        officer=officer,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        secret_hash=hash_secret(secret),
        created_at=now,
        created_by=created_by,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return row, secret


def authenticate_token(session, secret, now=None):
    """Return the active token row for a presented secret, marking its use; raise TokenRefused otherwise."""
    now = now or utcnow()
    if presented_prefix(secret) is None or len(secret) > 200:
        raise TokenRefused("the token is not a Tepat API token", "malformed")
    row = session.execute(select(ApiToken).where(ApiToken.secret_hash == hash_secret(secret))).scalar_one_or_none()
    if row is None:
        raise TokenRefused("no such token", "unknown")
    state = row.state(now)
    if state != "active":
        raise TokenRefused(f"the token is {state}", state, token=row)
    if not row.officer.active:
        raise TokenRefused(f"officer {row.officer.username} is deactivated", "officer_inactive", token=row)
    if row.last_used_at is None or now - row.last_used_at >= USE_RECORD_INTERVAL:
        row.last_used_at = now
    return row


def revoke_token(session, token_id, by, owner=None, now=None):
    """Revoke a token (only `owner`'s when given); revoking twice keeps the first time. Return the row."""
    row = session.get(ApiToken, token_id)
    if row is None or (owner is not None and row.officer_id != owner.id):
        raise TokenNotFound(f"token {token_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = now or utcnow(), by
        session.flush()
    return row


def tokens_of(session, officer):
    """Return an officer's tokens, newest first."""
    return list(
        session.execute(
            select(ApiToken).where(ApiToken.officer_id == officer.id).order_by(ApiToken.id.desc())
        ).scalars()
    )


def all_tokens(session, limit=500):
    """Return every officer's tokens, newest first (for administrators)."""
    return list(session.execute(select(ApiToken).order_by(ApiToken.id.desc()).limit(limit)).scalars())


def find_token(session, ident):
    """Return a token by id or by prefix (unique prefix only); raise TokenNotFound."""
    ident = str(ident).strip()
    if is_ascii_digits(ident):
        row = session.get(ApiToken, int(ident))
        if row is not None:
            return row
    rows = list(session.execute(select(ApiToken).where(ApiToken.prefix == ident).limit(2)).scalars())
    if len(rows) != 1:
        raise TokenNotFound(f"no single token {ident!r}")
    return rows[0]
