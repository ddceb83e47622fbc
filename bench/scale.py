"""Scale-out benchmark: N applications worked by 1, 2 and 4 `tepat worker` processes (PostgreSQL + RabbitMQ).

What is measured (prints figures; not a test)
----------------------------------------------
For each worker count W (default 1, 2, 4), on a fresh throwaway PostgreSQL database
(``tepat_scale_bench``, created and dropped by this script through the server's ``postgres``
database) with a synthetic registry imported and the processes deployed:

1. untimed preparation, as the portal's earlier requests would leave it: one registration draft per
   applicant with consent, household and payment done and the selfie stored (``record_selfie``);
2. W real ``tepat worker --concurrency 1`` processes (prefork, one child each) are started on a queue
   of their own (``--queue``, purged before and after) and waited for until they are ready, with one
   ``tepat scheduler`` (the deployment's leader, default settings; ``--no-scheduler`` leaves it out);
3. the feeder (this process) submits every application the way ``web/portal/apply.py::apply_submit``
   does: ``submit_draft`` + the "application received" notice + the audit record + one commit, with
   ``BANSOS_EXECUTION=celery`` so the commit sends the hint and the engine steps run on the workers.
   The feeder is far faster than the workers (its rate is printed), so the workers are the bottleneck;
4. the run ends when every application has left SUBMITTED (its automatic decision: ENROLLED,
   REJECTED, IN_REVIEW, ...), or at ``--timeout``.

With ``--backlog`` the feeder submits every application (each commit sends its hint) BEFORE the workers
and the scheduler start, and the rate is the workers' own: first decision to last. On this 2-core machine
the feeder (the web tier, about 9 ms of CPU per submit) otherwise takes its share of the cores the
workers and PostgreSQL run on; in a deployment the web runs on machines of its own. Without it the rate
includes that competition (first submit to last decision).

Figures per W: applications per second (commit of the first submit to the decision of the last),
p50 / p95 time from submit to decision (with a backlog this is mostly time in the queue), the
workers' CPU per application (utime + stime of each worker's process tree from /proc, over the run),
PostgreSQL's CPU per application (the server processes serving this database, from /proc; shared
background processes such as the WAL writer are left out), both again for each fifth of the decisions (whether an
application costs more as the tables and the face index grow during the run), transactions and tuples per application
(``pg_stat_database`` of this database), rows and bytes written per application (count(*) and
``pg_total_relation_size`` per table before the drafts and after the run), how long the dedup
advisory lock is held per application and how many backends wait for it (``pg_locks`` and
``pg_stat_activity`` sampled every 0.5 s), and the ratios 2 / 1 and 4 / 1. Correctness at the end: every application
decided exactly once (one decision milestone),
no bank request at enrolment (the payment cycles pay), one enrolment per enrolled case with its payment plan,
no notice twice (outbox rows per key), nothing left due.

Face matching is real (dlib through ``face_recognition``) with the photos of ../shared/faces. There
are only five people in them, so a scheme keeps the work and the outcomes realistic:

* the registry photo of every applicant is one of five reference photos (obama.jpg, biden.jpg,
  alex_lacamoire1.jpg, kit_harington1.jpeg, rose_leslie1.jpg), set on their registry record;
* the selfie is a DIFFERENT photo of the same person (obama2.jpg, biden2.jpg, ... shrunk to 640 px)
  with per-applicant pixel noise (+-2 grey levels, seeded) and re-encoded as JPEG: every selfie is
  distinct bytes, so every application pays a real face detection + encoding (in its upload check,
  see below) and a real 1:1 comparison on a worker (a true match, distance about 0.35-0.45);
* the noise moves the encoding by 0.02-0.09 (measured), the same face under another NIK sits at
  about 0.35, so with the production dedup threshold (0.5) every applicant would be a "duplicate".
  The bench sets BANSOS_FACE_DEDUP_THRESHOLD=0.01: only an identical photo counts as the same face.
  ``--duplicates`` (default 1%) applicants reuse the exact selfie of an earlier applicant under their
  own NIK: these are the planted duplicates, which the 1:N search must find (checked: reported as
  found / planted). The 1:N search still compares the probe with every template, whatever the
  threshold, so its cost is the production cost for an index of that size;
* the five reference photos are encoded on first use and kept (registry_face_templates): a registry
  photo is encoded once per deployment, not per application (integrations/registry_faces.py).

The upload check of the portal's photo step (the selfie's one encoding, in the web process) is not
part of the timed submit: it happens in an earlier request, and it keeps the template
(integrations/selfie_faces.py), so the workers recall it instead of encoding the selfie again. The
preparation makes these checks once for all worker counts in a process pool and prints their CPU per
selfie: add it to the workers' CPU for the whole cost of an application. ``--seed-templates M`` pre-fills the face index
with M random templates (a registry-sized index) before the run.

    PYTHONPATH=. .venv/bin/python bench/scale.py [--n 10000] [--quick] [--workers 1,2,4] [--backlog]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--broker amqp://...]
"""

import argparse
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import p95, postgres_bench_url  # noqa: E402

