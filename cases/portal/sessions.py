"""Applicant sessions: opened after a verified digital-ID sign-in, ended by sign-out or expiry.

The browser keeps a random token (its hash is stored) and, in the signed session cookie, the time of
its last request; the row keeps the start (absolute expiry) and the end (sign-out).
"""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select

from engine.db import utcnow

from .models import ApplicantSession


def _hash(token):
    return hashlib.sha256(str(token).encode()).hexdigest()


def open_applicant_session(session, nik, person=None, issuer=None, client_ip=None):
    """Start a session for a verified NIK; return (token for the browser, the row)."""
    token = secrets.token_urlsafe(32)
    row = ApplicantSession(
        token_hash=_hash(token),
        nik=nik,
        issuer=issuer,
        client_ip=client_ip,
        name=getattr(person, "name", None),
        village=getattr(person, "village", None),
        kk_number=getattr(person, "kk_number", None),
        district_code=getattr(person, "district_code", None) or nik[4:6],
    )
    session.add(row)
    session.flush()
    return token, row


def applicant_session_for(session, token, max_minutes):
    """Return the live session row for a browser token, or None (unknown, signed out or too old)."""
    if not token:
        return None
    row = session.execute(
        select(ApplicantSession).where(ApplicantSession.token_hash == _hash(token))
    ).scalar_one_or_none()
    if row is None or row.ended_at is not None or utcnow() - row.created_at > timedelta(minutes=max_minutes):
        return None
    return row


def end_applicant_session(session, token):
    """End the session of a browser token (sign-out); return the row or None."""
    row = session.execute(
        select(ApplicantSession).where(ApplicantSession.token_hash == _hash(token or ""))
    ).scalar_one_or_none()
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
    return row
