"""The audit trail: who did or saw what, when and from where, in a hash chain an auditor can verify.

Each entry's hash covers its fields and the previous entry's hash, so changing, removing or inserting
a row breaks the chain at that row. A one-row head table (``audit_head``) holds the id and hash of the
last entry: it catches a removed or forged tail, and updating it first in ``record`` serialises
appenders (a row lock on PostgreSQL, the database write lock on SQLite) so two transactions never
chain from the same entry. Ids are assigned under that lock, gap-free from 1.

The chain is not keyed: someone who can write the database and recompute every later hash and the
head can rewrite history. Export the head (``chain_head``) somewhere else now and then to anchor it.
"""
from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import (JSON, BigInteger, CheckConstraint, Index, Integer, String, insert, select,
                        update)
from sqlalchemy.orm import Mapped, mapped_column

from engine import signals
from engine.db import UTCDateTime, db, utcnow
from engine.errors import EngineError
from integrations.nik import mask_nik

from .csvcells import SafeWriter, restore
from .privacy import mask_identifiers

GENESIS_HASH = "0" * 64
# Hashed fields, besides prev_hash; the canonical JSON sorts keys, so this order is for the CSV.
HASHED_FIELDS = ("id", "at", "actor", "actor_roles", "action", "target_type", "target_id", "ip",
                 "user_agent", "detail")
CSV_COLUMNS = HASHED_FIELDS + ("prev_hash", "hash")

ACTOR_MAX, ACTION_MAX, TARGET_TYPE_MAX, TARGET_ID_MAX, IP_MAX, USER_AGENT_MAX = 100, 50, 50, 100, 45, 300
DETAIL_TEXT_MAX = 1000  # longer strings in `detail` are cut: free text and encoded blobs stay out

_ID = BigInteger().with_variant(Integer, "sqlite")


class AuditEntry(db.Model):
    """One audited action or view of personal data, chained to the entry before it."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    # Assigned under the head lock (last id + 1), not by a sequence: gap-free, and known before insert.
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_MAX), index=True)
    actor_roles: Mapped[list] = mapped_column(JSON)
    action: Mapped[str] = mapped_column(String(ACTION_MAX))
    target_type: Mapped[str | None] = mapped_column(String(TARGET_TYPE_MAX))
    target_id: Mapped[str | None] = mapped_column(String(TARGET_ID_MAX))
    ip: Mapped[str | None] = mapped_column(String(IP_MAX))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX))
    detail: Mapped[dict | None] = mapped_column(JSON)
    # Unique: an entry has at most one successor, so the database itself refuses a fork.
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(db.Model):
    """The single row naming the chain's last entry; updated first by every append (the lock)."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int | None] = mapped_column(_ID)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditChainBroken(EngineError):
    code = "AUDIT_CHAIN_BROKEN"


@dataclass(frozen=True)
class VerifyResult:
    """What `verify_chain` found: entries checked, and the first bad entry id and why."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None


# --- canonical form and masking ------------------------------------------------------------------

def _iso(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def canonical_json(value):
    """Serialise a JSON value the one way hashes use: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(fields, prev_hash):
    """Return the sha256 hex of an entry: canonical JSON of HASHED_FIELDS, then prev_hash.

    `fields` is a mapping (a row, or a CSV line with actor_roles/detail parsed from JSON and id an
    int); `at` may be a datetime or its ISO text.
    """
    doc = {name: fields[name] for name in HASHED_FIELDS}
    doc["id"] = int(doc["id"])
    doc["at"] = _iso(doc["at"])
    return hashlib.sha256((canonical_json(doc) + prev_hash).encode("utf-8")).hexdigest()


_NIK_RUN = re.compile(r"(?<!\d)\d{16}(?!\d)")


def _mask_text(text, limit=None):
    text = _NIK_RUN.sub(lambda m: mask_nik(m.group(0)), text)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}...[{len(text) - limit} more characters]"
    return text


def _clean_value(value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return mask_nik(str(value)) if 10 ** 15 <= abs(value) < 10 ** 16 else value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, str):
        return _mask_text(value, DETAIL_TEXT_MAX)
    if isinstance(value, (bytes, bytearray, memoryview)):  # photos and other blobs never go in
        return f"[binary, {len(bytes(value))} bytes]"
    if isinstance(value, dict):
        return {_mask_text(str(k)): _clean_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_clean_value(v) for v in value]
        return sorted(items, key=canonical_json) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return _mask_text(str(value), DETAIL_TEXT_MAX)


