"""Workers on Celery and RabbitMQ, on PostgreSQL: real `tepat worker` and `tepat scheduler` processes.

Faults: a worker killed with SIGKILL in the middle of a step, every database connection cut while
work runs, the broker restarted; two schedulers at once. Every case still reaches its decision, once; no payment and no
notice goes out twice; nothing is left due. Skipped on SQLite (the embedded default runs in
process) and when RabbitMQ does not answer. Every wait has a deadline: a hang fails, it never blocks.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import func, select, text

from cases.models import Application, CaseEvent, Enrolment, EnrolmentComponent, enrolment_components
from engine.db import db, utcnow
from engine.models import ProcessInstance
from engine.wakes import WAKEABLE
from integrations.sandbox.tables import disbursements, outbox
from tests.conftest import ROOT, faces_or_skip
from tests.helpers import submit

BROKER = os.environ.get("TEPAT_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
DEADLINE = 60  # seconds for all the work of one test


def _broker_or_skip():
    url = urlparse(BROKER)
    try:
        socket.create_connection((url.hostname or "127.0.0.1", url.port or 5672), timeout=1).close()
    except OSError as exc:
        pytest.skip(f"RabbitMQ is not reachable at {url.hostname}:{url.port or 5672} ({exc}); `.ci/run` starts it")


@pytest.fixture
def cluster(svc, settings_overrides, tmp_path):
    """Start workers and schedulers on a queue of this test's own; stop them and drop the queue after."""
    if not settings_overrides["BANSOS_DATABASE_URL"].startswith("postgresql"):
        pytest.skip("workers need PostgreSQL (SKIP LOCKED, advisory locks); the embedded SQLite mode runs in process")
    _broker_or_skip()
    queue = f"tepat-test-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "BANSOS_EXECUTION": "celery",
        "BANSOS_BROKER_URL": BROKER,
        "BANSOS_QUEUE": queue,
        "BANSOS_DISPATCH_INTERVAL_SECONDS": "0.5",
        "BANSOS_DISPATCH_RESEND_SECONDS": "2",
        "BANSOS_WAKE_BACKOFF_SECONDS": "1",
        "BANSOS_SCHEDULER_ENABLED": "false",
        "BANSOS_SERVICE_BACKOFF_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
        **{
            k: str(v)
            for k, v in settings_overrides.items()
            if isinstance(v, (str, int, float)) and not isinstance(v, bool)
        },
    }
    env.pop("BANSOS_SANDBOX_FAULTS", None)
    procs = {}

    def start(name, *args, module="web.cli", **extra_env):
        # Node names unique to this test: the broker is shared, and a node's control queue is exclusive
        # (two workers named "b@test" at once, from two test runs, would stop one of them).
        args = [f"{a[: -len('@test')]}-{queue[-10:]}@test" if a.endswith("@test") else a for a in args]
        log = open(tmp_path / f"{name}.log", "w")
        procs[name] = (
            subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**env, **extra_env},
            ),
            log,
        )
        return procs[name][0]

    def logs():
        return "\n".join(f"--- {n}\n{(tmp_path / f'{n}.log').read_text()[-3000:]}" for n in procs)

    from web.worker import hint_sender

    engine = svc.engine
    saved = engine.defer_steps, engine.hint_sender
    engine.defer_steps = True  # this process is the web: it leaves the steps to the workers
    engine.hint_sender = hint_sender({"BANSOS_BROKER_URL": BROKER, "BANSOS_QUEUE": queue})
    try:
        yield type(
            "Cluster", (), {"start": staticmethod(start), "procs": procs, "logs": staticmethod(logs), "tmp": tmp_path}
        )
    finally:
        engine.defer_steps, engine.hint_sender = saved
        for proc, _log in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, log in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.close()
        from kombu import Connection

        with Connection(BROKER, connect_timeout=3) as conn:
            conn.default_channel.queue_delete(queue)
            conn.default_channel.queue_delete(f"{queue}.runs")


def _wait(predicate, cluster, what, deadline):
    while time.monotonic() < deadline:
        db.session.rollback()
        if predicate():
            return
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}\n{cluster.logs()}")


def _undecided(numbers):
    rows = db.session.execute(
        select(Application.case_number, Application.status).where(Application.case_number.in_(numbers))
    ).all()
    return [n for n, status in rows if status == "SUBMITTED"]