FACES = ROOT.parent / "shared" / "faces"
BENCH_DB = "tepat_scale_bench"
# (registry reference photo, selfie source): two different photos of the same person.
IDENTITIES = [
    ("obama.jpg", "obama2.jpg"),
    ("biden.jpg", "biden2.jpg"),
    ("alex_lacamoire1.jpg", "alex_lacamoire2.jpg"),
    ("kit_harington1.jpeg", "kit_harington2.jpeg"),
    ("rose_leslie1.jpg", "rose_leslie2.jpg"),
]
DEDUP_THRESHOLD = "0.01"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# integrations.face_index.DEDUP_LOCK_KEY (read here so the figure follows the code if it changes)
try:
    from integrations.face_index import DEDUP_LOCK_KEY as DEDUP_KEY
except ImportError:  # the face index was rewritten without it
    DEDUP_KEY = int.from_bytes(b"tepatdup", "big") >> 1


# --- selfies ---------------------------------------------------------------------------------------


def make_selfies(n, duplicates, seed, out):
    """Write n selfies to `out`; return [(identity index, file, planted duplicate of index or None)]."""
    import numpy as np
    from PIL import Image

    bases = []
    for _, selfie in IDENTITIES:
        image = Image.open(FACES / selfie).convert("RGB")
        image.thumbnail((640, 640))
        bases.append(np.asarray(image).astype(np.int16))
    rng = random.Random(seed)
    planted = set(rng.sample(range(n // 10 + 1, n), min(n - n // 10 - 1, round(n * duplicates))))
    out.mkdir(parents=True, exist_ok=True)
    plan = []
    for i in range(n):
        if i in planted:
            j = rng.randrange(0, i)
            while plan[j][2] is not None:
                j = rng.randrange(0, i)
            plan.append((plan[j][0], plan[j][1], j))
            continue
        who = i % len(IDENTITIES)
        noise = np.random.default_rng(seed * 1_000_003 + i).integers(-2, 3, bases[who].shape)
        pixels = np.clip(bases[who] + noise, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
        path = out / f"selfie-{i:06d}.jpg"
        path.write_bytes(buffer.getvalue())
        plan.append((who, path, None))
    return plan


def _encode_one(path):
    """In a pool process: the portal's upload check of one selfie (FaceRecognitionMatcher.encode)."""
    import hashlib

    from integrations.face import FaceRecognitionMatcher

    global _POOL_MATCHER
    if _POOL_MATCHER is None:
        _POOL_MATCHER = FaceRecognitionMatcher()
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    before = time.process_time()
    encoding = _POOL_MATCHER.encode(data)
    cpu = time.process_time() - before
    return digest, encoding.tobytes(), _POOL_MATCHER.quality_of(digest), cpu


_POOL_MATCHER = None


def check_selfies(plan):
    """The portal's photo-step check of every distinct selfie (one encoding each), in a process pool
    (untimed preparation, done once for all worker counts); return ({sha256: (encoding, quality)}, CPU s)."""
    import multiprocessing

    paths = sorted({str(p[1]) for p in plan})
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        results = pool.map(_encode_one, paths, chunksize=16)
    return {d: (e, q) for d, e, q, _ in results}, sum(r[3] for r in results)


# --- CPU from /proc --------------------------------------------------------------------------------


def _proc_stat(pid):
    """(ppid, utime+stime in seconds) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def _all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _machine_stat():
    """(busy, steal, iowait) CPU seconds of the whole machine so far, from /proc/stat's cpu line."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK, iowait / CLK_TCK


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return "?"


ANALYSE_EVERY = 60


class CpuMeter:
    """Samples the CPU of the worker process trees and of this database's PostgreSQL backends."""

    def __init__(self, roots, database, probe=None):
        self.roots = {kind: set(pids) for kind, pids in roots.items()}  # kind -> root pids of the trees
        self.database = database
        self.probe = probe  # an engine on the bench database: samples who waits for a lock
        self.waits = {"samples": 0, "advisory": 0, "other_locks": 0, "active": 0, "dedup_held": 0}
        self.seen = {kind: {} for kind in [*roots, "postgres"]}  # pid -> (first, last) cpu seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _postgres_pids(self):
        pids = []
        for pid in _all_pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    cmd = handle.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            # "postgres: postgres tepat_scale_bench 127.0.0.1(1234) idle" (a backend of this database)
            if cmd.startswith("postgres:") and f" {self.database} " in cmd:
                pids.append(pid)
        return pids

    def _tree(self, roots, stats):
        tree, changed = set(roots), True
        while changed:
            changed = False
            for pid, st in stats.items():
                if st and pid not in tree and st[0] in tree:
                    tree.add(pid)
                    changed = True
        return tree

    def sample(self):
        stats = {pid: _proc_stat(pid) for pid in _all_pids()}
        trees = [(kind, self._tree(roots, stats)) for kind, roots in self.roots.items()]
        for kind, pids in [*trees, ("postgres", self._postgres_pids())]:
            for pid in pids:
                st = _proc_stat(pid)
                if st is None:
                    continue
                first, _ = self.seen[kind].get(pid, (st[1], st[1]))
                self.seen[kind][pid] = (first, st[1])

    def start(self):
        self._machine = (time.monotonic(), _machine_stat(), self._everyone())
        self.sample()
        self._thread.start()

    @staticmethod
    def _everyone():
        return {pid: st[1] for pid in _all_pids() if (st := _proc_stat(pid)) is not None}

    def machine(self):
        """The whole machine over the measured window: cores busy, stolen by the host, waiting on I/O,
        and the processes outside the measured kinds that used the most CPU (command: cores)."""
        started, (busy0, steal0, iowait0), cpu0 = self._machine
        wall = time.monotonic() - started
        busy1, steal1, iowait1 = _machine_stat()
        ours = {pid for pids in self.seen.values() for pid in pids}
        others = {}
        for pid, cpu in self._everyone().items():
            if pid not in ours:
                name = _comm(pid)
                others[name] = others.get(name, 0.0) + cpu - cpu0.get(pid, 0.0)
        top = sorted(((cores / wall, name) for name, cores in others.items() if cores > 0), reverse=True)[:4]
        return {
            "busy": (busy1 - busy0) / wall,
            "steal": (steal1 - steal0) / wall,
            "iowait": (iowait1 - iowait0) / wall,
            "others": sum(c for c in others.values() if c > 0) / wall,
            "top": top,
        }

    def _loop(self):
        analysed = time.monotonic()
        while not self._stop.wait(0.5):
            self.sample()
            if self.probe is not None:
                self._sample_waits()
                if time.monotonic() - analysed >= ANALYSE_EVERY:
                    self._analyse()
                    analysed = time.monotonic()

    def _analyse(self):
        """Refresh the planner's statistics as autovacuum's analyze would on a production server: this
        machine's PostgreSQL runs with autovacuum off, and the plans cached on the workers' connections
        would otherwise keep scanning the tables that grow during the run (see bench/recheck.py)."""
        from sqlalchemy import text

        try:
            with self.probe.connect() as conn:
                conn.execute(text("ANALYZE"))
        except Exception:  # noqa: BLE001 - the next round tries again
            pass

    def _sample_waits(self):
        """Backends of this database running a statement, and those waiting for a lock (advisory or row)."""
        from sqlalchemy import text

        try:
            with self.probe.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT wait_event_type, wait_event FROM pg_stat_activity WHERE datname = :d "
                        "AND state = 'active' AND pid <> pg_backend_pid()"
                    ),
                    {"d": self.database},
                ).all()
                held = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = :d "
                        "AND l.locktype = 'advisory' AND l.granted "
                        "AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
                    ),
                    {"d": self.database, "hi": DEDUP_KEY >> 32, "lo": DEDUP_KEY & 0xFFFFFFFF},
                ).scalar()
        except Exception:  # noqa: BLE001 - a sample lost is no matter
            return
        self.waits["samples"] += 1
        self.waits["dedup_held"] += held
        self.waits["active"] += len(rows)
        self.waits["advisory"] += sum(1 for t, e in rows if t == "Lock" and e == "advisory")
        self.waits["other_locks"] += sum(1 for t, e in rows if t == "Lock" and e != "advisory")

    def totals(self):
        """CPU seconds so far per kind (as of the last sample)."""
        return {kind: sum(last - first for first, last in list(pids.values())) for kind, pids in self.seen.items()}

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.sample()
        self.whole_machine = self.machine()
        return {kind: sum(last - first for first, last in pids.values()) for kind, pids in self.seen.items()}


