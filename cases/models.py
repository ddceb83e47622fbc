"""Case records: who applied, what the checks found, what was decided and why."""

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, validates

from engine.db import UTCDateTime, db, utcnow

from .statuses import CaseStatus

_ID = BigInteger().with_variant(Integer, "sqlite")


class Officer(db.Model):
    """A user who acts on cases: caseworker, supervisor, appeals officer, administrator, ..."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list] = mapped_column(JSON, default=list)
    # District codes this officer works; None means every district.
    regions: Mapped[list | None] = mapped_column(JSON, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[object | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[object | None] = mapped_column(UTCDateTime)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # Sessions carry the epoch they began in; raising it (sign-out, password change or reset,
    # deactivation) ends every session of the officer (web/auth.py checks it on each request).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Where notifications are mailed (cases/notifications.py); None: shown in the app only.
    email: Mapped[str | None] = mapped_column(String(254))


class Application(db.Model):
    """One application for assistance (a case) and its current decision."""

    __tablename__ = "applications"
    # Village lists: the enrolled families of one village (objections), and the public figures per
    # village, read from this index alone (it covers every column their GROUP BY needs).
    __table_args__ = (
        Index(
            "ix_applications_place", "district_code", "village", "status", "created_at", "decided_at", "district_name"
        ),
        # Name search: a prefix is a range, read in the results' order; the district in the
        # index lets a district-limited search filter (and count) without reading rows.
        Index("ix_applications_name_key", "name_key", "district_code", "id"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    case_number: Mapped[str | None] = mapped_column(String(32), unique=True)
    nik: Mapped[str] = mapped_column(String(16), index=True)
    # Equal to nik while the case is open or enrolled, NULL once closed: one open case per NIK.
    active_nik: Mapped[str | None] = mapped_column(String(16), unique=True)
    applicant_name: Mapped[str | None] = mapped_column(String(200))
    # applicant_name lower-cased with single spaces (`name_key` below), kept in step by `_name_key`. Name
    # search reads a prefix as a range of this index, in index order. Byte order ("C" on PostgreSQL, SQLite's
    # default) makes a prefix's names exactly one range, whatever the database's own collation.
    name_key: Mapped[str | None] = mapped_column(String(200).with_variant(String(200, collation="C"), "postgresql"))
    kk_number: Mapped[str | None] = mapped_column(String(16), index=True)
    district_code: Mapped[str | None] = mapped_column(String(2), index=True)
    # From the civil registry once identity is checked: where the family lives (public figures, objections).
    district_name: Mapped[str | None] = mapped_column(String(60))
    village: Mapped[str | None] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(20), default="self")
    facilitator: Mapped[str | None] = mapped_column(String(100))
    payment_channel: Mapped[str | None] = mapped_column(String(10))
    bank_account: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(20))
    consent_version: Mapped[str] = mapped_column(String(20))
    consent_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    selfie_ref: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(30), default=CaseStatus.SUBMITTED.value, index=True)
    decision: Mapped[str | None] = mapped_column(String(10))
    decided_by: Mapped[str | None] = mapped_column(String(20))
    reasons: Mapped[list] = mapped_column(JSON, default=list)
    # The officer's message written for the applicant with the decision (reasons are codes; notes stay internal).
    applicant_message: Mapped[str | None] = mapped_column(Text)
    review_flags: Mapped[list] = mapped_column(JSON, default=list)
    programmes: Mapped[list] = mapped_column(JSON, default=list)
    benefits: Mapped[dict | None] = mapped_column(JSON)
    rule_version: Mapped[str | None] = mapped_column(String(200))
    # One entry per criterion: facts and evidence used, rule and version, outcome, texts (id, en).
    explanation: Mapped[list | None] = mapped_column(JSON)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"), index=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[object | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    @validates("applicant_name")
    def _name_key(self, key, value):
        self.name_key = name_key(value)
        return value


def name_key(name):
    """Return the form of a name that name search compares: lower case, single spaces (None if empty)."""
    if not name:
        return None
    return " ".join(str(name).split()).lower()[:200] or None


class EvidenceRecord(db.Model):
    """One answer of an outside source, kept as proof of a decision."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    source: Mapped[str] = mapped_column(String(50))
    operator: Mapped[str | None] = mapped_column(String(100))
    checked_at: Mapped[object] = mapped_column(UTCDateTime)
    value: Mapped[dict] = mapped_column(JSON)


