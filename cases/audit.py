"""The audit trail: who did or saw what, when and from where, in hash chains an auditor can verify.

The trail is split into shards, each its own hash chain: an entry's hash covers its fields, its shard
and its place in the shard (``seq``, gap-free from 1) and the previous entry's hash in that shard, so
changing, removing or inserting a row breaks its shard's chain at that row. An entry goes to the
shard of its target (a stable hash of target type and id, else of the actor; ``BANSOS_AUDIT_SHARDS``
shards), and every entry of one transaction goes to the first entry's shard.

Each shard has a head row (``audit_chain_heads``) with the seq, id and hash of its last entry: it
catches a removed or forged tail, and updating it first in ``record`` serialises the appenders of
that shard only (a row lock on PostgreSQL), so appenders to different shards never wait on each
other. A missing head row is created with INSERT ... ON CONFLICT DO NOTHING: a concurrent creator
waits for the first one's commit, so the first entry of a shard cannot race. Ids are unique and
increasing (a sequence on PostgreSQL) but not gap-free; ``seq`` is the gap-free number.

Anchors tie the shards together: ``anchor`` (run by the scheduler every
``BANSOS_AUDIT_ANCHOR_SECONDS`` and by ``tepat audit anchor``) appends to the anchor chain
(shard -1) an entry naming every shard's head (seq and hash). ``verify_chain`` checks every shard,
then that each shard still holds, at the seq named by the latest anchor, the entry with the anchored
hash: a shard whose tail was removed, or which was rewritten together with its head row, is caught.

Entries from before the shards (migration 0024) stay in shard 0 with ``format`` 1: their hash covers
the fields without shard and seq, as it did; shard 0 goes on from them.

The chains are not keyed: someone who can write the database and recompute every later hash, the
heads and the anchor chain can rewrite history. Export the anchor chain's head (``chain_head``) somewhere
else now and then.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    Sequence,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, scoped_session

from engine import signals
from engine.db import UTCDateTime, db, utcnow
from engine.errors import EngineError
from integrations.nik import mask_nik

from .csvcells import SafeWriter, restore
from .privacy import mask_identifiers

GENESIS_HASH = "0" * 64
# Hashed fields, besides prev_hash; the canonical JSON sorts keys, so this order is for the CSV.
HASHED_FIELDS = ("id", "at", "actor", "actor_roles", "action", "target_type", "target_id", "ip", "user_agent", "detail")
# Format 2 (every entry since the shards) hashes these as well; format 1 (before) does not.
SHARD_FIELDS = ("shard", "seq")
CSV_COLUMNS = HASHED_FIELDS + SHARD_FIELDS + ("format", "prev_hash", "hash")
LEGACY_FORMAT, FORMAT = 1, 2

ANCHOR_SHARD = -1  # the chain of anchor entries
ANCHOR_ACTION = "audit.anchor"
DEFAULT_SHARDS = 64

ACTOR_MAX, ACTION_MAX, TARGET_TYPE_MAX, TARGET_ID_MAX, IP_MAX, USER_AGENT_MAX = 100, 50, 50, 100, 45, 300
DETAIL_TEXT_MAX = 1000  # longer strings in `detail` are cut: free text and encoded blobs stay out

_ID = BigInteger().with_variant(Integer, "sqlite")
ID_SEQUENCE = Sequence("audit_log_id_seq")  # PostgreSQL only; SQLite takes max(id) + 1 under its write lock


class AuditEntry(db.Model):
    """One audited action or view of personal data, chained to the entry before it in its shard."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_target", "target_type", "target_id"),
        # The auditor's browser (cases/audit_browse.py): one action or one officer over a date range.
        Index("ix_audit_log_action_at", "action", "at"),
        Index("ix_audit_log_actor_at", "actor", "at"),
        # An entry has one place in its shard and at most one successor: the database refuses a fork.
        UniqueConstraint("shard", "seq", name="uq_audit_log_shard_seq"),
        UniqueConstraint("shard", "prev_hash", name="uq_audit_log_shard_prev_hash"),
    )

    id: Mapped[int] = mapped_column(_ID, ID_SEQUENCE, primary_key=True, autoincrement=False)
    shard: Mapped[int] = mapped_column(Integer, default=0)
    seq: Mapped[int] = mapped_column(_ID)
    format: Mapped[int] = mapped_column(SmallInteger, default=FORMAT)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_MAX), index=True)
    actor_roles: Mapped[list] = mapped_column(JSON)
    action: Mapped[str] = mapped_column(String(ACTION_MAX))
    target_type: Mapped[str | None] = mapped_column(String(TARGET_TYPE_MAX))
    target_id: Mapped[str | None] = mapped_column(String(TARGET_ID_MAX))
    ip: Mapped[str | None] = mapped_column(String(IP_MAX))
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_MAX))
    detail: Mapped[dict | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(db.Model):
    """One row per shard naming the shard's last entry; updated first by every append (the lock)."""

    __tablename__ = "audit_chain_heads"

    shard: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(_ID, default=0)
    last_id: Mapped[int | None] = mapped_column(_ID)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditChainBroken(EngineError):
    code = "AUDIT_CHAIN_BROKEN"


@dataclass(frozen=True)
class ShardResult:
    """What `verify_chain` found in one shard: entries checked, its last seq, and the first bad entry."""

    shard: int
    ok: bool
    checked: int
    last_seq: int = 0
    first_bad_seq: int | None = None
    first_bad_id: int | None = None  # None when the bad entry is missing
    reason: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    """What `verify_chain` found: entries checked, and where the first broken shard breaks and why.

    `shards` has one ShardResult per shard (the anchor chain first); `anchored_at` is the time of
    the latest anchor checked against (None when there is none).
    """

    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None
    shard: int | None = None
    first_bad_seq: int | None = None
    shards: tuple = field(default=(), compare=False)
    anchored_at: datetime | None = field(default=None, compare=False)

    @property
    def broken(self):
        return [s for s in self.shards if not s.ok]


# --- canonical form and masking ------------------------------------------------------------------


def _iso(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(value):
    """Serialise a JSON value the one way hashes use: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(fields, prev_hash):
    """Return the sha256 hex of an entry: canonical JSON of its hashed fields, then prev_hash.

    `fields` is a mapping (a row, or a CSV line read with `read_csv_row`); `at` may be a datetime or
    its ISO text. Format 2 (the default when `format` is absent) hashes HASHED_FIELDS and
    SHARD_FIELDS; format 1 (entries from before the shards) HASHED_FIELDS only.
    """
    doc = {name: fields[name] for name in HASHED_FIELDS}
    doc["id"] = int(doc["id"])
    doc["at"] = _iso(doc["at"])
    entry_format = fields.get("format")
    entry_format = FORMAT if entry_format is None else int(entry_format)
    if entry_format == FORMAT:
        doc.update({name: int(fields[name]) for name in SHARD_FIELDS})
    elif entry_format != LEGACY_FORMAT:
        raise ValueError(f"unknown entry format {entry_format}")
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
        return mask_nik(str(value)) if 10**15 <= abs(value) < 10**16 else value
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


# --- shards --------------------------------------------------------------------------------------

_head = AuditHead.__table__
_log = AuditEntry.__table__
_TX_SHARD = "tepat_audit_shard"


def shard_count():
    """BANSOS_AUDIT_SHARDS of the current app (DEFAULT_SHARDS outside an app), at least 1."""
    from flask import current_app, has_app_context

    if has_app_context():
        return max(1, int(current_app.config.get("BANSOS_AUDIT_SHARDS", DEFAULT_SHARDS)))
    return DEFAULT_SHARDS


def shard_for(target_type, target_id, actor, shards):
    """The shard of an entry: a stable hash of its target (of its actor when it has none)."""
    key = f"{target_type}:{target_id}" if target_id is not None else f"actor:{actor}"
    return zlib.crc32(key.encode("utf-8")) % shards


def _transaction_shard(session, proposed):
    """The shard of this transaction's entries: the first entry's, so a transaction locks one head."""
    if isinstance(session, scoped_session):
        session = session()
    session.connection()  # begins the transaction, so the first entry's transaction is the one noted
    transaction = session.get_transaction()
    noted = session.info.get(_TX_SHARD)
    if noted is not None and noted[0] is transaction:
        return noted[1]
    session.info[_TX_SHARD] = (transaction, proposed)
    return proposed


def _dialect_insert(session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the app runs on PostgreSQL and SQLite only
        raise NotImplementedError(dialect)
    return insert


def _lock_head(session, shard):
    """Lock the shard's head row until the transaction ends; return (last_seq, last_hash, new id or None).

    On PostgreSQL the new entry's id comes from the sequence in the same statement (one round trip).
    """
    postgres = session.get_bind().dialect.name == "postgresql"
    returned = [_head.c.last_seq, _head.c.last_hash]
    if postgres:
        returned.append(ID_SEQUENCE.next_value().label("new_id"))
    for _ in range(2):
        # A write first: a row lock on PostgreSQL, the database write lock on SQLite. After waiting,
        # PostgreSQL re-reads the row, so RETURNING gives the head the other transaction committed.
        row = session.execute(
            update(_head).where(_head.c.shard == shard).values(last_seq=_head.c.last_seq).returning(*returned)
        ).first()
        if row is not None:
            return row.last_seq, row.last_hash, row.new_id if postgres else None
        # A new shard. A concurrent creator makes this wait for its commit, then insert nothing (and
        # the update above finds its row); a row inserted here is ours and stays locked by us.
        created = session.execute(
            _dialect_insert(session)(_head)
            .values(shard=shard, last_seq=0, last_id=None, last_hash=GENESIS_HASH)
            .on_conflict_do_nothing()
            .returning(_head.c.shard)
        ).first()
        if created is not None:
            if session.execute(select(_log.c.id).where(_log.c.shard == shard).limit(1)).first() is not None:
                # Starting the chain again would hide whatever removed the head; stop and tell.
                raise AuditChainBroken(f"the head row of audit shard {shard} is missing while the shard has entries")
            return 0, GENESIS_HASH, None
    raise AuditChainBroken(f"the head row of audit shard {shard} could not be created")


def _next_id(session):
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(ID_SEQUENCE.next_value())
    # SQLite: the head update above holds the database write lock until commit.
    return (session.scalar(select(func.max(_log.c.id))) or 0) + 1


def _append(
    session, shard, actor, action, roles, target_type=None, target_id=None, ip=None, user_agent=None, detail=None
):
    last_seq, last_hash, new_id = _lock_head(session, shard)
    entry = AuditEntry(
        id=new_id if new_id is not None else _next_id(session),
        shard=shard,
        seq=last_seq + 1,
        format=FORMAT,
        at=utcnow(),
        actor=actor,
        actor_roles=roles,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=ip,
        user_agent=user_agent,
        detail=detail,
        prev_hash=last_hash,
    )
    entry.hash = entry_hash({name: getattr(entry, name) for name in CSV_COLUMNS[:-2]}, last_hash)
    session.add(entry)
    session.flush()
    session.execute(
        update(_head).where(_head.c.shard == shard).values(last_seq=entry.seq, last_id=entry.id, last_hash=entry.hash)
    )
    return entry


def record(session, actor, action, target_type=None, target_id=None, ip=None, user_agent=None, detail=None, roles=()):
    """Append an audit entry in the caller's transaction (flushed, not committed); return it.

    `actor` is a username or an engine Actor (whose roles are used when `roles` is empty). The head
    of the entry's shard stays locked until the caller commits, so call this late in the transaction.
    """
    if hasattr(actor, "id") and hasattr(actor, "roles"):
        roles = roles or actor.roles
        actor = actor.id
    actor = _short(actor, ACTOR_MAX) or "-"
    target_type, target_id = _short(target_type, TARGET_TYPE_MAX), _short(target_id, TARGET_ID_MAX)
    shard = _transaction_shard(session, shard_for(target_type, target_id, actor, shard_count()))
    return _append(
        session,
        shard,
        actor,
        str(action)[:ACTION_MAX],
        sorted({str(r) for r in roles}),
        target_type,
        target_id,
        _short(ip, IP_MAX),
        _short(user_agent, USER_AGENT_MAX),
        mask_detail(detail),
    )


def chain_heads(session):
    """Return {shard: (last_seq, last_hash)} of every head row (the anchor chain's as ANCHOR_SHARD)."""
    rows = session.execute(select(_head.c.shard, _head.c.last_seq, _head.c.last_hash).order_by(_head.c.shard))
    return {row.shard: (row.last_seq, row.last_hash) for row in rows}


def chain_head(session, shard=ANCHOR_SHARD):
    """Return one shard's head (last_seq, last_hash), or None when it has no head row.

    The anchor chain's head (the default) covers every shard as of the latest anchor: keep a copy of
    it somewhere else now and then.
    """
    row = session.execute(select(_head.c.last_seq, _head.c.last_hash).where(_head.c.shard == shard)).first()
    return None if row is None else (row.last_seq, row.last_hash)


def _latest_anchor(session):
    return session.execute(
        select(_log).where(_log.c.shard == ANCHOR_SHARD).order_by(_log.c.seq.desc()).limit(1)
    ).first()


def anchor(session, actor="scheduler", user_agent=None):
    """Append an anchor entry naming every shard's head, unless none moved since the last; return it.

    The heads read are committed ones (each names an entry committed with it). Commit afterwards.
    """
    heads = {
        str(shard): [seq, last_hash]
        for shard, (seq, last_hash) in chain_heads(session).items()
        if shard != ANCHOR_SHARD
    }
    latest = _latest_anchor(session)
    if latest is not None and (latest.detail or {}).get("heads") == heads:
        return None
    # Not masked (`detail` is ours): a hash must stay whole even where 16 of its characters are digits.
    return _append(session, ANCHOR_SHARD, actor, ANCHOR_ACTION, [], user_agent=user_agent, detail={"heads": heads})


# --- verifying and exporting ---------------------------------------------------------------------


def _stream_shard(session, shard, after_seq, batch):
    """Yield the shard's rows with seq > after_seq in seq order, `batch` at a time (keyset pages)."""
    while True:
        rows = session.execute(
            select(_log).where(_log.c.shard == shard, _log.c.seq > after_seq).order_by(_log.c.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after_seq = rows[-1].seq


def _verify_shard(session, shard, batch, anchored=None, on_row=None):
    """Check one shard's chain, its head, and the entry named by the latest anchor (seq, hash, anchor id)."""
    last_seq, last_hash, last_id, last_format, checked = 0, GENESIS_HASH, None, None, 0

    def bad(seq, entry_id, reason):
        return ShardResult(shard, False, checked, last_seq, seq, entry_id, reason)

    def check_rows():
        nonlocal last_seq, last_hash, last_id, checked
        for row in _stream_shard(session, shard, last_seq, batch):
            if row.seq != last_seq + 1:
                return bad(
                    last_seq + 1 if row.seq > last_seq + 1 else row.seq,
                    row.id,
                    f"entries {last_seq + 1}..{row.seq - 1} are missing"
                    if row.seq > last_seq + 1
                    else f"entry seq {row.seq} is out of sequence",
                )
            if row.prev_hash != last_hash:
                return bad(row.seq, row.id, "prev_hash does not match the previous entry's hash")
            # Entries from before the shards (format 1) are shard 0's first ones, none after a newer one.
            if row.format == LEGACY_FORMAT and (shard != 0 or last_format not in (None, LEGACY_FORMAT)):
                return bad(row.seq, row.id, "an entry in the format from before the shards after the shards began")
            try:
                computed = entry_hash(row._mapping, row.prev_hash)
            except (TypeError, ValueError) as exc:
                return bad(row.seq, row.id, f"entry cannot be hashed: {exc}")
            if computed != row.hash:
                return bad(row.seq, row.id, "hash does not match the entry's fields (altered)")
            if anchored is not None and row.seq == anchored[0] and row.hash != anchored[1]:
                return bad(row.seq, row.id, f"the entry differs from the one anchored by entry {anchored[2]}")
            if on_row is not None:
                on_row(row)
            set_last(row)
        return None

    def set_last(row):
        nonlocal last_seq, last_hash, last_id, checked, last_format
        last_seq, last_hash, last_id, checked, last_format = row.seq, row.hash, row.id, checked + 1, row.format

    while True:
        problem = check_rows()
        if problem is not None:
            return problem
        # Read after the rows: the head, committed with each append, is never behind what we read.
        head = chain_head(session, shard)
        if head is None:
            if checked:
                return bad(last_seq, last_id, "the shard's head row is missing")
            head = (0, GENESIS_HASH)
        head_seq, head_hash = head
        if head_seq == last_seq:
            if head_hash != last_hash:
                return bad(last_seq or None, last_id, "the head hash does not match the last entry")
            if anchored is not None and anchored[0] > last_seq:
                return bad(
                    last_seq + 1,
                    None,
                    f"entries {last_seq + 1}..{anchored[0]} named by anchor entry {anchored[2]} are missing",
                )
            return ShardResult(shard, True, checked, last_seq)
        if head_seq < last_seq:
            return bad(head_seq + 1, None, f"entries after the head (seq {head_seq}) exist")
        # The head is ahead: entries appended while we read, or the tail was removed. Look again.
        before = last_seq
        problem = check_rows()
        if problem is not None:
            return problem
        if last_seq == before:
            return bad(last_seq + 1, None, f"entries {last_seq + 1}..{head_seq} named by the head are missing")


def verify_chain(session, batch=10_000):
    """Verify the anchor chain, then every shard's chain and head against the latest good anchor.

    Every shard is checked (a broken one does not stop the others); the result names the first
    broken shard and lists them all in `shards`.
    """
    latest = {}

    def remember(row):
        if row.action == ANCHOR_ACTION:
            latest["row"] = row

    results = [_verify_shard(session, ANCHOR_SHARD, batch, on_row=remember)]
    anchor_row = latest.get("row")
    anchored = {}
    if anchor_row is not None:
        for shard, value in ((anchor_row.detail or {}).get("heads") or {}).items():
            try:
                anchored[int(shard)] = (int(value[0]), str(value[1]), anchor_row.id)
            except (TypeError, ValueError, IndexError):
                results[0] = ShardResult(
                    ANCHOR_SHARD,
                    False,
                    results[0].checked,
                    results[0].last_seq,
                    anchor_row.seq,
                    anchor_row.id,
                    "the anchor entry cannot be read",
                )
    shards = set(chain_heads(session)) | set(session.scalars(select(_log.c.shard).distinct())) | set(anchored)
    shards.discard(ANCHOR_SHARD)
    for shard in sorted(shards):
        named = anchored.get(shard)
        results.append(_verify_shard(session, shard, batch, named if named and named[0] > 0 else None))
    checked = sum(r.checked for r in results)
    anchored_at = anchor_row.at if anchor_row is not None else None
    for r in results:
        if not r.ok:
            return VerifyResult(
                False, checked, r.first_bad_id, r.reason, r.shard, r.first_bad_seq, tuple(results), anchored_at
            )
    return VerifyResult(True, checked, shards=tuple(results), anchored_at=anchored_at)


def _stream_by_time(session, batch):
    """Yield every audit row ordered by (at, id), `batch` at a time (keyset pages)."""
    after = None
    while True:
        query = select(_log).order_by(_log.c.at, _log.c.id).limit(batch)
        if after is not None:
            query = query.where(tuple_(_log.c.at, _log.c.id) > tuple_(*after))
        rows = session.execute(query).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].at, rows[-1].id


def export_csv(session, out, batch=10_000):
    """Write every entry with its hashes to the text stream `out` as CSV, by time; return the count.

    Each line says its shard and seq: an auditor recomputes each shard's chain from the file alone
    (`verify_rows`). Values are written as hashed (JSON columns as canonical JSON). One exception keeps
    spreadsheets safe: a text cell starting with =, +, -, @, tab, CR, LF or a single quote is written
    with one more single quote in front (`cases.csvcells`); `read_csv_row` removes it.
    """
    writer = SafeWriter(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for row in _stream_by_time(session, batch):
        m = row._mapping
        writer.writerow(
            [
                m["id"],
                _iso(m["at"]),
                m["actor"],
                canonical_json(m["actor_roles"]),
                m["action"],
                m["target_type"] or "",
                m["target_id"] or "",
                m["ip"] or "",
                m["user_agent"] or "",
                canonical_json(m["detail"]),
                m["shard"],
                m["seq"],
                m["format"],
                m["prev_hash"],
                m["hash"],
            ]
        )
        count += 1
    return count


def read_csv_row(line):
    """Turn one exported CSV line (a dict from csv.DictReader) back into hashable fields."""
    fields = {name: restore(value) for name, value in line.items()}
    for name in ("id", "shard", "seq", "format"):
        fields[name] = int(fields[name])
    fields["actor_roles"] = json.loads(fields["actor_roles"])
    fields["detail"] = json.loads(fields["detail"])
    for name in ("target_type", "target_id", "ip", "user_agent"):
        fields[name] = fields[name] or None
    return fields


def verify_rows(rows):
    """Check exported entries (`read_csv_row` dicts) shard by shard; return {shard: (last seq, last hash)}.

    Raises AuditChainBroken naming the shard and seq of the first entry that does not chain. What
    the database's heads and anchors add (a removed tail) needs `verify_chain`.
    """
    heads = {}
    for fields in sorted(rows, key=lambda f: (f["shard"], f["seq"])):
        last_seq, last_hash = heads.get(fields["shard"], (0, GENESIS_HASH))
        where = f"shard {fields['shard']} seq {fields['seq']} (entry {fields['id']})"
        if fields["seq"] != last_seq + 1:
            raise AuditChainBroken(f"{where}: entries {last_seq + 1}..{fields['seq'] - 1} are missing")
        if fields["prev_hash"] != last_hash or entry_hash(fields, last_hash) != fields["hash"]:
            raise AuditChainBroken(f"{where}: the entry does not chain")
        heads[fields["shard"]] = (fields["seq"], fields["hash"])
    return heads


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
    _record_from_signal(
        engine,
        actor,
        f"task.{action}",
        "task",
        row.id,
        {"case": row.business_key, "task": row.bpmn_id, "target": target},
    )


def audit_task_completed(engine, row, actor, data, **_):
    """Audit a completed task: which form fields were submitted, not their values."""
    _record_from_signal(
        engine,
        actor,
        "task.complete",
        "task",
        row.id,
        {"case": row.business_key, "task": row.bpmn_id, "fields": sorted(data)},
    )


def audit_incident_resolved(engine, incident, actor, action, **_):
    """Audit an incident retried or skipped by an administrator."""
    _record_from_signal(
        engine,
        actor,
        f"incident.{action}",
        "incident",
        incident.id,
        {"case": incident.business_key, "task": incident.bpmn_id},
    )


def connect():
    """Audit every engine action (task claim/unclaim/reassign/complete, incident retry/skip); idempotent."""
    signals.task_assigned.connect(audit_task_assigned)
    signals.task_completed.connect(audit_task_completed)
    signals.incident_resolved.connect(audit_incident_resolved)