def mask_detail(detail):
    """Return `detail` as plain JSON with NIK/KK numbers masked, blobs dropped and long text cut."""
    if detail is None:
        return None
    return _clean_value(mask_identifiers(detail))


def _short(value, limit):
    # Empty text is stored as NULL, so the CSV export (where both are "") hashes the same.
    if value is None or value == "":
        return None
    return _mask_text(str(value))[:limit] or None


# --- appending -----------------------------------------------------------------------------------

_head = AuditHead.__table__
_log = AuditEntry.__table__


def _insert_head_if_absent(session):
    values = {"id": 1, "last_id": None, "last_hash": GENESIS_HASH}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        with session.begin_nested():
            session.execute(insert(_head).values(**values))
        return
    # On PostgreSQL a concurrent creator makes this wait for its commit, then do nothing.
    session.execute(dialect_insert(_head).values(**values).on_conflict_do_nothing())


def _lock_head(session):
    """Lock the head row until the transaction ends and return (last_id, last_hash)."""
    for _ in range(2):
        # A write first: a row lock on PostgreSQL, the database write lock on SQLite. After waiting,
        # PostgreSQL re-reads the row, so RETURNING gives the head the other transaction committed.
        row = session.execute(
            update(_head).where(_head.c.id == 1).values(last_id=_head.c.last_id)
            .returning(_head.c.last_id, _head.c.last_hash)
        ).first()
        if row is not None:
            return row.last_id or 0, row.last_hash
        if session.execute(select(_log.c.id).limit(1)).first() is not None:
            # Starting a new chain here would hide whatever removed the head; stop and tell.
            raise AuditChainBroken("the audit head row is missing while the audit log has entries")
        _insert_head_if_absent(session)
    raise AuditChainBroken("the audit head row could not be created")


def record(session, actor, action, target_type=None, target_id=None, ip=None, user_agent=None, detail=None,
           roles=()):
    """Append an audit entry in the caller's transaction (flushed, not committed); return it.

    `actor` is a username or an engine Actor (whose roles are used when `roles` is empty). The head
    stays locked until the caller commits, so call this late in the transaction.
    """
    if hasattr(actor, "id") and hasattr(actor, "roles"):
        roles = roles or actor.roles
        actor = actor.id
    last_id, last_hash = _lock_head(session)
    entry = AuditEntry(
        id=last_id + 1, at=utcnow(), actor=_short(actor, ACTOR_MAX) or "-",
        actor_roles=sorted({str(r) for r in roles}), action=str(action)[:ACTION_MAX],
        target_type=_short(target_type, TARGET_TYPE_MAX), target_id=_short(target_id, TARGET_ID_MAX),
        ip=_short(ip, IP_MAX), user_agent=_short(user_agent, USER_AGENT_MAX), detail=mask_detail(detail),
        prev_hash=last_hash,
    )
    entry.hash = entry_hash({name: getattr(entry, name) for name in HASHED_FIELDS}, last_hash)
    session.add(entry)
    session.flush()
    session.execute(update(_head).where(_head.c.id == 1).values(last_id=entry.id, last_hash=entry.hash))
    return entry


# --- verifying and exporting ---------------------------------------------------------------------