# --- the database ----------------------------------------------------------------------------------


def table_figures(conn):
    """{table: (rows, bytes)} of every table in the public schema."""
    from sqlalchemy import text

    names = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
    out = {}
    for name in names:
        rows = conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar()
        size = conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": f'public."{name}"'}).scalar()
        out[name] = (rows, size)
    return out


def db_counters(conn, database):
    from sqlalchemy import text

    conn.execute(text("SELECT pg_stat_clear_snapshot()"))
    row = (
        conn.execute(
            text(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched, tup_returned "
                "FROM pg_stat_database WHERE datname = :d"
            ),
            {"d": database},
        )
        .mappings()
        .one()
    )
    return dict(row)


def setup_database(url, tmp, extracts, applicants_wanted, seed_templates):
    """A Tepat app on `url`: fresh schema, registry imported, processes deployed, applicants chosen."""
    from sqlalchemy import select

    from engine.db import db
    from integrations.sandbox.importer import import_extracts
    from integrations.sandbox.tables import people
    from web import create_app, services
    from web.schema import reset_schema

    app = create_app(settings(url, tmp))
    with app.app_context():
        reset_schema(db.engine)
        import_extracts(extracts, db.session)
        db.session.commit()
        services().engine.deploy_folder(deployed_by="bench")
        db.session.commit()
        # One adult per household, living, in a seeded random order.
        cutoff = date(date.today().year - 18, date.today().month, 1)
        rows = db.session.execute(
            select(people.c.nik, people.c.kk_number)
            .where(people.c.alive.is_(True), people.c.birth_date <= cutoff)
            .order_by(people.c.nik)
        ).all()
        random.Random(5).shuffle(rows)
        seen, niks = set(), []
        for nik, kk in rows:
            if kk not in seen:
                seen.add(kk)
                niks.append(nik)
        if len(niks) < applicants_wanted:
            sys.exit(f"only {len(niks)} households with a living adult; raise --people")
        niks = niks[:applicants_wanted]
        if seed_templates:
            seed_face_index(db.session, seed_templates)
        db.session.commit()
    return app, niks


