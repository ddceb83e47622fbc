"""1:N face deduplication: every applicant's face template, searched for the same face under another NIK.

The ``face_templates`` table is the truth; each process keeps an in-memory copy (``TemplateMatrix``)
and catches up with committed rows before every search, so processes agree with each other and a
rolled-back insert never enters any index. Templates are 128 float32 numbers (never photos); they are
biometric data under UU PDP 27/2022: erasing one (``delete_for``) also clears its bytes in the row.

Concurrent applications (``search_and_add``): a search sees committed templates only, so two
transactions that search before either commits would miss each other (the same face submitted under
two NIKs at the same moment through two servers). Search and insert are therefore serialised until
the caller's commit: on PostgreSQL by a transaction-level advisory lock (``pg_advisory_xact_lock``),
which holds across processes and machines sharing the database; on SQLite by taking the database's
write lock (a write that touches no row) before searching. The commit or rollback releases the lock;
the next waiter's search then sees the template just committed.

Why a lock and not a re-check after the commit: the rest of the application runs in the same
transaction (an automatic approval enrols and pays before the commit), so a duplicate found after the
commit would be found too late. The cost: deduplicating transactions run one at a time from the search
to their commit, i.e. through the service tasks after ``check_duplicates`` in the diagram (registry
look-ups, rules, benefits and the payment of an automatic approval). Other work (officers' tasks,
timers, submissions that have not reached the face search) is not blocked. Deduplicated submissions
per second are bounded by 1 / (time from the search to the commit): measured at 75-135 ms with the
sandbox registries on PostgreSQL (about 8-13 per second per deployment); slow HTTP registries lengthen
it. Placing ``check_duplicates`` just before the decision in the diagram keeps the registry look-ups
out of the window. If that is not enough, the alternative is a short critical section that commits a
"pending" template on its own connection, with the owner's liveness checked through a per-template
advisory lock (so that owners that rolled back are told apart from those still running).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from integrations.base import utc_now
from integrations.face_matrix import DIMENSION, TemplateMatrix, as_template, nik_number

TEMPLATE_BYTES = DIMENSION * 4  # float32, little-endian
# The PostgreSQL advisory lock that serialises search-and-insert (a constant of this application:
# int.from_bytes(b"tepatdup", "big") >> 1, a positive bigint no other code uses).
DEDUP_LOCK_KEY = int.from_bytes(b"tepatdup", "big") >> 1

face_metadata = MetaData()

face_templates = Table(
    "face_templates",
    face_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("nik", String(16), nullable=False, index=True),
    Column("case_ref", String(64), nullable=False),
    # NULL once deleted: the row stays only as a tombstone that tells other processes to drop it.
    Column("encoding", LargeBinary(TEMPLATE_BYTES), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True, index=True),
)


@dataclass(frozen=True)
class Candidate:
    """A stored template close to the probe: whose it is and how close."""

    nik: str
    case_ref: str
    distance: float
    template_id: int


class FaceTemplateIndex:
    """Face templates in the database, searched through an in-memory copy kept in step with it.

    - ``add`` writes a row through the caller's session (flush, never commit); the index learns of it
      only once it is committed, so a rolled-back add never appears in any process.
    - ``search`` first catches up with committed changes: rows with id above the last one seen,
      ids skipped earlier (a transaction that committed late), and rows deleted recently. Deletions
      are re-read for ``late_commit_seconds`` because their time is taken before their commit.
    - Rows are never removed, only marked deleted (``delete_for``); anything else that empties or
      rewrites the table is noticed by a cheap count check and answered with a rebuild.
    - ``snapshot_path`` (optional): a file holding the templates (sensitive: written 0600) to start
      from instead of reading every row; what changed since is caught up, and a snapshot that does
      not agree with the table is ignored.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        snapshot_path: str | os.PathLike | None = None,
        threshold: float = 0.5,
        clock: Callable[[], datetime] = utc_now,
        late_commit_seconds: float = 600.0,
        verify_every_seconds: float = 300.0,
    ):
        if not 0 < threshold < 2:
            raise ValueError("The deduplication threshold must be between 0 and 2.")
        self._session_factory = session_factory
        self.snapshot_path = Path(snapshot_path) if snapshot_path else None
        self.threshold = float(threshold)
        self._clock = clock
        self._late = timedelta(seconds=late_commit_seconds)
        self._verify_every = timedelta(seconds=verify_every_seconds)
        self._lock = threading.RLock()
        self._reset()

    @property
    def size(self) -> int:
        """Return the number of live templates, after catching up with the database."""
        with self._lock:
            self._sync()
            return len(self._matrix)

    def add(self, nik: str, case_ref: str, encoding) -> int:
        """Store the template of one case in the caller's transaction (one live template per case)."""
        if not isinstance(nik, str):
            raise ValueError("nik must be 16 digits")
        nik_number(nik)  # raises ValueError unless 16 digits
        if not case_ref:
            raise ValueError("case_ref is required")
        data = as_template(encoding).astype("<f4").tobytes()
        session = self._session_factory()
        now = _utc(self._clock())
        same_case = session.execute(
            select(face_templates.c.id, face_templates.c.encoding).where(
                face_templates.c.nik == nik, face_templates.c.case_ref == case_ref,
                face_templates.c.deleted_at.is_(None))
        ).all()
        for row in same_case:
            if bytes(row.encoding) == data:
                return row.id  # a retried task adds the same template again: nothing to do
        if same_case:
            # A retaken selfie replaces the case's earlier template.
            session.execute(update(face_templates)
                            .where(face_templates.c.id.in_([r.id for r in same_case]))
                            .values(deleted_at=now, encoding=None))
        result = session.execute(insert(face_templates).values(
            nik=nik, case_ref=str(case_ref), encoding=data, created_at=now))
        return int(result.inserted_primary_key[0])

    def search_and_add(self, nik: str, case_ref: str, encoding, k: int = 5,
                       threshold: float | None = None) -> tuple[list[Candidate], int]:
        """Search for this face under other NIKs, then store it; serialised with every other call.

        Returns (candidates, how many templates were searched). The dedup lock is taken in the
        caller's transaction before the search and held until it commits or rolls back, so of two
        concurrent calls the second searches only after the first's template is committed.
        """
        hold_dedup_lock(self._session_factory())  # before the in-process lock: a waiter holds none
        candidates = self.search(encoding, k=k, threshold=threshold, exclude_nik=nik)
        checked = self.size
        self.add(nik, case_ref, encoding)
        return candidates, checked

    def delete_for(self, nik: str) -> int:
        """Erase every template of a NIK in the caller's transaction; return how many."""
        result = self._session_factory().execute(
            update(face_templates)
            .where(face_templates.c.nik == nik, face_templates.c.deleted_at.is_(None))
            .values(deleted_at=_utc(self._clock()), encoding=None))
        return int(result.rowcount or 0)

    def search(self, encoding, k: int = 5, threshold: float | None = None,
               exclude_nik: str | None = None) -> list[Candidate]:
        """Return up to ``k`` committed templates within ``threshold`` of ``encoding``, nearest first."""
        limit = self.threshold if threshold is None else float(threshold)
        probe = as_template(encoding)
        with self._lock:
            self._sync()
            hits = self._matrix.search(probe, k, limit, exclude_nik)
        if not hits:
            return []
        with self._connect() as conn:
            # The table has the final word: a template erased since the catch-up is not reported.
            rows = {r.id: r for r in conn.execute(
                select(face_templates.c.id, face_templates.c.nik, face_templates.c.case_ref).where(
                    face_templates.c.id.in_([h[0] for h in hits]), face_templates.c.deleted_at.is_(None)))}
        return [Candidate(rows[i].nik, rows[i].case_ref, distance, i) for i, _, distance in hits if i in rows]

    def rebuild(self) -> int:
        """Reload every committed template from the database; return how many."""
        with self._lock:
            self._full_load()
            if self.snapshot_path:
                self._write_snapshot()
            return len(self._matrix)

    def save_snapshot(self) -> Path:
        """Write the in-memory copy to ``snapshot_path`` (replacing it atomically) and return the path."""
        if not self.snapshot_path:
            raise ValueError("no snapshot_path configured")
        with self._lock:
            self._sync()
            self._write_snapshot()
        return self.snapshot_path

    # -- keeping in step with the database ---------------------------------------------------------

    def _reset(self) -> None:
        self._matrix = TemplateMatrix()
        self._loaded = False
        self._last_id = 0
        self._gaps: dict[int, datetime] = {}  # ids skipped so far -> when first noticed
        self._synced_at: datetime | None = None
        self._deleted_seen: dict[int, datetime] = {}  # deletions applied, kept while re-read
        self._verified_at: datetime | None = None

    def _connect(self):
        # A connection of its own, outside the caller's transaction: it sees committed rows only.
        bind = self._session_factory().get_bind()
        return getattr(bind, "engine", bind).connect()

    def _sync(self) -> None:
        if not self._loaded:
            if not (self.snapshot_path and self._load_snapshot()):
                self._full_load()
            return
        started = _utc(self._clock())
        with self._connect() as conn:
            top = conn.execute(select(func.max(face_templates.c.id))).scalar()
            if (top or 0) < self._last_id:
                self._rebuild_locked(conn)  # the table was emptied or replaced under us
                return
            self._catch_up(conn, started)
            if self._verified_at is None or started - self._verified_at >= self._verify_every:
                self._verify(conn, started)

    def _full_load(self) -> None:
        started = _utc(self._clock())
        with self._connect() as conn:
            self._rebuild_locked(conn, started)

    def _rebuild_locked(self, conn, started: datetime | None = None) -> None:
        started = started or _utc(self._clock())
        self._reset()
        self._read_rows(conn, face_templates.c.id > 0, started)
        # Ids below a row written longer ago than any transaction lasts were handed out before it,
        # so their rows are committed or never will be: not gaps worth re-reading.
        settled = conn.execute(select(func.max(face_templates.c.id)).where(
            face_templates.c.created_at <= started - self._late)).scalar() or 0
        self._gaps = {i: seen for i, seen in self._gaps.items() if i > settled}
        self._synced_at = self._verified_at = started
        self._loaded = True

    def _catch_up(self, conn, started: datetime) -> None:
        since = self._synced_at - self._late
        self._read_rows(conn, face_templates.c.id > self._last_id, started)
        if self._gaps:
            self._read_rows(conn, face_templates.c.id.in_(list(self._gaps)), started, gaps=True)
            self._gaps = {i: seen for i, seen in self._gaps.items() if started - seen < self._late}
        deleted = conn.execute(
            select(face_templates.c.id, face_templates.c.deleted_at).where(face_templates.c.deleted_at > since)
        ).all()
        fresh = [r.id for r in deleted if r.id not in self._deleted_seen]
        self._matrix.remove(fresh)
        self._deleted_seen.update({r.id: _utc(r.deleted_at) for r in deleted})
        self._deleted_seen = {i: at for i, at in self._deleted_seen.items() if at > since}
        self._synced_at = started

    def _read_rows(self, conn, where, started: datetime, gaps: bool = False) -> None:
        """Add the live rows matching ``where``; note skipped ids as gaps (unless re-reading gaps)."""
        t = face_templates
        # Streamed in batches: a million rows never sit in memory as Python objects at once.
        result = conn.execute(
            select(t.c.id, t.c.nik, t.c.encoding).where(where).order_by(t.c.id)
            .execution_options(yield_per=50_000))
        seen_ids = []
        for batch in result.partitions():
            ids = np.fromiter((r.id for r in batch), dtype=np.int64, count=len(batch))
            seen_ids.append(ids)
            live = [r for r in batch if r.encoding is not None]
            if live:
                vectors = np.frombuffer(b"".join(r.encoding for r in live), dtype="<f4").reshape(-1, DIMENSION)
                self._matrix.add_many([r.id for r in live], [r.nik for r in live], vectors)
        if gaps:
            for ids in seen_ids:
                for i in ids.tolist():
                    self._gaps.pop(i, None)
            return
        if not seen_ids:
            return
        ids = np.concatenate(seen_ids)
        expected = np.arange(self._last_id + 1, int(ids[-1]) + 1, dtype=np.int64)
        if len(expected) != len(ids):
            # Ids handed out but not (yet) committed: a concurrent transaction, or a rollback.
            for i in np.setdiff1d(expected, ids, assume_unique=True).tolist():
                self._gaps.setdefault(i, started)
        self._last_id = int(ids[-1])

    def _verify(self, conn, started: datetime) -> None:
        """Compare the live count with the table's; catch up once more, then rebuild if still off."""
        for attempt in range(2):
            stored = conn.execute(select(func.count()).select_from(face_templates).where(
                face_templates.c.deleted_at.is_(None), face_templates.c.id <= self._last_id)).scalar()
            if stored == len(self._matrix):
                self._verified_at = started
                return
            if attempt == 0:
                self._catch_up(conn, started)
        self._rebuild_locked(conn, started)

    # -- snapshot ----------------------------------------------------------------------------------

    def _write_snapshot(self) -> None:
        ids, niks, vectors = self._matrix.live_arrays()
        gap_ids = np.fromiter(self._gaps, dtype=np.int64, count=len(self._gaps))
        meta = np.array([self._last_id, _micros(self._synced_at)], dtype=np.int64)
        tmp = self.snapshot_path.with_name(self.snapshot_path.name + ".tmp")
        self.snapshot_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, ids=ids, niks=niks, vectors=vectors, gaps=gap_ids, meta=meta)
        os.replace(tmp, self.snapshot_path)

    def _load_snapshot(self) -> bool:
        """Start from the snapshot file and catch up; False (nothing loaded) when absent or stale."""
        try:
            with np.load(self.snapshot_path, allow_pickle=False) as saved:
                ids, niks, vectors = saved["ids"], saved["niks"], saved["vectors"]
                gaps, (last_id, synced_us) = saved["gaps"], saved["meta"].tolist()
        except (FileNotFoundError, OSError, ValueError, KeyError):
            return False
        self._reset()
        self._matrix.add_many(ids, niks, vectors)
        self._last_id = int(last_id)
        self._synced_at = datetime.fromtimestamp(synced_us / 1_000_000, timezone.utc)
        started = _utc(self._clock())
        self._gaps = {int(i): started for i in gaps.tolist()}
        self._loaded = True
        with self._connect() as conn:
            top = conn.execute(select(func.max(face_templates.c.id))).scalar()
            if (top or 0) < self._last_id:
                self._rebuild_locked(conn, started)
                return True
            self._catch_up(conn, started)
            self._verify(conn, started)
        return True


def hold_dedup_lock(session: Session) -> None:
    """Take the deduplication lock in the session's transaction (released by its commit or rollback).

    PostgreSQL: ``pg_advisory_xact_lock``, waiting for the holder. SQLite: a write that touches no
    row takes the database's write lock (one writer at a time; ``busy_timeout`` waits for it), so no
    other transaction can add a template until this one ends.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(DEDUP_LOCK_KEY)))
    elif dialect == "sqlite":
        session.execute(update(face_templates).where(false()).values(id=face_templates.c.id))
    else:
        raise NotImplementedError(f"no deduplication lock for {dialect}")


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time here is UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _micros(value: datetime | None) -> int:
    return 0 if value is None else int(_utc(value).timestamp() * 1_000_000)