def _stream(session, after_id, batch):
    """Yield audit rows with id > after_id in id order, `batch` at a time (keyset pages)."""
    while True:
        rows = session.execute(select(_log).where(_log.c.id > after_id).order_by(_log.c.id).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after_id = rows[-1].id


def chain_head(session):
    """Return the head (last_id, last_hash), or None when there is no head row."""
    row = session.execute(select(_head.c.last_id, _head.c.last_hash).where(_head.c.id == 1)).first()
    return None if row is None else (row.last_id or 0, row.last_hash)


def verify_chain(session, batch=10_000):
    """Recompute every hash in id order, check the links and ids, and check the head."""
    last_id, last_hash, checked = 0, GENESIS_HASH, 0

    def check_rows():
        nonlocal last_id, last_hash, checked
        for row in _stream(session, last_id, batch):
            if row.id != last_id + 1:
                return VerifyResult(False, checked, row.id,
                                    f"entries {last_id + 1}..{row.id - 1} are missing" if row.id > last_id + 1
                                    else f"entry id {row.id} is out of sequence")
            if row.prev_hash != last_hash:
                return VerifyResult(False, checked, row.id, "prev_hash does not match the previous entry's hash")
            try:
                computed = entry_hash(row._mapping, row.prev_hash)
            except (TypeError, ValueError) as exc:
                return VerifyResult(False, checked, row.id, f"entry cannot be hashed: {exc}")
            if computed != row.hash:
                return VerifyResult(False, checked, row.id, "hash does not match the entry's fields (altered)")
            last_id, last_hash, checked = row.id, row.hash, checked + 1
        return None

    while True:
        bad = check_rows()
        if bad is not None:
            return bad
        # Read after the rows: the head, committed with each append, is never behind what we read.
        head = chain_head(session)
        if head is None:
            if checked:
                return VerifyResult(False, checked, last_id, "the audit head row is missing")
            return VerifyResult(True, 0)
        head_id, head_hash = head
        if head_id == last_id:
            if head_hash != last_hash:
                return VerifyResult(False, checked, last_id or None, "the head hash does not match the last entry")
            return VerifyResult(True, checked)
        if head_id < last_id:
            return VerifyResult(False, checked, head_id + 1, f"entries after the head (id {head_id}) exist")
        # The head is ahead: entries appended while we read, or the tail was removed. Look again.
        before = last_id
        bad = check_rows()
        if bad is not None:
            return bad
        if last_id == before:
            return VerifyResult(False, checked, last_id + 1,
                                f"entries {last_id + 1}..{head_id} named by the head are missing")


def export_csv(session, out, batch=10_000):
    """Write every entry with its hashes to the text stream `out` as CSV, in id order; return the count.

    Values are written as hashed (JSON columns as canonical JSON), so an auditor can recompute the
    chain from the file alone with `entry_hash`. One exception keeps spreadsheets safe: a text cell
    starting with =, +, -, @, tab, CR, LF or a single quote is written with one more single quote in
    front (`cases.csvcells`); `read_csv_row` removes it, giving back the stored (hashed) value.
    """
    writer = SafeWriter(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in _stream(session, 0, batch):
        m = row._mapping
        writer.writerow([m["id"], _iso(m["at"]), m["actor"], canonical_json(m["actor_roles"]), m["action"],
                         m["target_type"] or "", m["target_id"] or "", m["ip"] or "", m["user_agent"] or "",
                         canonical_json(m["detail"]), m["prev_hash"], m["hash"]])
        count += 1
    return count


def read_csv_row(line):
    """Turn one exported CSV line (a dict from csv.DictReader) back into hashable fields."""
    fields = {name: restore(value) for name, value in line.items()}
    fields["id"] = int(fields["id"])
    fields["actor_roles"] = json.loads(fields["actor_roles"])
    fields["detail"] = json.loads(fields["detail"])
    for name in ("target_type", "target_id", "ip", "user_agent"):
        fields[name] = fields[name] or None
    return fields


# --- engine actions, with the request's origin ---------------------------------------------------

_origin: ContextVar[tuple[str | None, str | None]] = ContextVar("tepat_audit_origin", default=(None, None))


@contextmanager
def origin(ip, user_agent):
    """Attribute audit entries made by engine signals in this block to a client address and agent."""
    token = _origin.set((ip, user_agent))
    try:
        yield
    finally:
        _origin.reset(token)


def set_origin(ip, user_agent):
    """Set the origin for this context (e.g. Flask before_request); returns a token for reset_origin."""
    return _origin.set((ip, user_agent))


def reset_origin(token):
    """Undo set_origin."""
    _origin.reset(token)


def _record_from_signal(engine, actor, action, target_type, target_id, detail):
    ip, user_agent = _origin.get()
    record(engine.session, actor, action, target_type, target_id, ip=ip, user_agent=user_agent, detail=detail)


def audit_task_assigned(engine, row, actor, action, target, **_):
    """Audit a claim, release or reassignment."""
    _record_from_signal(engine, actor, f"task.{action}", "task", row.id,
                        {"case": row.business_key, "task": row.bpmn_id, "target": target})


def audit_task_completed(engine, row, actor, data, **_):
    """Audit a completed task: which form fields were submitted, not their values."""
    _record_from_signal(engine, actor, "task.complete", "task", row.id,
                        {"case": row.business_key, "task": row.bpmn_id, "fields": sorted(data)})


def audit_incident_resolved(engine, incident, actor, action, **_):
    """Audit an incident retried or skipped by an administrator."""
    _record_from_signal(engine, actor, f"incident.{action}", "incident", incident.id,
                        {"case": incident.business_key, "task": incident.bpmn_id})


def connect():
    """Audit every engine action (task claim/unclaim/reassign/complete, incident retry/skip); idempotent."""
    signals.task_assigned.connect(audit_task_assigned)
    signals.task_completed.connect(audit_task_completed)
    signals.incident_resolved.connect(audit_incident_resolved)