def seed_face_index(session, count):
    """Fill the face index with `count` random unit templates under made-up NIKs (never a match)."""
    import numpy as np
    from sqlalchemy import insert

    from engine.db import utcnow
    from integrations.face_index import face_templates

    rng = np.random.default_rng(3)
    now = utcnow()
    for start in range(0, count, 20_000):
        size = min(20_000, count - start)
        vectors = rng.standard_normal((size, 128)).astype("<f4")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        session.execute(
            insert(face_templates),
            [
                {
                    "nik": f"99{start + k:014d}",
                    "case_ref": f"SEED-{start + k}",
                    "encoding": v.tobytes(),
                    "created_at": now,
                }
                for k, v in enumerate(vectors)
            ],
        )


def settings(url, tmp, queue=None, broker=None):
    values = {
        "BANSOS_DATABASE_URL": url,
        "BANSOS_VAR_DIR": str(tmp / "var"),
        "BANSOS_PHOTO_DIR": str(tmp / "photos"),
        "BANSOS_EVIDENCE_DIR": str(tmp / "evidence"),
        "BANSOS_SANDBOX_PHOTO_DIR": str(FACES),
        "BANSOS_SCHEDULER_ENABLED": False,
        "BANSOS_SANDBOX_FAULTS": {},
        "BANSOS_FACE_DEDUP_THRESHOLD": float(DEDUP_THRESHOLD),
    }
    if queue:
        values.update({"BANSOS_EXECUTION": "celery", "BANSOS_QUEUE": queue, "BANSOS_BROKER_URL": broker})
    return values


def prepare_drafts(app, niks, plan, checked):
    """Registry photos and the drafts, as the portal's earlier requests leave them (untimed).

    The photo step's check encoded each selfie (`checked`, made once by `check_selfies` with the same
    matcher code) and kept its template (integrations/selfie_faces.py), as `post_photo` does.
    """
    import hashlib

    import numpy as np
    from sqlalchemy import update

    from cases.portal.drafts import record_selfie, record_step, start_draft
    from engine.db import db, utcnow
    from integrations.sandbox.tables import people
    from web import services

    with app.app_context():
        photos = services().photos
        face, kept = services().integrations.face, services().integrations.selfie_faces
        consent = app.config["BANSOS_CONSENT_VERSION"]
        for k, (nik, (who, selfie, _)) in enumerate(zip(niks, plan, strict=False)):
            db.session.execute(update(people).where(people.c.nik == nik).values(photo_ref=IDENTITIES[who][0]))
            draft = start_draft(db.session, nik)
            record_step(
                draft,
                "consent",
                {
                    "consent_version": consent,
                    "consent_at": utcnow().isoformat(),
                    "consent_by": f"applicant:{nik}",
                    "consent_name": None,
                },
            )
            record_step(draft, "household", {"confirmed": True, "phone": None})
            record_step(draft, "payment", {"payment_channel": "BRI", "bank_account": "1234567890"})
            data = selfie.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            encoding, quality = checked[digest]
            face.remember(digest, np.frombuffer(encoding, dtype=np.float32), quality)  # the check's encoding
            record_selfie(draft, photos.put(data))
            kept.keep(data)
            if k % 200 == 199:
                db.session.commit()
        db.session.commit()
        db.session.remove()


# --- workers ---------------------------------------------------------------------------------------


def purge_queue(broker, queue, delete=False):
    from kombu import Connection

    for name in (queue, f"{queue}.runs"):  # the instances' hints and the runs' chunk hints
        with Connection(broker, connect_timeout=3) as conn:  # a failed call closes the channel: one each
            channel = conn.default_channel
            try:
                if delete:
                    channel.queue_delete(name)
                else:
                    channel.queue_purge(name)
            except Exception:  # noqa: BLE001 - no such queue yet
                pass


def start_workers(count, env, logdir):
    procs = []
    for k in range(count):
        log = open(logdir / f"worker{k}.log", "w")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "web.cli",
                "worker",
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "--loglevel",
                "INFO",
                "--hostname",
                f"scale{k}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append((proc, log, logdir / f"worker{k}.log"))
    deadline = time.monotonic() + 120
    for proc, _, path in procs:
        while " ready." not in path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"a worker did not start:\n{path.read_text()[-3000:]}")
            time.sleep(0.2)
    return procs


