"""1:N face deduplication: every applicant's face template, searched for the same face under another NIK.

The ``face_templates`` table is the truth; each process keeps an in-memory copy and catches up with
committed rows before every search, so processes agree with each other. Templates are 128 float32
numbers (never photos); they are biometric data under UU PDP 27/2022: erasing one (``delete_for``)
also clears its bytes in the row.

In memory: ``TemplateMatrix`` (exact, every distance measured) up to ``ann_min_size`` templates;
above it ``AnnMatrix`` (faiss IVF, 8-bit: a quarter of the memory, a few thousand distances a
search instead of a million) proposes candidates. Either way every reported candidate is re-checked
with the exact distance of the template stored in the table and the real threshold, and the table
has the final word (a template erased or never committed is not reported).

Catching up (``_sync``), once per search, on the request's own connection where that is safe
(PostgreSQL, READ COMMITTED, and this transaction has written no template yet: it sees exactly the
committed rows); otherwise on a connection of its own. One query reads new rows, remembered gaps and
recent deletions together. Gaps (ids handed out but not committed when first seen) are re-read only
until every transaction that could still commit them has ended: on PostgreSQL the writing
transactions of this database when the gap was seen (``pg_stat_activity.backend_xid``) are noted with
it, and once none of them is still running the gap is read a last time and forgotten, so a
rolled-back id is re-read about once, not for ten minutes; elsewhere (and as a fallback) they expire after
``late_commit_seconds``, and at most ``max_gaps`` are remembered (a late commit of a forgotten gap is
still found by the periodic count check, as is the rare row whose transaction got its xid only after
the gap was seen). Claims (below) never leave gaps: they are committed in id order.

Concurrent applications (``search_and_add``): a search sees committed templates only, so two
transactions that search before either commits would miss each other (the same face submitted under
two NIKs at the same moment through two servers or workers). The guarantee: of two concurrent
submissions of the same face, at least one is flagged.

PostgreSQL -- claims, ordered by commit, with a short lock:

1. Claim: on a connection of its own, under the global advisory lock ``DEDUP_LOCK_KEY``, take the
   next id, insert the template as ``pending`` and commit (one insert: about a millisecond). Before
   that commit, the caller's transaction takes the claim's liveness lock (an advisory lock on
   ``(LIVENESS_CLASS, id)``), held until it commits or rolls back. Ids are handed out and committed
   under one lock, so id order is commit order: every claim with a smaller id was visible before
   ours, and every claim with a larger id will see ours.
2. Search, after our claim is committed, among templates with a smaller id only (finished or
   pending). A pending candidate within the threshold is a submission still running (or one that
   rolled back): wait for its liveness lock, then read it again -- finished: a duplicate; still
   pending: its owner rolled back, it is tombstoned and ignored. Waits only go from a larger id to a
   smaller one, so they never form a cycle.
3. The caller's transaction marks its claim finished (``pending = false``); its commit publishes it.
   A rollback leaves a pending row whose liveness lock is free: ignored by every search and
   tombstoned by the first one that meets it (or by the periodic check).

Of two submissions of one face, the one with the larger id always considers the other (it waits
for it if needed), so they never both pass. Unrelated submissions never wait for each other beyond
the claim insert: the global lock is held for about a millisecond instead of 75-135 ms (it used to
be held from the search to the commit of the whole application, through the registry look-ups,
rules and payment). A genuine concurrent duplicate waits for the other's commit, as before.

Why not a lock per face "bucket" (ANN cell, LSH bucket): a bucket lock is only sound if a
submission locks every bucket that could hold a face within the threshold. dlib encodings of
different people lie 0.65-1.0 apart while the threshold is 0.5, and the spread of the population
along any one direction is about 0.05-0.15, so a ball of radius 0.5 around any face crosses nearly
every cell border or hyperplane: every submission would lock (nearly) every bucket.

SQLite (tests, demo): one writer at a time anyway; the search takes the database's write lock
(``hold_dedup_lock``) and inserts in the caller's transaction, as before.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    false,
    func,
    insert,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, scoped_session

from integrations.base import utc_now
from integrations.face_matrix import DIMENSION, AnnMatrix, TemplateMatrix, as_template, nik_number

TEMPLATE_BYTES = DIMENSION * 4  # float32, little-endian
# The PostgreSQL advisory lock that orders claims (a constant of this application:
# int.from_bytes(b"tepatdup", "big") >> 1, a positive bigint no other code uses).
DEDUP_LOCK_KEY = int.from_bytes(b"tepatdup", "big") >> 1
# Liveness locks of claims: the two-int advisory lock (LIVENESS_CLASS, id mod 2**31).
LIVENESS_CLASS = int.from_bytes(b"tpfc", "big") >> 1
_INT4 = 2**31
# A catch-up that can bring more rows than this is streamed in batches (a server-side cursor on
# PostgreSQL); a smaller one is read in one go.
_STREAM_ABOVE = 5_000
_LIVENESS_TAKE = text("SELECT pg_advisory_xact_lock(CAST(:c AS integer), CAST(:i AS integer))")
_LIVENESS_WAIT = text("SELECT pg_advisory_xact_lock_shared(CAST(:c AS integer), CAST(:i AS integer))")
_STATS_FRESH = text("SELECT pg_stat_clear_snapshot()")
_WRITERS = text(
    "SELECT backend_xid::text FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
    " AND pid <> pg_backend_pid()"
    " AND datid = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
# A claim in one round trip (PostgreSQL): the subquery in FROM takes the global lock first (a
# subquery calling a volatile function is not pulled up, so its row exists, lock taken, before the
# outer SELECT evaluates nextval for it); the id comes back with the row.
_CLAIM_INSERT = text(
    "INSERT INTO face_templates (id, nik, case_ref, encoding, created_at, pending)"
    " SELECT nextval(pg_get_serial_sequence('face_templates', 'id')), :nik, :case_ref, :encoding, :created_at, true"
    " FROM (SELECT pg_advisory_xact_lock(CAST(:lock AS bigint))) AS dedup_lock RETURNING id"
).bindparams(bindparam("encoding", type_=LargeBinary()), bindparam("created_at", type_=DateTime(timezone=True)))
_LIVENESS_TRY = text("SELECT pg_try_advisory_xact_lock_shared(CAST(:c AS integer), CAST(:i AS integer))")

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
    # A claim committed ahead of its application (PostgreSQL, search_and_add): not a template until
    # the application's own transaction sets it to false.
    Column("pending", Boolean, nullable=False, default=False, server_default=false()),
    # Few rows are pending at any time: the periodic sweep of abandoned claims reads only them.
    Index("ix_face_templates_pending", "id", postgresql_where=text("pending"), sqlite_where=text("pending")),
)

# Hot statements, built once (values as parameters).
_PROBE = select(func.max(face_templates.c.id))
_SAME_CASE = select(face_templates.c.id, face_templates.c.encoding, face_templates.c.pending).where(
    face_templates.c.nik == bindparam("nik"),
    face_templates.c.case_ref == bindparam("case_ref"),
    face_templates.c.deleted_at.is_(None),
)

_INSERT_TEMPLATE = insert(face_templates)
_CATCH_UP = union_all(
    *(
        select(face_templates.c.id, face_templates.c.nik, face_templates.c.encoding, face_templates.c.deleted_at).where(
            where
        )
        for where in (face_templates.c.id > bindparam("last_id"), face_templates.c.deleted_at > bindparam("since"))
    )
)
_PG_DEDUP_LOCK = select(func.pg_advisory_xact_lock(DEDUP_LOCK_KEY))
_SQLITE_DEDUP_LOCK = update(face_templates).where(false()).values(id=face_templates.c.id)


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
    - ``search_and_add`` searches and stores under the deduplication guarantee (module docstring).
    - ``search`` first catches up with committed changes: rows with id above the last one seen,
      ids skipped earlier (a transaction that committed late), and rows deleted recently. Deletions
      are re-read for ``late_commit_seconds`` because their time is taken before their commit.
    - Rows are never removed, only marked deleted (``delete_for``); anything else that empties or
      rewrites the table is noticed by a cheap count check and answered with a rebuild.
    - ``snapshot_path`` (optional): a file holding the in-memory index (sensitive: written 0600) to
      start from instead of reading every row; what changed since is caught up, and a snapshot that
      does not agree with the table is ignored.
    - ``ann_min_size``: from this many templates on, the approximate index (``AnnMatrix``) replaces
      the exact matrix in memory; ``ann_nprobe`` how many of its cells a search visits.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        snapshot_path: str | os.PathLike | None = None,
        threshold: float = 0.5,
        clock: Callable[[], datetime] = utc_now,
        late_commit_seconds: float = 600.0,
        verify_every_seconds: float = 300.0,
        ann_min_size: int = 200_000,
        ann_nprobe: int | None = None,
        max_gaps: int = 1_000,
    ):
        if not 0 < threshold < 2:
            raise ValueError("The deduplication threshold must be between 0 and 2.")
        self._session_factory = session_factory
        self.snapshot_path = Path(snapshot_path) if snapshot_path else None
        self.snapshot_templates: int | None = None  # live templates in the last file written
        self.threshold = float(threshold)
        self._clock = clock
        self._late = timedelta(seconds=late_commit_seconds)
        self._verify_every = timedelta(seconds=verify_every_seconds)
        self.ann_min_size = int(ann_min_size)
        self.ann_nprobe = ann_nprobe
        self.max_gaps = int(max_gaps)
        self._lock = threading.RLock()
        self._reset()

    @property
    def size(self) -> int:
        """Return the number of live templates, after catching up with the database."""
        with self._reader(self._session_factory()) as conn, self._lock:
            self._sync(conn)
            return len(self._matrix)

    @property
    def approximate(self) -> bool:
        """True when the in-memory index is the approximate one (``AnnMatrix``)."""
        return isinstance(self._matrix, AnnMatrix)

    def add(self, nik: str, case_ref: str, encoding) -> int:
        """Store the template of one case in the caller's transaction (one live template per case)."""
        _check(nik, case_ref)
        data = as_template(encoding).astype("<f4").tobytes()
        session = self._session_factory()
        same_case = self._same_case(session, nik, case_ref)
        for row in same_case:
            if bytes(row.encoding) == data and not row.pending:
                return row.id  # a retried task adds the same template again: nothing to do
        self._retire(session, same_case)
        result = cast(
            CursorResult,
            session.execute(
                _INSERT_TEMPLATE,
                {
                    "nik": nik,
                    "case_ref": str(case_ref),
                    "encoding": data,
                    "created_at": _utc(self._clock()),
                    "pending": False,
                },
            ),
        )
        self._mark_written(session)
        key = result.inserted_primary_key
        assert key is not None  # a single-row INSERT has one
        return int(key[0])

    def search_and_add(
        self, nik: str, case_ref: str, encoding, k: int = 5, threshold: float | None = None
    ) -> tuple[list[Candidate], int]:
        """Search for this face under other NIKs, then store it, so that concurrent calls never miss
        each other (module docstring); the template is published by the caller's commit.

        Returns (candidates, how many templates were searched).
        """
        _check(nik, case_ref)
        vector = as_template(encoding)
        session = self._session_factory()
        if session.get_bind().dialect.name != "postgresql":
            hold_dedup_lock(session)  # before the in-process lock: a waiter holds none
            candidates, checked = self._search(session, vector, k, threshold, nik)
            self.add(nik, case_ref, vector)
            return candidates, checked
        data = vector.astype("<f4").tobytes()
        same_case = self._same_case(session, nik, case_ref)
        kept = next((r.id for r in same_case if not r.pending and bytes(r.encoding) == data), None)
        if kept is not None:
            # A retried task whose template is already stored: the same search, nothing new stored.
            return self._search(session, vector, k, threshold, nik, below_id=kept, wait=True)
        claim = self._claim(session, nik, case_ref, data)
        candidates, checked = self._search(session, vector, k, threshold, nik, below_id=claim, wait=True)
        self._retire(session, same_case)
        session.execute(update(face_templates).where(face_templates.c.id == claim).values(pending=False))
        self._mark_written(session)
        return candidates, checked

    def delete_for(self, nik: str) -> int:
        """Erase every template of a NIK in the caller's transaction; return how many."""
        session = self._session_factory()
        result = cast(
            CursorResult,
            session.execute(
                update(face_templates)
                .where(face_templates.c.nik == nik, face_templates.c.deleted_at.is_(None))
                .values(deleted_at=_utc(self._clock()), encoding=None)
            ),
        )
        self._mark_written(session)
        return int(result.rowcount or 0)

    def search(
        self, encoding, k: int = 5, threshold: float | None = None, exclude_nik: str | None = None
    ) -> list[Candidate]:
        """Return up to ``k`` committed templates within ``threshold`` of ``encoding``, nearest first."""
        return self._search(self._session_factory(), as_template(encoding), k, threshold, exclude_nik)[0]

    def rebuild(self) -> int:
        """Reload every committed template from the database; return how many."""
        with self._connect() as conn, self._lock:
            self._rebuild_locked(conn)
            if self.snapshot_path:
                self._write_snapshot(self.snapshot_path)
            return len(self._matrix)

    def save_snapshot(self) -> Path:
        """Write the in-memory copy to ``snapshot_path`` (replacing it atomically) and return the path.

        ``snapshot_templates`` is then the number of live templates in the file, counted under the same
        lock as the write (a template committed just after is in the table, not in the file)."""
        path = self.snapshot_path
        if not path:
            raise ValueError("no snapshot_path configured")
        with self._connect() as conn, self._lock:
            self._sync(conn)
            self._write_snapshot(path)
            self.snapshot_templates = len(self._matrix)
        return path

    # -- searching ---------------------------------------------------------------------------------

    def _search(
        self,
        session: Session,
        probe: np.ndarray,
        k: int,
        threshold: float | None,
        exclude_nik: str | None,
        below_id: int | None = None,
        wait: bool = False,
    ) -> tuple[list[Candidate], int]:
        limit = self.threshold if threshold is None else float(threshold)
        with self._reader(session) as conn:
            with self._lock:
                self._sync(conn)
                # Over-fetched: claims that turn out abandoned, and approximate hits, drop out below.
                hits = self._matrix.search(probe, 2 * k + 4, limit, exclude_nik, below_id)
                checked = len(self._matrix) - (1 if below_id is not None else 0)  # not our own claim
            if not hits:
                return [], checked
            found = self._confirm(session, conn, probe, [h[0] for h in hits], limit, below_id if wait else None)
        found.sort(key=lambda c: (c.distance, c.template_id))
        return found[:k], checked

    def _confirm(self, session, conn, probe, ids, limit, wait_below) -> list[Candidate]:
        """Keep the hits the table confirms: live, finished, and within ``limit`` by exact distance.

        ``wait_below``: a pending claim with a smaller id is waited for (its liveness lock), then read
        again; pending claims are otherwise not (yet) templates.
        """
        t = face_templates
        columns = (t.c.id, t.c.nik, t.c.case_ref, t.c.encoding, t.c.pending)
        rows = conn.execute(select(*columns).where(t.c.id.in_(ids), t.c.deleted_at.is_(None))).all()
        found, abandoned = [], []
        for row in rows:
            distance = _distance(row.encoding, probe)
            if distance > limit:
                continue
            if row.pending:
                if wait_below is None or row.id >= wait_below:
                    continue
                session.execute(_LIVENESS_WAIT, {"c": LIVENESS_CLASS, "i": row.id % _INT4})
                row = session.execute(select(*columns).where(t.c.id == row.id, t.c.deleted_at.is_(None))).first()
                if row is None:
                    continue
                if row.pending:  # its owner ended without finishing it: rolled back
                    abandoned.append(row.id)
                    continue
            found.append(Candidate(row.nik, row.case_ref, distance, int(row.id)))
        if abandoned:
            self._tombstone_abandoned(abandoned)
        return found

    # -- claims (PostgreSQL) -----------------------------------------------------------------------

    def _claim(self, session: Session, nik: str, case_ref: str, data: bytes) -> int:
        """Commit a pending template on a connection of its own; the caller's transaction holds its
        liveness lock from before that commit to its own end. Returns the claim's id."""
        with self._connect() as side:
            # One statement: the global lock, then (per row of the locked subquery) the next id and
            # the pending row with it.
            claim = int(
                side.execute(
                    _CLAIM_INSERT,
                    {
                        "lock": DEDUP_LOCK_KEY,
                        "nik": nik,
                        "case_ref": str(case_ref),
                        "encoding": data,
                        "created_at": _utc(self._clock()),
                    },
                ).scalar_one()
            )
            session.execute(_LIVENESS_TAKE, {"c": LIVENESS_CLASS, "i": claim % _INT4})
            side.commit()  # releases the global lock: the next claim's id is larger and sees this one
        return claim

    def _tombstone_abandoned(self, ids) -> int:
        """Tombstone pending claims whose owner has ended (its liveness lock is free); return how many."""
        done = 0
        with self._connect() as side:
            for claim in ids:
                free = side.execute(_LIVENESS_TRY, {"c": LIVENESS_CLASS, "i": int(claim) % _INT4}).scalar()
                if free:
                    done += (
                        side.execute(
                            update(face_templates)
                            .where(
                                face_templates.c.id == int(claim),
                                face_templates.c.pending.is_(True),
                                face_templates.c.deleted_at.is_(None),
                            )
                            .values(deleted_at=_utc(self._clock()), encoding=None)
                        ).rowcount
                        or 0
                    )
                side.commit()  # also releases the try-lock
        return done

    # -- helpers -----------------------------------------------------------------------------------

    def _same_case(self, session, nik, case_ref):
        return session.execute(_SAME_CASE, {"nik": nik, "case_ref": str(case_ref)}).all()

    def _retire(self, session, rows) -> None:
        if rows:
            # A retaken selfie replaces the case's earlier template.
            session.execute(
                update(face_templates)
                .where(face_templates.c.id.in_([r.id for r in rows]))
                .values(deleted_at=_utc(self._clock()), encoding=None)
            )

    @staticmethod
    def _mark_written(session: Session) -> None:
        # This transaction now sees template rows no other one does: catch up elsewhere until it ends.
        session = _plain(session)
        session.info["face_templates_written_in"] = session.get_transaction()

    @contextmanager
    def _reader(self, session: Session):
        """The caller's connection when it sees exactly the committed rows, else one of our own."""
        if session.get_bind().dialect.name == "postgresql" and not _wrote(session):
            conn = session.connection()
            level = conn.get_execution_options().get("isolation_level") or conn.default_isolation_level
            if str(level).upper().replace("_", " ") == "READ COMMITTED":
                yield conn  # every statement sees what is committed when it starts
                return
        with self._connect() as conn:
            yield conn

    def _connect(self):
        # A connection of its own, outside the caller's transaction: it sees committed rows only.
        bind = self._session_factory().get_bind()
        return getattr(bind, "engine", bind).connect()

    # -- keeping in step with the database ---------------------------------------------------------

    def _reset(self) -> None:
        self._matrix: TemplateMatrix | AnnMatrix = TemplateMatrix()
        self._loaded = False
        self._last_id = 0
        # ids skipped so far -> (when first noticed, PostgreSQL: xids writing in this database then)
        self._gaps: dict[int, tuple[datetime, frozenset | None]] = {}
        self._synced_at: datetime | None = None
        self._deleted_seen: dict[int, datetime] = {}  # deletions applied, kept while re-read
        self._verified_at: datetime | None = None
        self._expected = 0

    def _sync(self, conn) -> None:
        if not self._loaded:
            if not (self.snapshot_path and self._load_snapshot(conn, self.snapshot_path)):
                self._rebuild_locked(conn)
            return
        started = _utc(self._clock())
        top = self._probe(conn)
        if top < self._last_id:
            self._rebuild_locked(conn)  # the table was emptied or replaced under us
            return
        self._catch_up(conn, started, top)
        if self._verified_at is None or started - self._verified_at >= self._verify_every:
            self._verify(conn, started)

    @staticmethod
    def _probe(conn) -> int:
        """Return the largest id in the table."""
        return conn.execute(_PROBE).scalar() or 0

    @staticmethod
    def _writers(conn) -> frozenset | None:
        """PostgreSQL: the xids of the transactions of this database that have written and not ended
        (other than this connection's); None elsewhere."""
        if conn.dialect.name != "postgresql":
            return None
        conn.execute(_STATS_FRESH)  # statistics views are otherwise frozen for the transaction
        return frozenset(conn.execute(_WRITERS).scalars())

    def _rebuild_locked(self, conn, started: datetime | None = None) -> None:
        started = started or _utc(self._clock())
        self._reset()
        # The approximate index's cells are sized for the whole table, not the first rows read.
        self._expected = (
            conn.execute(
                select(func.count()).select_from(face_templates).where(face_templates.c.deleted_at.is_(None))
            ).scalar()
            or 0
        )
        self._read_new(conn, conn.execute(self._rows_query(face_templates.c.id > 0)), started)
        # Ids below a row written longer ago than any transaction lasts were handed out before it,
        # so their rows are committed or never will be: not gaps worth re-reading.
        settled = (
            conn.execute(
                select(func.max(face_templates.c.id)).where(face_templates.c.created_at <= started - self._late)
            ).scalar()
            or 0
        )
        self._gaps = {i: g for i, g in self._gaps.items() if i > settled}
        self._synced_at = self._verified_at = started
        self._loaded = True

    @staticmethod
    def _rows_query(where):
        t = face_templates
        # Streamed in batches: a million rows never sit in memory as Python objects at once.
        return (
            select(t.c.id, t.c.nik, t.c.encoding, t.c.deleted_at)
            .where(where)
            .order_by(t.c.id)
            .execution_options(yield_per=50_000)
        )

    def _catch_up(self, conn, started: datetime, top: int | None = None) -> None:
        """One query: rows after the last one seen, remembered gaps, and recent deletions.

        ``top``: the largest id just probed, when known. Then a catch-up that can only bring a few
        rows (the usual one: a row or two since the last search) reads them in one go; a server-side
        cursor (PostgreSQL: DECLARE, FETCH..., CLOSE, each a round trip) is for large catch-ups only.
        """
        t = face_templates
        assert self._synced_at is not None, "caught up before the first load"  # _sync loads first
        since = self._synced_at - self._late
        gaps = list(self._gaps)
        # Asked before the rows are read: a gap none of whose writers is still running is final.
        running = self._writers(conn) if gaps else None
        # UNION ALL of index-friendly parts (an OR of them scans the table on SQLite); a row in two
        # parts (a deleted new row or gap) is read twice, harmlessly.
        columns = (t.c.id, t.c.nik, t.c.encoding, t.c.deleted_at)
        if gaps:
            query = union_all(
                select(*columns).where(t.c.id > bindparam("last_id")),
                select(*columns).where(t.c.deleted_at > bindparam("since")),
                select(*columns).where(t.c.id.in_(gaps)),
            )
        else:
            query = _CATCH_UP  # the usual case: built once
        if top is None or top - self._last_id + len(gaps) > _STREAM_ABOVE:
            query = query.execution_options(yield_per=50_000)
        result = conn.execute(query, {"last_id": self._last_id, "since": since})
        deleted = self._read_new(conn, result, started, gaps=set(gaps))
        fresh = [i for i, _ in deleted if i not in self._deleted_seen]
        self._matrix.remove(fresh)
        self._deleted_seen.update(deleted)
        self._deleted_seen = {i: at for i, at in self._deleted_seen.items() if at > since}
        # Gaps whose writers had all ended were read for the last time just now: drop them; the
        # others expire after late_commit_seconds.
        read = set(gaps)
        self._gaps = {
            i: (seen, writers)
            for i, (seen, writers) in self._gaps.items()
            if started - seen < self._late
            and not (i in read and running is not None and writers is not None and not writers & running)
        }
        self._synced_at = started

    def _read_new(self, conn, result, started, gaps: set | None = None) -> list[tuple[int, datetime]]:
        """Add the live rows of ``result``; note skipped ids as gaps; return the deletions seen."""
        gaps = gaps or set()
        last = self._last_id
        deleted: list[tuple[int, datetime]] = []
        new_ids: list[np.ndarray] = []
        for batch in result.partitions():
            ids = np.fromiter((r.id for r in batch), dtype=np.int64, count=len(batch))
            new_ids.append(ids[ids > last])
            if gaps:
                for i in gaps.intersection(ids.tolist()):
                    self._gaps.pop(i, None)
            deleted.extend((r.id, _utc(r.deleted_at)) for r in batch if r.deleted_at is not None)
            live = [r for r in batch if r.encoding is not None and (r.id > last or r.id in gaps)]
            if live:
                vectors = np.frombuffer(b"".join(r.encoding for r in live), dtype="<f4").reshape(-1, DIMENSION)
                self._matrix.add_many([r.id for r in live], [r.nik for r in live], vectors)
                self._maybe_go_approximate()
        joined = np.concatenate(new_ids) if new_ids else np.empty(0, dtype=np.int64)
        if len(joined):
            ids = np.unique(joined)
            expected = np.arange(self._last_id + 1, int(ids[-1]) + 1, dtype=np.int64)
            if len(expected) != len(ids):
                # Ids handed out but not (yet) committed: a concurrent transaction, or a rollback.
                writers = self._writers(conn)  # one of them holds each gap (or it rolled back)
                for i in np.setdiff1d(expected, ids, assume_unique=True).tolist():
                    self._gaps.setdefault(i, (started, writers))
                if len(self._gaps) > self.max_gaps:
                    # The oldest go first: a late commit among them is found by the count check.
                    for i in sorted(self._gaps)[: len(self._gaps) - self.max_gaps]:
                        del self._gaps[i]
            self._last_id = int(ids[-1])
        return deleted

    def _maybe_go_approximate(self) -> None:
        if isinstance(self._matrix, TemplateMatrix) and len(self._matrix) >= self.ann_min_size:
            ids, niks, vectors = self._matrix.live_arrays()
            ann = AnnMatrix(
                vectors, nlist=AnnMatrix.cells_for(max(len(vectors), self._expected)), nprobe=self.ann_nprobe
            )
            ann.add_many(ids, niks, vectors)
            self._matrix = ann

    def _verify(self, conn, started: datetime) -> None:
        """Compare the live count with the table's; catch up once more, then rebuild if still off."""
        for attempt in range(2):
            stored = conn.execute(
                select(func.count())
                .select_from(face_templates)
                .where(face_templates.c.deleted_at.is_(None), face_templates.c.id <= self._last_id)
            ).scalar()
            if stored == len(self._matrix):
                self._verified_at = started
                if conn.dialect.name == "postgresql":
                    self._sweep_abandoned(conn, started)
                return
            if attempt == 0:
                self._catch_up(conn, started)
        self._rebuild_locked(conn, started)

    def _sweep_abandoned(self, conn, started: datetime) -> None:
        """Tombstone a few old pending claims whose owner has ended (rolled back)."""
        old = (
            conn.execute(
                select(face_templates.c.id)
                .where(
                    face_templates.c.pending.is_(True),
                    face_templates.c.deleted_at.is_(None),
                    face_templates.c.created_at < started - timedelta(seconds=60),
                )
                .limit(100)
            )
            .scalars()
            .all()
        )
        if old:
            self._tombstone_abandoned(old)

    # -- snapshot ----------------------------------------------------------------------------------

    def _write_snapshot(self, path: Path) -> None:
        gap_ids = np.fromiter(self._gaps, dtype=np.int64, count=len(self._gaps))
        meta = np.array([self._last_id, _micros(self._synced_at)], dtype=np.int64)
        if isinstance(self._matrix, AnnMatrix):
            arrays = self._matrix.state()
        else:
            ids, niks, vectors = self._matrix.live_arrays()
            arrays = {"ids": ids, "niks": niks, "vectors": vectors}
        tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, gaps=gap_ids, meta=meta, **arrays)
        os.replace(tmp, path)

    def _load_snapshot(self, conn, path: Path) -> bool:
        """Start from the snapshot file and catch up; False (nothing loaded) when absent or stale."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                arrays = {name: saved[name] for name in saved.files}
            gaps, (last_id, synced_us) = arrays.pop("gaps"), arrays.pop("meta").tolist()
            matrix = AnnMatrix.restore(arrays) if "ann" in arrays else None
        except (FileNotFoundError, OSError, ValueError, KeyError, RuntimeError):
            return False
        self._reset()
        if matrix is not None:
            self._matrix = matrix
        else:
            self._matrix.add_many(arrays["ids"], arrays["niks"], arrays["vectors"])
        self._last_id = int(last_id)
        self._synced_at = datetime.fromtimestamp(synced_us / 1_000_000, UTC)
        started = _utc(self._clock())
        self._gaps = {int(i): (started, None) for i in gaps.tolist()}
        self._loaded = True
        if self._probe(conn) < self._last_id:
            self._rebuild_locked(conn, started)
            return True
        self._catch_up(conn, started)
        self._verify(conn, started)
        return True


def hold_dedup_lock(session: Session) -> None:
    """Take the deduplication lock in the session's transaction (released by its commit or rollback).

    PostgreSQL: ``pg_advisory_xact_lock``, waiting for the holder (``search_and_add`` no longer holds
    it through the caller's transaction on PostgreSQL, only around a claim). SQLite: a write that
    touches no row takes the database's write lock (one writer at a time; ``busy_timeout`` waits for
    it), so no other transaction can add a template until this one ends.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(_PG_DEDUP_LOCK)
    elif dialect == "sqlite":
        session.execute(_SQLITE_DEDUP_LOCK)
    else:
        raise NotImplementedError(f"no deduplication lock for {dialect}")


def _check(nik, case_ref) -> None:
    if not isinstance(nik, str):
        raise ValueError("nik must be 16 digits")
    nik_number(nik)  # raises ValueError unless 16 digits
    if not case_ref:
        raise ValueError("case_ref is required")


def _plain(session):
    # A scoped_session (Flask-SQLAlchemy's db.session) stands for the session of the current scope.
    return session.registry() if isinstance(session, scoped_session) else session


def _wrote(session: Session) -> bool:
    session = _plain(session)
    written_in = session.info.get("face_templates_written_in")
    return written_in is not None and written_in is session.get_transaction()


def _distance(encoding: bytes | None, probe: np.ndarray) -> float:
    if encoding is None:
        return float("inf")
    stored = np.frombuffer(encoding, dtype="<f4").astype(np.float64)
    return float(np.linalg.norm(stored - probe.astype(np.float64)))


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time here is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _micros(value: datetime | None) -> int:
    return 0 if value is None else int(_utc(value).timestamp() * 1_000_000)
