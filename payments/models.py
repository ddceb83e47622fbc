"""Payment cycle records: the cycle, its frozen members, entitlements, payments and batches.

Money is whole rupiah (BigInteger). A cycle's members and their components are copied at the cut-off
and never change afterwards, whatever happens to the registry or the enrolment.
"""

from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.db import UTCDateTime, db, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class CycleStatus(StrEnum):
    """A cycle's status: open -> frozen -> entitled -> approved -> dispatched -> reconciled -> closed (or cancelled).
    Set by payment_cycle.bpmn's steps (payments/listeners.py maps the diagram's statuses); labels in web/cycles.py."""

    OPEN = "open"
    FROZEN = "frozen"
    ENTITLED = "entitled"
    APPROVED = "approved"
    DISPATCHED = "dispatched"
    RECONCILED = "reconciled"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class PaymentStatus(StrEnum):
    """A payment's status: planned -> sent -> credited -> drawn | returned; sent -> failed (or drawn at once)."""

    PLANNED = "planned"
    SENT = "sent"
    CREDITED = "credited"
    FAILED = "failed"
    DRAWN = "drawn"
    RETURNED = "returned"


class BatchStatus(StrEnum):
    """A paying channel's batch: ready -> dispatched -> partial (some results) -> reconciled."""

    READY = "ready"
    DISPATCHED = "dispatched"
    PARTIAL = "partial"
    RECONCILED = "reconciled"


class ResultImportStatus(StrEnum):
    """A results file: received (stored) -> importing (its lines being taken) -> applied; or refused whole."""

    RECEIVED = "received"
    IMPORTING = "importing"
    APPLIED = "applied"
    REFUSED = "refused"


CYCLE_STATUSES = tuple(CycleStatus)
PAYMENT_STATUSES = tuple(PaymentStatus)
BATCH_STATUSES = tuple(BatchStatus)


