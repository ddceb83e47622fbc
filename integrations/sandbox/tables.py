"""Tables holding the imported registry extracts and the sandbox's own ledgers.

Plain SQLAlchemy Core on its own MetaData so the adapters never depend on the web app;
the host's migrations include ``sandbox_metadata``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

sandbox_metadata = MetaData()

NIK = 16  # digits in a NIK or a family-card number

people = Table(
    "sandbox_people",
    sandbox_metadata,
    Column("nik", String(NIK), primary_key=True),
    Column("kk_number", String(NIK), nullable=False, index=True),
    Column("name", String(120), nullable=False),
    Column("sex", String(1), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("relation", String(20), nullable=False),
    Column("district_code", String(2), nullable=False),
    Column("district_name", String(60), nullable=False),
    Column("village", String(60), nullable=False),
    Column("address", String(200), nullable=False),
    Column("alive", Boolean, nullable=False),
    Column("death_date", Date, nullable=True),
    Column("disability", Boolean, nullable=False),
    Column("pregnant", Boolean, nullable=False),
    Column("school_level", String(3), nullable=True),
    Column("photo_ref", String(200), nullable=True),
)

households = Table(
    "sandbox_households",
    sandbox_metadata,
    Column("kk_number", String(NIK), primary_key=True),
    Column("district_code", String(2), nullable=False),
    Column("village", String(60), nullable=False),
    Column("head_nik", String(NIK), nullable=False),
)

dtsen = Table(
    "sandbox_dtsen",
    sandbox_metadata,
    Column("kk_number", String(NIK), primary_key=True),
    Column("decile", Integer, nullable=True),
    Column("updated_at", Date, nullable=True),
)

bpjs_health = Table(
    "sandbox_bpjs_health",
    sandbox_metadata,
    Column("nik", String(NIK), primary_key=True),
    Column("segment", String(4), nullable=False),
    Column("active", Boolean, nullable=False),
)

bpjs_employment = Table(
    "sandbox_bpjs_employment",
    sandbox_metadata,
    Column("nik", String(NIK), primary_key=True),
    Column("monthly_wage", BigInteger, nullable=False),
    Column("employer", String(120), nullable=True),
)

assets = Table(
    "sandbox_assets",
    sandbox_metadata,
    Column("kk_number", String(NIK), primary_key=True),
    Column("four_wheel_vehicles", Integer, nullable=False),
    Column("electricity_va", Integer, nullable=False),
    Column("electricity_subsidised", Boolean, nullable=False),
)

company_roles = Table(
    "sandbox_company_roles",
    sandbox_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("nik", String(NIK), nullable=False, index=True),
    Column("role", String(10), nullable=False),
    Column("company", String(120), nullable=False),
)

civil_service = Table(
    "sandbox_civil_service",
    sandbox_metadata,
    Column("nik", String(NIK), primary_key=True),
    Column("category", String(20), nullable=False),
)

disbursements = Table(
    "sandbox_disbursements",
    sandbox_metadata,
    Column("reference", String(100), primary_key=True),
    Column("nik", String(NIK), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("channel", String(10), nullable=False),
    Column("account", String(40), nullable=True),
    Column("provider_ref", String(40), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "sandbox_outbox",
    sandbox_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recipient_nik", String(NIK), nullable=False, index=True),
    Column("channel", String(10), nullable=False),
    Column("template", String(100), nullable=False),
    Column("params", JSON, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    # The sender's key (engine: instance and step): a message sent again with it is not sent twice.
    Column("idempotency_key", String(200), nullable=True),
    UniqueConstraint("idempotency_key", name="uq_sandbox_outbox_idempotency_key"),
)

mail_outbox = Table(
    "sandbox_mail_outbox",
    sandbox_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("to_address", String(254), nullable=False, index=True),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    # The sender's key (one per notification): a message sent again with it is not sent twice.
    Column("idempotency_key", String(200), nullable=True),
    UniqueConstraint("idempotency_key", name="uq_sandbox_mail_outbox_idempotency_key"),
)

# Tables filled from registry extracts; an import replaces exactly these.
EXTRACT_TABLES = (
    people,
    households,
    dtsen,
    bpjs_health,
    bpjs_employment,
    assets,
    company_roles,
    civil_service,
)