def start_scheduler(env, logdir):
    """One `tepat scheduler` (the deployment's leader), with the settings of the environment."""
    log = open(logdir / "scheduler.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while "leading" not in (logdir / "scheduler.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the scheduler did not start:\n{(logdir / 'scheduler.log').read_text()[-3000:]}")
        time.sleep(0.2)
    return proc, log, logdir / "scheduler.log"


def stop_workers(procs):
    for proc, _, _ in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc, log, _ in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def worker_outcomes(procs):
    """Counts of the outcomes the workers logged ("instance N: woken|skipped|...")."""
    counts = {}
    for _, _, path in procs:
        for line in path.read_text().splitlines():
            if "instance " in line and ": " in line:
                outcome = line.rsplit(": ", 1)[1].strip()
                if outcome in ("woken", "skipped", "backoff", "incident", "None"):
                    counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# --- one run ---------------------------------------------------------------------------------------


def feed(app, niks):
    """Submit every draft as apply_submit does; return {nik: case number} and the feed's wall time."""
    from sqlalchemy import event

    from cases.audit import record
    from cases.portal.drafts import draft_of, submit_draft
    from cases.portal.notices import notify_applicant
    from engine.db import db
    from web import services

    numbers = {}
    statements = [0]

    def count(*_):
        statements[0] += 1

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", count)
        svc = services()
        assert svc.engine.defer_steps and svc.engine.hint_sender is not None, "the feeder must run with workers"
        started, cpu = time.perf_counter(), time.process_time()
        for nik in niks:
            draft = draft_of(db.session, nik)
            app_row, created = submit_draft(svc.engine, draft, actor=f"applicant:{nik}")
            if created:
                notify_applicant(
                    svc.integrations.notifier, nik, "application_received", {"case_number": app_row.case_number}
                )
            record(
                db.session,
                f"applicant:{nik}",
                "application.submit" if created else "application.submit_again",
                target_type="case",
                target_id=app_row.case_number,
                ip="127.0.0.1",
                user_agent="bench/scale.py",
            )
            numbers[nik] = app_row.case_number
            db.session.commit()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        event.remove(db.engine, "before_cursor_execute", count)
        db.session.remove()
    return numbers, elapsed, cpu, statements[0]


def wait_decided(app, n, timeout, meter=None):
    """Wait until every application has left SUBMITTED; returns (done, series), `series` being
    (decided so far, CPU seconds so far per kind) at each poll, for the CPU of each part of the run."""
    from sqlalchemy import func, select

    from cases.models import Application
    from engine.db import db

    deadline = time.monotonic() + timeout
    series = []
    with app.app_context():
        try:
            while time.monotonic() < deadline:
                left = db.session.scalar(
                    select(func.count()).select_from(Application).where(Application.status == "SUBMITTED")
                )
                total = db.session.scalar(select(func.count()).select_from(Application))
                db.session.rollback()
                if meter is not None:
                    series.append((total - left, meter.totals()))
                if total >= n and left == 0:
                    return True, series
                time.sleep(0.5)
            return False, series
        finally:
            db.session.remove()


def collect(app, numbers, plan, niks):
    """Latencies, outcomes and the correctness checks."""
    from sqlalchemy import func, select

    from cases.listeners import DECISION_STATUSES
    from cases.models import Application, CaseEvent, Enrolment, EvidenceRecord
    from engine.db import db, utcnow
    from engine.models import ProcessInstance
    from engine.wakes import WAKEABLE
    from integrations.sandbox.tables import disbursements, outbox

    with app.app_context():
        s = db.session
        apps = {a.case_number: a for a in s.scalars(select(Application))}
        milestones = {}
        for app_id, at, detail in s.execute(
            select(CaseEvent.application_id, CaseEvent.at, CaseEvent.detail)
            .where(CaseEvent.kind == "milestone")
            .order_by(CaseEvent.id)
        ):
            if (detail or {}).get("status") in DECISION_STATUSES:
                milestones.setdefault(app_id, []).append(at)
        submitted = {
            app_id: at
            for app_id, at in s.execute(
                select(CaseEvent.application_id, CaseEvent.at).where(CaseEvent.kind == "submitted")
            )
        }
        latencies, first_submit, last_decision, first_decision = [], None, None, None
        decided_once, decided_twice, undecided = 0, 0, []
        for number, a in apps.items():
            times = milestones.get(a.id, [])
            if not times:
                undecided.append(number)
                continue
            decided_once += len(times) == 1
            decided_twice += len(times) > 1
            sub = submitted[a.id]
            latencies.append((times[0] - sub).total_seconds())
            first_submit = sub if first_submit is None or sub < first_submit else first_submit
            last_decision = times[0] if last_decision is None or times[0] > last_decision else last_decision
            first_decision = times[0] if first_decision is None or times[0] < first_decision else first_decision
        statuses = {}
        for a in apps.values():
            statuses[a.status] = statuses.get(a.status, 0) + 1
        # Planted duplicates: the dedup evidence of each must name a suspected duplicate.
        dedup = {}
        for app_id, value in s.execute(
            select(EvidenceRecord.application_id, EvidenceRecord.value).where(EvidenceRecord.source == "face_index")
        ):
            dedup[app_id] = value.get("outcome")
        by_nik = {a.nik: a for a in apps.values()}
        planted = [nik for nik, (_, _, dup) in zip(niks, plan, strict=False) if dup is not None]
        found = sum(dedup.get(by_nik[nik].id) == "suspected" for nik in planted if nik in by_nik)
        false_hits = sum(
            1
            for nik, (_, _, dup) in zip(niks, plan, strict=False)
            if dup is None and nik in by_nik and dedup.get(by_nik[nik].id) == "suspected"
        )
        face = {}
        for (value,) in s.execute(select(EvidenceRecord.value).where(EvidenceRecord.source == "face")):
            face[value.get("outcome")] = face.get(value.get("outcome"), 0) + 1
        # Enrolment moves no money (the payment cycles pay every family): no disbursement request at all; each
        # enrolled case has exactly one enrolment, and each enrolment with a cash component its payment plan.
        pay_rows = s.scalar(select(func.count()).select_from(disbursements))
        enrolled = s.scalar(select(func.count()).select_from(Application).where(Application.status == "ENROLLED"))
        enrolment_rows = s.scalar(select(func.count()).select_from(Enrolment))
        enrolment_cases = s.scalar(select(func.count(func.distinct(Enrolment.application_id))))
        planned = sum(1 for (plan,) in s.execute(select(Enrolment.payment_plan)) if (plan or {}).get("programmes"))
        cash = sum(1 for (benefits,) in s.execute(select(Enrolment.benefits)) if (benefits or {}).get("components"))
        notices = s.execute(
            select(outbox.c.idempotency_key, func.count())
            .where(outbox.c.idempotency_key.isnot(None))
            .group_by(outbox.c.idempotency_key)
            .having(func.count() > 1)
        ).all()
        notice_rows = s.scalar(select(func.count()).select_from(outbox))
        due = s.scalar(
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.wake_at <= utcnow(), ProcessInstance.status.in_(WAKEABLE))
        )
        instances = dict(s.execute(select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)).all())
        s.remove()
    return {
        "latencies": sorted(latencies),
        "first_submit": first_submit,
        "last_decision": last_decision,
        "first_decision": first_decision,
        "decided_once": decided_once,
        "decided_twice": decided_twice,
        "undecided": undecided,
        "statuses": statuses,
        "planted": len(planted),
        "found": found,
        "false_hits": false_hits,
        "face": face,
        "pay_rows": pay_rows,
        "enrolled": enrolled,
        "enrolment_rows": enrolment_rows,
        "enrolment_cases": enrolment_cases,
        "planned": planned,
        "cash": cash,
        "notice_dupes": len(notices),
        "notice_rows": notice_rows,
        "due": due,
        "instances": instances,
    }