def _milestones(app):
    """The statuses on a case's timeline, in order."""
    events = db.session.scalars(
        select(CaseEvent)
        .where(CaseEvent.application_id == app.id, CaseEvent.kind == "milestone")
        .order_by(CaseEvent.id)
    )
    return [(e.detail or {}).get("status") for e in events]


def _nothing_due():
    return (
        db.session.scalar(
            select(func.count())
            .select_from(ProcessInstance)
            .where(ProcessInstance.wake_at <= utcnow(), ProcessInstance.status.in_(WAKEABLE))
        )
        == 0
    )


def test_killed_worker_and_cut_connections_every_case_decided_once(cluster, svc, population):
    faces = faces_or_skip()
    personas = population["personas"]
    marker = cluster.tmp / "stalled"
    cluster.start(
        "stalling",
        "--pool",
        "solo",
        "--hostname",
        "stalling@test",
        module="tests.integration.stall_worker",
        TEPAT_TEST_STALL_MARKER=str(marker),
    )
    cluster.start("worker-b", "worker", "--pool", "solo", "--hostname", "b@test")
    cluster.start("scheduler", "scheduler")
    deadline = time.monotonic() + DEADLINE

    eligible = personas["eligible_head_with_photo"]
    from tests.integration.test_lifecycle import other_photo_of

    selfie = other_photo_of(faces, population["photo_holders"][eligible]).read_bytes()
    numbers = [submit(svc, eligible, selfie=selfie).case_number]
    numbers += [submit(svc, nik).case_number for kind, nik in personas.items() if kind != "eligible_head_with_photo"]
    # The request returned before any engine step: the cases wait for the workers.
    assert len(_undecided(numbers)) == len(numbers)

    _wait(marker.exists, cluster, "the stalling worker to reach a step", deadline)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # in the middle of a step, its effects uncommitted
    # Every other database connection (the worker, the scheduler) is cut while the work goes on.
    db.session.execute(
        text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )
    db.session.commit()

    _wait(lambda: not _undecided(numbers) and _nothing_due(), cluster, "every case's decision", deadline)

    enrolled = db.session.scalar(select(Application).where(Application.case_number == numbers[0]))
    assert enrolled.status == "ENROLLED", cluster.logs()
    # Enrolment moves no money (the payment cycles pay): no bank request at all, even with the crash and the
    # cut connections; the family is enrolled once, its components written once, its payment plan recorded.
    assert db.session.scalar(select(func.count()).select_from(disbursements)) == 0
    enrolments = db.session.scalars(select(Enrolment).where(Enrolment.nik == enrolled.nik)).all()
    assert len(enrolments) == 1 and enrolments[0].payment_plan and enrolments[0].disbursement_ref is None
    components = db.session.execute(
        select(EnrolmentComponent.programme, EnrolmentComponent.category, EnrolmentComponent.units).where(
            EnrolmentComponent.enrolment_id == enrolments[0].id
        )
    ).all()
    assert sorted(tuple(c) for c in components) == enrolment_components(enrolled.benefits, enrolled.programmes)
    sent = db.session.execute(
        select(outbox.c.recipient_nik, outbox.c.channel, outbox.c.template, func.count()).group_by(
            outbox.c.recipient_nik, outbox.c.channel, outbox.c.template
        )
    ).all()
    assert sent and all(count == 1 for *_, count in sent), sent  # no notice twice
    # Each case has one decision on its timeline, and no instance is stuck or an incident.
    for number in numbers:
        app = db.session.scalar(select(Application).where(Application.case_number == number))
        assert app.status not in ("SUBMITTED",), number
        assert _milestones(app).count(app.status) == 1, (number, app.status, _milestones(app))
        instance = db.session.get(ProcessInstance, app.instance_id)
        assert instance.status in ("waiting", "completed"), (number, instance.status)
        assert instance.wake_at is None or instance.wake_at > utcnow()


