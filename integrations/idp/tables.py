"""Tables of the sandbox identity provider: one-time-code challenges, attempts, authorization codes.

Defined on a MetaData the host passes in (the app's own), so its migrations and per-test clean-up
cover them; the provider itself only needs the Table objects and a session.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

NIK = 16


@dataclass(frozen=True)
class IdpTables:
    challenges: Table
    attempts: Table
    authorization_codes: Table


def define_tables(metadata: MetaData) -> IdpTables:
    """Return the sandbox provider's tables on `metadata`, defining them the first time."""
    if "idp_challenges" in metadata.tables:
        t = metadata.tables
        return IdpTables(t["idp_challenges"], t["idp_attempts"], t["idp_authorization_codes"])
    challenges = Table(
        "idp_challenges",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        # The browser holds this random handle, never the row id.
        Column("handle", String(64), nullable=False, unique=True),
        Column("nik", String(NIK), nullable=False, index=True),
        # HMAC of the handle and the code: a leaked table does not give the codes away.
        Column("code_hash", String(64), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("used_at", DateTime(timezone=True), nullable=True),
        Column("client_ip", String(45), nullable=True),
    )
    attempts = Table(
        "idp_attempts",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False, index=True),
        # code_sent | no_match | code_wrong | locked
        Column("kind", String(20), nullable=False),
        Column("nik", String(NIK), nullable=True, index=True),
        Column("client_ip", String(45), nullable=True, index=True),
    )
    authorization_codes = Table(
        "idp_authorization_codes",
        metadata,
        Column("code_hash", String(64), primary_key=True),
        Column("client_id", String(100), nullable=False),
        Column("redirect_uri", String(500), nullable=False),
        Column("nonce", String(200), nullable=False),
        Column("code_challenge", String(128), nullable=False),
        Column("nik", String(NIK), nullable=False),
        Column("auth_time", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        Column("used_at", DateTime(timezone=True), nullable=True),
    )
    return IdpTables(challenges, attempts, authorization_codes)