def _env_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, dict) else str(value)


def run_once(workers, args, tmp, extracts, plan, server_url, checked):
    from sqlalchemy import create_engine

    url, drop = postgres_bench_url(server_url, BENCH_DB)
    run_tmp = tmp / f"w{workers}"
    run_tmp.mkdir()
    procs = []
    try:
        app, niks = setup_database(url, run_tmp, extracts, args.n, args.seed_templates)
        probe = create_engine(url, isolation_level="AUTOCOMMIT")
        with probe.connect() as conn:
            before = table_figures(conn)
        prepare_drafts(app, niks, plan, checked)
        with probe.connect() as conn:  # statistics of the loaded tables, as autovacuum would give them
            conn.exec_driver_sql("ANALYZE")
        with app.app_context():
            from engine.db import db

            db.engine.dispose()  # its statistics reach pg_stat_database when the connections close
        time.sleep(1.5)
        purge_queue(args.broker, args.queue)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **{k: _env_value(v) for k, v in settings(url, run_tmp, args.queue, args.broker).items()},
        }
        from web import create_app

        web = create_app(settings(url, run_tmp, args.queue, args.broker))
        if args.backlog:  # every application submitted (and hinted) before a worker runs
            numbers, feed_seconds, feed_cpu, feed_statements = feed(web, niks)
        procs = start_workers(workers, env, run_tmp)
        scheduler = None
        if args.scheduler:
            scheduler = start_scheduler(env, run_tmp)
            procs.append(scheduler)
        meter = CpuMeter(
            {"workers": [p.pid for p, _, _ in procs[:workers]], "scheduler": [scheduler[0].pid] if scheduler else []},
            BENCH_DB,
            probe,
        )
        with probe.connect() as conn:
            counters_before = db_counters(conn, BENCH_DB)
        meter.start()
        if not args.backlog:
            numbers, feed_seconds, feed_cpu, feed_statements = feed(web, niks)
        complete, series = wait_decided(web, args.n, args.timeout, meter)
        cpu = meter.stop()
        with probe.connect() as conn:
            counters_after = db_counters(conn, BENCH_DB)
        time.sleep(1.0)  # the workers' last acknowledgements
        outcomes = worker_outcomes(procs)
        stop_workers(procs)
        if args.keep_logs:
            Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
            for _, _, path in procs:
                shutil.copy(path, Path(args.keep_logs) / f"w{workers}-{path.name}")
        procs = []
        result = collect(web, numbers, plan, niks)
        with probe.connect() as conn:
            after = table_figures(conn)
        probe.dispose()
        with web.app_context():
            from engine.db import db

            db.engine.dispose()
        with app.app_context():
            from engine.db import db

            db.engine.dispose()
        result.update(
            workers=workers,
            complete=complete,
            cpu=cpu,
            feed_seconds=feed_seconds,
            feed_cpu=feed_cpu,
            feed_statements=feed_statements,
            waits=meter.waits,
            machine=meter.whole_machine,
            counters={k: counters_after[k] - counters_before[k] for k in counters_before},
            tables={t: (after[t][0] - before.get(t, (0, 0))[0], after[t][1] - before.get(t, (0, 0))[1]) for t in after},
            outcomes=outcomes,
            backlog=args.backlog,
            by_part=cpu_by_part(series, args.n),
        )
        return result
    finally:
        if procs:
            stop_workers(procs)
        purge_queue(args.broker, args.queue, delete=True)
        drop()


def cpu_by_part(series, n, parts=5):
    """Worker and PostgreSQL CPU per application in each fifth of the decisions (from the polls'
    samples, the nearest poll after each boundary): whether the cost of an application grows as the
    tables and the face index grow during the run."""
    out = []
    if not series:
        return out
    start = (0, {k: 0.0 for k in series[0][1]})
    for i in range(1, parts + 1):
        bound = n * i // parts
        end = next((s for s in series if s[0] >= bound), series[-1])
        decided = end[0] - start[0]
        if decided > 0:
            out.append(
                (
                    start[0],
                    end[0],
                    (end[1]["workers"] - start[1]["workers"]) / decided * 1000,
                    (end[1]["postgres"] - start[1]["postgres"]) / decided * 1000,
                )
            )
        start = end
    return out