def test_two_schedulers_fire_each_timer_once(cluster, svc, personas):
    cluster.start("worker", "worker", "--pool", "solo", "--hostname", "a@test")
    first = cluster.start("scheduler-1", "scheduler")
    second = cluster.start("scheduler-2", "scheduler")
    deadline = time.monotonic() + DEADLINE
    window = svc.engine.settings["BANSOS_APPEAL_WINDOW"]
    svc.engine.settings["BANSOS_APPEAL_WINDOW"] = "PT2S"  # the appeal window's timer: due in two seconds
    try:
        rejected = [submit(svc, personas[k]).case_number for k in ("rich_decile", "high_wage", "company_owner")]
    finally:
        svc.engine.settings["BANSOS_APPEAL_WINDOW"] = window
    _wait(
        lambda: (
            db.session.scalar(
                select(func.count())
                .select_from(Application)
                .where(Application.case_number.in_(rejected), Application.status == "CLOSED_REJECTED")
            )
            == len(rejected)
        ),
        cluster,
        "the appeal windows to close",
        deadline,
    )
    for number in rejected:
        app = db.session.scalar(select(Application).where(Application.case_number == number))
        assert _milestones(app).count("CLOSED_REJECTED") == 1, _milestones(app)
        instance = db.session.get(ProcessInstance, app.instance_id)
        assert instance.status == "completed" and instance.wake_at is None
    assert first.poll() is None and second.poll() is None
    leaders = [n for n in ("scheduler-1", "scheduler-2") if "leading" in (cluster.tmp / f"{n}.log").read_text()]
    assert len(leaders) == 1, cluster.logs()


def _rabbitmqctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=60, capture_output=True)


def test_a_broker_restart_loses_no_case(cluster, svc, personas):
    if shutil.which("rabbitmqctl") is None or urlparse(BROKER).hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("restarting the broker needs the local RabbitMQ's rabbitmqctl")
    cluster.start("worker", "worker", "--pool", "solo", "--hostname", "a@test")
    cluster.start("scheduler", "scheduler")
    deadline = time.monotonic() + DEADLINE
    numbers = [submit(svc, personas["rich_decile"]).case_number]
    _wait(lambda: not _undecided(numbers), cluster, "the worker to connect and decide a case", deadline)
    _rabbitmqctl("stop_app")  # the worker and the scheduler lose the broker
    try:
        # The broker is down: the submits still commit (their hints cannot leave; the work is in the database).
        numbers += [submit(svc, personas[k]).case_number for k in ("high_wage", "company_owner")]
    finally:
        _rabbitmqctl("start_app")
    _wait(lambda: not _undecided(numbers) and _nothing_due(), cluster, "every case's decision", deadline)
    for number in numbers:
        app = db.session.scalar(select(Application).where(Application.case_number == number))
        assert app.status == "REJECTED" and _milestones(app).count("REJECTED") == 1, (number, _milestones(app))
    sent = db.session.execute(
        select(outbox.c.recipient_nik, outbox.c.channel, func.count()).group_by(
            outbox.c.recipient_nik, outbox.c.channel
        )
    ).all()
    assert len(sent) == 2 * len(numbers) and all(count == 1 for *_, count in sent), sent


def test_a_payment_cycles_set_based_steps_run_on_the_workers(cluster, svc):
    """Opening a cycle in the web leaves freeze and entitlements to a worker; the maker's task appears after."""
    from payments.cycles import open_cycle
    from payments.models import PaymentCycle
    from tests.integration.payment_support import family, finance_officers, schedule

    fin = finance_officers()
    for n in range(30):
        family([("PKH", "SD", 1)], district=f"{1 + n % 5:02d}")
    db.session.commit()
    cluster.start("worker", "worker", "--pool", "solo", "--hostname", "cycle@test")
    cluster.start("scheduler", "scheduler")
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    cycle = db.session.execute(select(PaymentCycle)).scalar_one()
    assert cycle.frozen_at is None  # the web process did not run the steps
    _wait(
        lambda: db.session.execute(select(PaymentCycle.status)).scalar_one() == "entitled",
        cluster,
        "the worker to freeze the list and compute entitlements",
        time.monotonic() + 60,
    )
    db.session.expire_all()
    cycle = db.session.execute(select(PaymentCycle)).scalar_one()
    assert cycle.member_count == 30 and cycle.planned_total == 30 * 225_000