class PaymentCycle(db.Model):
    """One stage (tahap) of one programme: a process instance of payment_cycle.bpmn."""

    __tablename__ = "payment_cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    programme: Mapped[str] = mapped_column(String(20))
    months: Mapped[str] = mapped_column(String(100))  # "2026-01,2026-02,2026-03"
    cut_off: Mapped[object] = mapped_column(UTCDateTime)
    return_after_days: Mapped[int] = mapped_column(Integer)
    # Arrears (rapel) for overturned appeals: at most this many missed stages (0: none), from the schedule.
    arrears_max_stages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A supplementary (susulan) cycle names the cycle whose stage it completes.
    supplements_cycle_id: Mapped[int | None] = mapped_column(ForeignKey("payment_cycles.id"))
    status: Mapped[str] = mapped_column(String(20), default=CycleStatus.OPEN.value, index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    planned_total: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_by: Mapped[str | None] = mapped_column(String(100))
    # PKH commitments (payment_schedule.toml [commitments], copied at open): non-compliant quarters in a
    # row that suspend a component; None: commitments do not change this cycle's amounts.
    commitment_warn_after: Mapped[int | None] = mapped_column(Integer)
    commitment_suspend_after: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    frozen_at: Mapped[object | None] = mapped_column(UTCDateTime)
    prepared_by: Mapped[str | None] = mapped_column(String(100))
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # The treasury's payment order (SP2D) date: the return period counts from it.
    sp2d_at: Mapped[object | None] = mapped_column(UTCDateTime)
    return_at: Mapped[object | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[object | None] = mapped_column(UTCDateTime)


class CycleRate(db.Model):
    """What one unit of a component pays in this cycle, copied from the schedule when the cycle opens."""

    __tablename__ = "cycle_rates"
    __table_args__ = (UniqueConstraint("cycle_id", "programme", "category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycles.id"))
    programme: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    cap: Mapped[int | None] = mapped_column(Integer)


class CycleMember(db.Model):
    """A family on a cycle's frozen list, as it stood at the cut-off."""

    __tablename__ = "cycle_members"
    __table_args__ = (
        UniqueConstraint("cycle_id", "enrolment_id"),
        Index("ix_cycle_members_application", "application_id"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycles.id"))
    enrolment_id: Mapped[int] = mapped_column(Integer)
    application_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    case_number: Mapped[str | None] = mapped_column(String(32))
    nik: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    district_code: Mapped[str | None] = mapped_column(String(2))
    village: Mapped[str | None] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(10))
    account: Mapped[str | None] = mapped_column(String(20))


class CycleMemberComponent(db.Model):
    """A frozen member's units of one component, as they stood at the cut-off."""

    __tablename__ = "cycle_member_components"
    __table_args__ = (UniqueConstraint("member_id", "programme", "category"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycles.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("cycle_members.id"))
    programme: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    units: Mapped[int] = mapped_column(Integer)


class Entitlement(db.Model):
    """What a family is due in a cycle for one component: capped units times the cycle's rate."""

    __tablename__ = "entitlements"
    __table_args__ = (UniqueConstraint("cycle_id", "member_id", "programme", "category"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycles.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("cycle_members.id"), index=True)
    programme: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    units: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)


class PaymentBatch(db.Model):
    """The payments of one cycle to one paying channel, with control totals."""

    __tablename__ = "payment_batches"
    __table_args__ = (UniqueConstraint("cycle_id", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycles.id"))
    channel: Mapped[str] = mapped_column(String(10))
    reference: Mapped[str] = mapped_column(String(60), unique=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    # sha256 of the batch's payment lines in reference order (docs/payments.md): the file's control hash.
    control_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default=BatchStatus.READY.value)
    downloaded_by: Mapped[str | None] = mapped_column(String(100))
    dispatched_at: Mapped[object | None] = mapped_column(UTCDateTime)
    results_count: Mapped[int] = mapped_column(Integer, default=0)
    reconciled_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # HTTP dispatch (payments/dispatch.py): the parts the bank took, each committed as it is taken, and the
    # last payment reference of the last of them (a dispatch run again goes on after it).
    sent_parts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent_through: Mapped[str | None] = mapped_column(String(60))


class Payment(db.Model):
    """One attempt to pay one family in one cycle, under a unique reference chosen by us (the sender)."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("cycle_id", "member_id", "attempt"),
        Index("ix_payments_batch", "batch_id", "status"),
        Index("ix_payments_member", "member_id"),
        Index("ix_payments_follow_up", "next_action", "carried_to_cycle_id"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycles.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("cycle_members.id"))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    reference: Mapped[str] = mapped_column(String(60), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    account: Mapped[str | None] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("payment_batches.id"))
    status: Mapped[str] = mapped_column(String(20), default=PaymentStatus.PLANNED.value)
    # The bank's or post office's result code (ACCOUNT_CLOSED, DORMANT, NAME_MISMATCH, ...).
    result_code: Mapped[str | None] = mapped_column(String(40))
    result_at: Mapped[object | None] = mapped_column(UTCDateTime)
    drawn_at: Mapped[object | None] = mapped_column(UTCDateTime)
    returned_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # After a failure: retry_next_cycle | switch_to_pos | review
    next_action: Mapped[str | None] = mapped_column(String(30))
    # The later cycle that paid this failed payment again (retry, or through PT Pos), once it froze its list.
    carried_to_cycle_id: Mapped[int | None] = mapped_column(ForeignKey("payment_cycles.id"))
    # When the family was told (SMS and portal) that the money was paid.
    notified_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # The caseworker review (payment_review.bpmn) started for this failure, when its next action is "review".
    review_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instances.id"))
    note: Mapped[str | None] = mapped_column(Text)


class PaymentResultImport(db.Model):
    """One results file read for one batch: what was taken, and each refused line with its reason."""

    __tablename__ = "payment_result_imports"
    # A bank callback is kept under the digest of its signed timestamp and body: a replay is found by it.
    __table_args__ = (Index("ix_payment_result_imports_sha256", "file_sha256"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("payment_batches.id"), index=True)
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    # applied (its good lines were taken) | refused (nothing taken: the file itself is wrong)
    status: Mapped[str] = mapped_column(String(20))
    lines: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    repeated: Mapped[int] = mapped_column(Integer, default=0)  # the same result again: nothing to do
    refused: Mapped[int] = mapped_column(Integer, default=0)
    # [{"line", "reference", "code", "reason"}], the first MAX_LISTED refusals (the count is `refused`)
    refusals: Mapped[list] = mapped_column(JSON, default=list)


class PaymentResultLine(db.Model):
    """One result line of an import, staged so the import is taken in chunks (payments/results.py).

    `outcome` is empty until the line's chunk is taken: then ACCEPTED, REPEATED or the refusal code. A
    line refused when read (MALFORMED, BAD_STATUS, BAD_FAILURE_CODE, DUPLICATE) is staged with its code.
    """

    __tablename__ = "payment_result_lines"

    import_id: Mapped[int] = mapped_column(
        ForeignKey("payment_result_imports.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    reference: Mapped[str] = mapped_column(String(60))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str | None] = mapped_column(String(20))  # the payment status the result means
    failure: Mapped[str | None] = mapped_column(String(40))
    outcome: Mapped[str | None] = mapped_column(String(30))


class EntitlementCondition(db.Model):
    """Why a family member's unit of a component is paid less in a cycle, written by the entitlement step
    (payments/conditions.py): `deceased` (member_benefit_ends by the cut-off: not paid), `suspended`
    (PKH commitments not met repeatedly: not paid) or `warning` (commitments not met once: paid)."""

    __tablename__ = "entitlement_conditions"
    __table_args__ = (
        UniqueConstraint("cycle_id", "member_id", "programme", "category", "member_nik"),
        Index("ix_entitlement_conditions_cycle", "cycle_id", "status"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("payment_cycles.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("cycle_members.id"), index=True)
    programme: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(40))
    member_nik: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20))  # deceased | suspended | warning


class CommitmentCheck(db.Model):
    """One quarter's PKH commitment check (verifikasi komitmen) of one family member and component:
    school attendance (SD/SMP/SMA, percent) or a health check done (pregnant, child_0_6). `compliant` is
    decided when recorded, by the thresholds in payment_schedule.toml [commitments]."""

    __tablename__ = "commitment_checks"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "member_nik", "category", "period"),
        Index("ix_commitment_checks_member", "enrolment_id", "category", "member_nik", "period"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"))
    application_id: Mapped[int] = mapped_column(_ID, ForeignKey("applications.id"), index=True)
    district_code: Mapped[str | None] = mapped_column(String(10), index=True)
    member_nik: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-Qn
    attendance: Mapped[int | None] = mapped_column(Integer)  # percent, school components
    checked: Mapped[bool | None] = mapped_column(Boolean)  # health check done, health components
    compliant: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(20))  # import | field
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


class CommitmentImport(db.Model):
    """One uploaded commitment list (school attendance, health checks): counts and the refused rows."""

    __tablename__ = "commitment_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200))
    imported_by: Mapped[str | None] = mapped_column(String(100), index=True)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    refusals: Mapped[list] = mapped_column(JSON, default=list)  # [[line, code, [values]]]
    imported_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