def report(r, n):
    lat = r["latencies"]
    w = r["workers"]
    if r["backlog"]:  # the workers' own rate: first decision to last, nothing else running
        wall = (r["last_decision"] - r["first_decision"]).total_seconds() if len(lat) > 1 else float("nan")
        rate = (len(lat) - 1) / wall if len(lat) > 1 else 0.0
        span, during = "first decision to last, the feeder done", "before the workers started"
    else:
        wall = (r["last_decision"] - r["first_submit"]).total_seconds() if lat else float("nan")
        rate = len(lat) / wall if lat else 0.0
        span, during = "first submit to last decision", "workers running"
    print(f"\n== {w} worker process{'es' if w > 1 else ''} (--concurrency 1 each) ==")
    print(
        f"  feeder: {n} submits in {r['feed_seconds']:.1f} s = {n / r['feed_seconds']:.1f} submits/s "
        f"({during}; one commit and one hint each); feeder CPU {r['feed_cpu'] / n * 1000:.1f} ms "
        f"and {r['feed_statements'] / n:.1f} SQL statements per submit"
    )
    print(
        f"  decided {len(lat)}/{n} in {wall:.1f} s ({span}): {rate:.2f} applications/s"
        + ("" if r["complete"] else "   [TIMED OUT]")
    )
    if lat:
        print(
            f"  submit -> decision: p50 {lat[len(lat) // 2]:.1f} s, p95 {p95(lat):.1f} s, max {lat[-1]:.1f} s "
            + (
                "(the whole backlog submitted before the workers started: time in the queue)"
                if r["backlog"]
                else "(with a backlog: mostly time in the queue)"
            )
        )
    whole = sum(r["cpu"][k] for k in ("workers", "scheduler", "postgres")) + r["feed_cpu"]
    whole = whole / n * 1000 + r["check_ms"]
    print(
        f"  CPU per application: workers {r['cpu']['workers'] / n * 1000:.0f} ms, "
        f"scheduler {r['cpu']['scheduler'] / n * 1000:.1f} ms, "
        f"PostgreSQL backends of this database {r['cpu']['postgres'] / n * 1000:.0f} ms  "
        f"(CPU busy {sum(r['cpu'].values()) / wall:.2f} cores of {os.cpu_count()}); with the feeder and "
        f"the upload check's encoding ({r['check_ms']:.0f} ms, an earlier web request) an application costs "
        f"{whole:.0f} ms"
    )
    m = r.get("machine")
    if m:
        print(
            f"  the whole machine meanwhile: {m['busy']:.2f} cores of {os.cpu_count()} busy, of which other processes "
            f"{m['others']:.2f} ({', '.join(f'{name} {cores:.2f}' for cores, name in m['top'])}); "
            f"stolen by the host {m['steal']:.2f}, idle waiting on I/O {m['iowait']:.2f}"
        )
    if r.get("by_part"):
        print(
            "  CPU per application by part of the run (decisions from-to: workers / PostgreSQL ms): "
            + ", ".join(f"{a}-{b}: {w:.0f} / {p:.0f}" for a, b, w, p in r["by_part"])
        )
    wt = r["waits"]
    if wt["samples"]:
        print(
            f"  backends of this database (pg_stat_activity, {wt['samples']} samples): running a statement "
            f"{wt['active'] / wt['samples']:.2f} on average, of which waiting for the dedup advisory lock "
            f"{wt['advisory'] / wt['samples']:.2f}, for another lock {wt['other_locks'] / wt['samples']:.2f}"
        )
        held = wt["dedup_held"] / wt["samples"]
        print(
            f"  dedup advisory lock held {held:.0%} of the time = {held * wall / n * 1000:.0f} ms per application "
            f"(serialised across the deployment: at most {n / (held * wall) if held else float('inf'):.1f} "
            "deduplicated applications/s whatever the workers)"
        )
    c = r["counters"]
    print(
        f"  PostgreSQL per application: {c['xact_commit'] / n:.1f} commits, {c['xact_rollback'] / n:.1f} "
        f"rollbacks, {c['tup_inserted'] / n:.1f} rows inserted, {c['tup_updated'] / n:.1f} updated, "
        f"{c['tup_deleted'] / n:.1f} deleted, {c['tup_fetched'] / n:.0f} fetched"
    )
    rows = sum(v[0] for v in r["tables"].values())
    size = sum(v[1] for v in r["tables"].values())
    own = {t: v for t, v in r["tables"].items() if not t.startswith("sandbox_")}
    print(
        f"  growth per application (count(*) and pg_total_relation_size): all tables {rows / n:.1f} rows, "
        f"{size / n / 1024:.1f} KiB; Tepat's own tables (no sandbox_*) "
        f"{sum(v[0] for v in own.values()) / n:.1f} rows, {sum(v[1] for v in own.values()) / n / 1024:.1f} KiB"
    )
    top = sorted(r["tables"].items(), key=lambda kv: -kv[1][1])[:8]
    print("    largest: " + ", ".join(f"{t} {v[0] / n:+.1f} rows {v[1] / n / 1024:.1f} KiB" for t, v in top))
    print(f"  outcomes: {dict(sorted(r['statuses'].items()))}; 1:1 face {r['face']}")
    print(f"  planted duplicates found {r['found']}/{r['planted']}; other applicants flagged {r['false_hits']}")
    print(f"  worker log: {r['outcomes']}  (skipped = a hint that found nothing due)")
    ok = (
        not r["undecided"]
        and r["decided_twice"] == 0
        and r["pay_rows"] == 0
        and r["enrolment_rows"] == r["enrolment_cases"] == r["enrolled"]
        and r["planned"] == r["cash"]
        and r["notice_dupes"] == 0
        and r["due"] == 0
    )
    print(
        f"  correctness: decided once {r['decided_once']}, twice {r['decided_twice']}, undecided "
        f"{len(r['undecided'])}; bank requests at enrolment {r['pay_rows']} (the cycles pay); enrolments "
        f"{r['enrolment_rows']} rows / {r['enrolment_cases']} cases (ENROLLED {r['enrolled']}), with a payment "
        f"plan {r['planned']} of {r['cash']} with a cash component; notices {r['notice_rows']} rows, keys sent "
        f"twice {r['notice_dupes']}; "
        f"still due {r['due']}; instances {r['instances']} -> {'OK' if ok else 'FAILED'}"
    )
    return rate, ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="applications per worker count (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="development run: --n 300")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts (default 1,2,4)")
    parser.add_argument("--people", type=int, default=None, help="registry size (default 3 x n, at least 3,000)")
    parser.add_argument("--duplicates", type=float, default=0.01, help="share of planted same-photo duplicates")
    parser.add_argument("--seed-templates", type=int, default=0, help="random templates pre-filled in the face index")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for the decisions of one run")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("TEPAT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument(
        "--broker", default=os.environ.get("TEPAT_BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    )
    parser.add_argument("--queue", default="tepat_scale_bench")
    parser.add_argument(
        "--no-scheduler",
        dest="scheduler",
        action="store_false",
        help="run without `tepat scheduler` (by default one runs, as in a deployment)",
    )
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="submit every application before the workers start, and time the workers alone (first decision "
        "to last): the web's submits then do not share the cores with the workers",
    )
    parser.add_argument("--keep-logs", default=None, help="copy the worker logs of each run to this folder")
    args = parser.parse_args()
    if args.quick:
        args.n = 300
    counts = [int(x) for x in args.workers.split(",")]
    args.people = args.people or max(3000, 3 * args.n)
    args.timeout = args.timeout or max(600.0, args.n * 1.0)

    from integrations.sandbox.generator import generate_population

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="tepat-scale-"))
    try:
        report_gen = generate_population(args.people, args.seed, tmp / "extracts")
        plan = make_selfies(args.n, args.duplicates, args.seed, tmp / "selfies")
        print(
            f"tepat scale benchmark  N={args.n} applications per run, workers {counts}, "
            f"registry {report_gen.people} people / {report_gen.households} households, PostgreSQL + RabbitMQ "
            f"(queue {args.queue}), {os.cpu_count()} cores"
        )
        print(
            "submissions: by a feeder (this process) "
            + ("before the workers start (--backlog)" if args.backlog else "while the workers run")
            + ", as the portal's apply_submit (submit_draft + notice + audit record + commit, "
            "BANSOS_EXECUTION=celery)"
        )
        print(
            f"faces: real dlib matching; selfie = another photo of the registry person + per-applicant noise "
            f"(5 identities); dedup threshold {DEDUP_THRESHOLD}; "
            f"{sum(1 for p in plan if p[2] is not None)} planted same-photo duplicates; "
            f"{args.seed_templates} random templates pre-filled; audit trail on"
        )
        print(
            "scheduler: "
            + (
                "one `tepat scheduler` (leader; BANSOS_DISPATCH_INTERVAL_SECONDS="
                f"{os.environ.get('BANSOS_DISPATCH_INTERVAL_SECONDS', 'default')}, "
                f"BANSOS_DISPATCH_RESEND_SECONDS={os.environ.get('BANSOS_DISPATCH_RESEND_SECONDS', 'default')})"
                if args.scheduler
                else "none (--no-scheduler)"
            )
        )
        checked, check_cpu = check_selfies(plan)
        print(
            f"upload checks (the photo step's request, before the submit; untimed, once for all runs): "
            f"{len(checked)} distinct selfies encoded, {1000 * check_cpu / len(checked):.0f} ms CPU each; "
            "their templates are kept (selfie_face_templates), so the workers do not encode the selfie again"
        )
        sys.stdout.flush()
        rates = {}
        all_ok = True
        for w in counts:
            result = run_once(w, args, tmp, tmp / "extracts", plan, args.postgres, checked)
            result["check_ms"] = 1000 * check_cpu / len(checked)
            rates[w], ok = report(result, args.n)
            all_ok &= ok
            sys.stdout.flush()
        print()
        base = rates.get(1)
        if base:
            for w in counts:
                if w != 1:
                    print(f"ratio {w} / 1 workers: {rates[w] / base:.2f}" + ("  (goal >= 1.7)" if w == 2 else ""))
        print(f"all runs correct: {'yes' if all_ok else 'NO'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"total run time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