def test_the_queue_says_how_many_hints_wait():
    """The dispatcher's backlog figure (engine.dispatch.hints_missing) read from the real broker."""
    _broker_or_skip()
    from kombu import Connection

    from web.worker import queued_hints, send_hints

    config = {"BANSOS_BROKER_URL": BROKER, "BANSOS_QUEUE": f"tepat-test-{uuid.uuid4().hex[:10]}"}
    assert queued_hints(config) is None  # no such queue yet: unknown, the dispatcher sends as before
    with Connection(BROKER, connect_timeout=3) as conn:
        conn.default_channel.queue_declare(config["BANSOS_QUEUE"], durable=True, auto_delete=False)
    try:
        send_hints(config, [11, 12, 13])
        deadline = time.monotonic() + 10
        while queued_hints(config) != 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the broker counts a published message a moment later
        assert queued_hints(config) == 3
    finally:
        with Connection(BROKER, connect_timeout=3) as conn:
            conn.default_channel.queue_delete(config["BANSOS_QUEUE"])


def test_two_workers_without_a_node_name_both_run(cluster, svc, personas):
    """`honcho start -c worker=2` (or two workers on one machine) without --hostname: each gets its own node name."""
    first = cluster.start("worker-1", "worker", "--pool", "solo")
    second = cluster.start("worker-2", "worker", "--pool", "solo")
    deadline = time.monotonic() + DEADLINE
    _wait(
        lambda: all(" ready." in (cluster.tmp / f"{n}.log").read_text() for n in ("worker-1", "worker-2")),
        cluster,
        "both workers to be ready",
        deadline,
    )
    numbers = [submit(svc, personas[k]).case_number for k in ("rich_decile", "high_wage")]
    _wait(lambda: not _undecided(numbers), cluster, "the decisions", deadline)
    assert first.poll() is None and second.poll() is None, cluster.logs()  # neither stopped at start-up


# --- payment cycles: a worker killed in the middle of the dispatch and of a results import ---------------


CYCLE_DEADLINE = 240  # seconds: a cycle's work, two workers starting one after the other on a loaded machine


def _dispatched_cycle(svc, families, channels=("BRI", "BNI", "POS")):
    """A PKH cycle approved (and, unless HTTP channels wait, sent), run inline in this process."""
    from payments.cycles import open_cycle
    from tests.integration.payment_support import family, finance_officers, schedule
    from tests.integration.test_payment_cycles import do

    fin = finance_officers()
    for n in range(families):
        channel = channels[n % len(channels)]
        family(
            [("PKH", "SD", 1 + n % 2)],
            district=f"{1 + n % 4:02d}",
            channel=channel,
            account=None if channel == "POS" else f"00{n:08d}",
            name=f"Ibu Nur {n}",
        )
    db.session.commit()
    engine = svc.engine
    saved, engine.defer_steps = engine.defer_steps, False  # the set-up runs here; the fault is on the workers
    try:
        open_cycle(engine, schedule(), "PKH-TEST-T1", fin["fin1"])
        db.session.commit()
        do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
        do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    finally:
        engine.defer_steps = saved
    return fin


def _cycle_status():
    from payments.models import PaymentCycle

    return db.session.execute(select(PaymentCycle.status)).scalar_one()


def _runs_active():
    from engine.runs import ACTIVE, Run

    return db.session.scalar(select(func.count()).select_from(Run).where(Run.status.in_(ACTIVE)))