class CaseEvent(db.Model):
    """One line of a case's timeline: what happened, who did it, when."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100), default="system")
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSON)


class Appeal(db.Model):
    """An applicant's appeal (banding) against the decision on their own case."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    evidence_refs: Mapped[list] = mapped_column(JSON, default=list)
    filed_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(20))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[object | None] = mapped_column(UTCDateTime)


class Enrolment(db.Model):
    """A family enrolled in one or more programmes, with its benefits."""

    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), unique=True)
    nik: Mapped[str] = mapped_column(String(16), index=True)
    programmes: Mapped[list] = mapped_column(JSON)
    benefits: Mapped[dict] = mapped_column(JSON)
    # The older path (until migration 0030): the first stage paid at enrolment, outside any cycle. Kept for the
    # history of the families paid that way; new enrolments leave it empty (the payment cycles pay them).
    disbursement_ref: Mapped[str | None] = mapped_column(String(64))
    # What enrolment recorded for the payment cycles (payments/plan.py): channel, the cycle(s) expected to pay
    # the family first, the estimated amount; shown to the family until its first cycle payment.
    payment_plan: Mapped[dict | None] = mapped_column(JSON)
    enrolled_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # Set when an appeal was overturned (a rejection: the application date; an exit: the exit date): the
    # payment cycles pay the stages missed since then as arrears (payments.cycles.add_appeal_arrears).
    arrears_from: Mapped[object | None] = mapped_column(UTCDateTime)


class Recheck(db.Model):
    """A periodic re-check of an enrolled family: the same rules on fresh evidence, and what changed."""

    __tablename__ = "rechecks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), unique=True)
    checked_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # keep | review | exclude, as the rules see it; the officers decide a removal
    outcome: Mapped[str] = mapped_column(String(10))
    rule_version: Mapped[str | None] = mapped_column(String(200))
    changes: Mapped[list] = mapped_column(JSON, default=list)
    explanation: Mapped[list] = mapped_column(JSON, default=list)


class Objection(db.Model):
    """A resident's community objection (usul/sanggah) to a recipient of their own village."""

    __tablename__ = "objections"
    __table_args__ = (Index("ix_objections_objector", "objector_nik", "filed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    # The recipient's case; the objector is never shown to the recipient.
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"), index=True)
    objector_nik: Mapped[str] = mapped_column(String(16))
    objector_name: Mapped[str | None] = mapped_column(String(200))
    # "<objector NIK>:<application id>" while open, NULL once decided: one open objection per pair.
    open_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    district_code: Mapped[str] = mapped_column(String(2), index=True)
    village: Mapped[str] = mapped_column(String(60))
    ground: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    # open | upheld | dismissed
    status: Mapped[str] = mapped_column(String(20), default="open")
    outcome_note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # What an upheld objection led to: started | already_running | not_enrolled
    recheck: Mapped[str | None] = mapped_column(String(20))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    filed_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class EnrolmentComponent(db.Model):
    """How many units of one benefit component an enrolled family has (PKH: 2 SD children, ...).

    Written with the enrolment from its benefits; payment cycles freeze these rows set-based
    (payments/cycles.py) instead of reading each family's benefits document.
    """

    __tablename__ = "enrolment_components"
    __table_args__ = (Index("ix_enrolment_components_programme", "programme", "enrolment_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"), index=True)
    programme: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    units: Mapped[int] = mapped_column(Integer)
    # The first day these units count (a child added later); NULL: since the enrolment. A cycle freezes the
    # rows valid on its cut-off day; arrears price each missed month with the rows valid on its first day.
    valid_from: Mapped[object | None] = mapped_column(Date)


def enrolment_components(benefits, programmes):
    """[(programme, category, units)] of an enrolment's benefits document (cash programmes only)."""
    counts = {}
    for component in (benefits or {}).get("components") or []:
        key = (component.get("programme"), component.get("category"))
        if key[0] and key[1]:
            counts[key] = counts.get(key, 0) + 1
    return [(p, c, n) for (p, c), n in sorted(counts.items()) if p in (programmes or [p])]