def test_a_worker_killed_during_the_http_dispatch_pays_nobody_twice_and_the_cycle_resumes(cluster, svc):
    from integrations.sandbox.bank_gateway import BankSimulator
    from payments.models import Payment, PaymentBatch
    from tests.integration.test_payment_cycles import do

    sim = BankSimulator().start()
    try:
        fin = _dispatched_cycle(svc, 40, channels=("BRI",))
        http = {"BANSOS_PAYMENT_CHANNELS": f'{{"BRI": "{sim.url("BRI")}"}}', "BANSOS_RUN_ITEM_BACKOFF_SECONDS": "1"}
        marker = cluster.tmp / "stalled"
        cluster.start(
            "stalling",
            "--pool",
            "solo",
            "--hostname",
            "stall-d@test",
            module="tests.integration.stall_cycle_worker",
            TEPAT_TEST_STALL_MARKER=str(marker),
            TEPAT_TEST_STALL_AT="dispatch",
            **http,
        )
        cluster.start("scheduler", "scheduler", **http)
        deadline = time.monotonic() + CYCLE_DEADLINE
        do(svc, "dispatch_batches", fin["fin1"], {"sp2d_number": "SP2D-1", "sp2d_date": utcnow().date().isoformat()})
        _wait(marker.exists, cluster, "the stalling worker to send three parts", deadline)
        os.kill(int(marker.read_text()), signal.SIGKILL)  # the bank took part 3; its mark was not committed
        assert len(sim.paid()) == 15
        cluster.start("worker", "worker", "--pool", "solo", "--hostname", "after-d@test", **http)
        _wait(lambda: _cycle_status() == "dispatched", cluster, "the dispatch to resume", deadline)
        bri = db.session.execute(select(PaymentBatch)).scalar_one()
        refs = set(db.session.scalars(select(Payment.reference).where(Payment.batch_id == bri.id)))
        # The bank's ledger: every payment paid, each once; the parts taken before the kill were not sent again
        # (the two remembered), only the one whose mark was lost and those left.
        assert set(sim.payouts) == refs and len(refs) == bri.count == 40, cluster.logs()
        assert set(sim.payouts.values()) == {1}
        # Three 5-payment parts by the killed worker; the next went on after the two remembered, in one part
        # (1,000 payments a part): the third part again (answered with its first receipt) and the rest.
        assert sim.requests["BRI"] == 3 + 1, (sim.requests, cluster.logs())
        from cases.audit import AuditEntry

        sent = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.batch_sent")).one()
        assert (sent.detail["resumed_after_parts"], sent.detail["sent"], sent.detail["parts"]) == (2, 30, 1)
        assert bri.status == "dispatched" and bri.downloaded_by == "http" and bri.sent_through == max(refs)
        assert (
            db.session.scalar(select(func.count()).where(Payment.cycle_id == bri.cycle_id, Payment.status != "sent"))
            == 0
        )
    finally:
        sim.stop()


def test_a_worker_killed_during_a_results_import_loses_nothing_and_the_cycle_reconciles(cluster, svc, monkeypatch):
    import payments.results as results
    from integrations.sandbox.paying_bank import results_lines
    from integrations.sandbox.tables import outbox
    from payments.bankfile import batch_csv_lines
    from payments.models import Payment, PaymentBatch, PaymentResultImport
    from payments.results import import_and_advance
    from tests.integration.test_payment_cycles import do

    fin = _dispatched_cycle(svc, 90)
    engine = svc.engine
    saved, engine.defer_steps = engine.defer_steps, False
    try:
        do(svc, "dispatch_batches", fin["fin1"], {"sp2d_number": "SP2D-1", "sp2d_date": utcnow().date().isoformat()})
    finally:
        engine.defer_steps = saved
    assert _cycle_status() == "dispatched"
    monkeypatch.setattr(results, "ITEM_LINES", 7)  # 30 lines a batch: 5 chunks of lines, each its own transaction
    fast = {"BANSOS_RUN_ITEM_BACKOFF_SECONDS": "1"}
    marker = cluster.tmp / "stalled"
    cluster.start(
        "stalling",
        "--pool",
        "solo",
        "--hostname",
        "stall-r@test",
        module="tests.integration.stall_cycle_worker",
        TEPAT_TEST_STALL_MARKER=str(marker),
        TEPAT_TEST_STALL_AT="results",
        **fast,
    )
    cluster.start("scheduler", "scheduler", **fast)
    deadline = time.monotonic() + CYCLE_DEADLINE
    batches = db.session.execute(select(PaymentBatch).order_by(PaymentBatch.channel)).scalars().all()
    answers = {
        b.id: "".join(results_lines(list(batch_csv_lines(db.session, b)), utcnow().date())).encode() for b in batches
    }
    for b in batches:  # the upload stages the lines; the workers take them
        row = import_and_advance(engine, b, answers[b.id], f"{b.reference}.csv", fin["fin2"])
        db.session.commit()
        assert row.status == "importing"
    _wait(marker.exists, cluster, "the stalling worker to take a chunk", deadline)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # the second chunk's lines taken, not committed
    cluster.start("worker", "worker", "--pool", "solo", "--hostname", "after-r@test", **fast)
    _wait(
        lambda: _cycle_status() == "reconciled" and not _runs_active(),
        cluster,
        "the imports to resume and the cycle to reconcile",
        deadline,
    )
    imports = db.session.scalars(select(PaymentResultImport)).all()
    assert len(imports) == 3 and all(i.status == "applied" for i in imports), cluster.logs()
    # Nothing lost, nothing taken twice: every line accepted once, every payment has its result.
    assert sum(i.accepted for i in imports) == 90 and sum(i.repeated + i.refused for i in imports) == 0
    assert db.session.scalar(select(func.count()).where(Payment.status == "sent")) == 0
    assert all(b.status == "reconciled" for b in db.session.scalars(select(PaymentBatch)))
    # Each family paid told once (SMS and portal); one review per failure to review.
    sent = db.session.execute(
        select(outbox.c.recipient_nik, outbox.c.channel, func.count())
        .where(outbox.c.template == "payment_paid")
        .group_by(outbox.c.recipient_nik, outbox.c.channel)
    ).all()
    paid = db.session.scalar(select(func.count()).where(Payment.status.in_(("credited", "drawn"))))
    assert len(sent) == 2 * paid and all(n == 1 for *_, n in sent)
    reviews = db.session.scalar(select(func.count()).where(Payment.next_action == "review"))
    started = db.session.scalar(select(func.count()).where(Payment.review_instance_id.is_not(None)))
    review_instances = db.session.scalar(
        select(func.count())
        .select_from(ProcessInstance)
        .where(ProcessInstance.business_key.in_(select(Application.case_number)))
    )
    assert started == reviews and review_instances == reviews


def test_a_worker_killed_while_it_checks_an_uploaded_results_file_loses_nothing(cluster, svc):
    """The upload only keeps the file; a worker checks and stages it in one transaction. Killed there (its lines
    staged, not committed), nothing of it stays; another worker takes the item again, stages the file once, and
    its lines are taken once: the cycle reconciles."""
    from flask import current_app

    from integrations.sandbox.paying_bank import results_lines
    from payments.bankfile import batch_csv_lines
    from payments.models import Payment, PaymentBatch, PaymentResultImport, PaymentResultLine
    from payments.results import receive_results
    from tests.integration.test_payment_cycles import do

    fin = _dispatched_cycle(svc, 30)
    engine = svc.engine
    saved, engine.defer_steps = engine.defer_steps, False
    try:
        do(svc, "dispatch_batches", fin["fin1"], {"sp2d_number": "SP2D-2", "sp2d_date": utcnow().date().isoformat()})
    finally:
        engine.defer_steps = saved
    assert _cycle_status() == "dispatched"
    fast = {"BANSOS_RUN_ITEM_BACKOFF_SECONDS": "1"}
    marker = cluster.tmp / "stalled"
    cluster.start(
        "stalling",
        "--pool",
        "solo",
        "--hostname",
        "stall-f@test",
        module="tests.integration.stall_cycle_worker",
        TEPAT_TEST_STALL_MARKER=str(marker),
        TEPAT_TEST_STALL_AT="results_file",
        **fast,
    )
    cluster.start("scheduler", "scheduler", **fast)
    deadline = time.monotonic() + CYCLE_DEADLINE
    folder = Path(current_app.config["BANSOS_IMPORT_DIR"]) / "results"
    for b in db.session.execute(select(PaymentBatch).order_by(PaymentBatch.channel)).scalars().all():
        data = "".join(results_lines(list(batch_csv_lines(db.session, b)), utcnow().date())).encode()
        row, _run = receive_results(engine, b, data, f"{b.reference}.csv", fin["fin2"], folder)
        db.session.commit()
        assert row.status == "received"
    _wait(marker.exists, cluster, "the stalling worker to stage a file", deadline)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # a file's lines staged, not committed
    cluster.start("worker", "worker", "--pool", "solo", "--hostname", "after-f@test", **fast)
    _wait(
        lambda: _cycle_status() == "reconciled" and not _runs_active(),
        cluster,
        "the files to be checked again and the cycle to reconcile",
        deadline,
    )
    imports = db.session.scalars(select(PaymentResultImport)).all()
    assert len(imports) == 3 and all(i.status == "applied" for i in imports), cluster.logs()
    assert sum(i.accepted for i in imports) == 30 and sum(i.repeated + i.refused for i in imports) == 0
    assert db.session.scalar(select(func.count()).select_from(PaymentResultLine)) == 30  # staged once
    assert db.session.scalar(select(func.count()).where(Payment.status == "sent")) == 0
