"""The worker mode's pieces in process, on the configured database (no broker needed).

With BANSOS_EXECUTION = "celery" a submit commits the case with its instance due now and sends a
hint only after the commit; a worker's advance decides it, a duplicate hint finds nothing to do;
the dispatcher re-sends what stays due; the one scheduler is elected; outbound notices carry a key
that a re-run of the step computes again; /healthz and /readyz answer.
"""

import pytest
from sqlalchemy import func, select, text

from cases.operations import submit_application
from engine.db import db, utcnow
from engine.models import ProcessInstance
from integrations.sandbox.tables import outbox
from tests.helpers import case, submit
from tests.integration.portal_helpers import portal, sign_in_applicant  # noqa: F401  (fixture)
from web.dispatcher import Dispatcher, Leadership
from web.worker import advance_instance

PUBLIC_ENDPOINTS = {"health.live", "health.ready"}


@pytest.fixture
def workers_mode(svc):
    """The web side of the worker mode: steps deferred, hints recorded instead of published."""
    sent = []
    engine = svc.engine
    saved = engine.defer_steps, engine.hint_sender
    engine.defer_steps, engine.hint_sender = True, sent.extend
    yield sent
    engine.defer_steps, engine.hint_sender = saved


def _worker(svc):
    """An engine as a worker has it: it runs the steps."""
    from engine.core import Engine

    engine = Engine(db.session, svc.engine.settings, svc.integrations, svc.engine.forms, photos=svc.photos)
    engine.defer_steps = False
    return engine


def test_a_submit_leaves_the_steps_to_a_worker_and_hints_after_commit(svc, personas, workers_mode):
    app = submit(svc, personas["civil_servant"])
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert case(app.case_number).status == "SUBMITTED"  # the request did not wait for the checks
    assert instance.wake_at is not None and instance.wake_at <= utcnow() and instance.status == "running"
    assert workers_mode == [instance.id]  # one hint, sent once the case was committed

    worker = _worker(svc)
    assert advance_instance(worker, instance.id) == "woken"
    assert case(app.case_number).status == "REJECTED"
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.status == "waiting" and instance.wake_at > utcnow()  # the appeal window's timer
    notices = db.session.scalar(select(func.count()).select_from(outbox).where(outbox.c.recipient_nik == app.nik))
    # The same hint again (a duplicate delivery): nothing to do, nothing sent twice.
    assert advance_instance(worker, instance.id) == "skipped"
    assert (
        db.session.scalar(select(func.count()).select_from(outbox).where(outbox.c.recipient_nik == app.nik))
        == notices
        == 2
    )


def test_a_rolled_back_submit_sends_no_hint(svc, personas, workers_mode):
    submit_application(
        svc.engine, {"nik": personas["civil_servant"], "consent": True, "bank_account": "1234567890"}, photos=svc.photos
    )
    db.session.rollback()
    db.session.commit()
    assert workers_mode == []


def test_the_dispatcher_resends_what_stays_due_and_only_then(svc, personas, workers_mode, ctx):
    number = submit(svc, personas["high_wage"]).case_number
    workers_mode.clear()  # the submit's own hint is lost
    sent = []
    dispatcher = Dispatcher(ctx, send=sent.extend)
    dispatcher.celery = True
    dispatcher.last_purge = float("inf")  # the purges are not what this test is about
    assert dispatcher.dispatch_due() == 1 and sent == [case(number).instance_id]
    assert dispatcher.dispatch_due() == 0  # within the resend interval: no second hint
    dispatcher.sent = {i: t - 10_000 for i, t in dispatcher.sent.items()}  # the interval has passed
    assert dispatcher.dispatch_due() == 1
    advance_instance(_worker(svc), sent[0])
    dispatcher.sent.clear()
    assert dispatcher.dispatch_due() == 0  # decided: nothing due any more
    assert case(number).status == "REJECTED"


def test_the_dispatcher_does_not_hint_a_backlog_again(svc, personas, workers_mode, ctx):
    """Hints waiting in the queue belong to the latest-due instances: only the earliest beyond them are sent."""
    numbers = [submit(svc, personas[p]).case_number for p in ("high_wage", "civil_servant", "rich_decile")]
    ids = [case(n).instance_id for n in numbers]  # due in this order (wake_at = their submit)
    assert workers_mode == ids
    waiting = {"hints": 3}
    sent = []
    dispatcher = Dispatcher(ctx, send=sent.extend, queued=lambda: waiting["hints"])
    dispatcher.celery = True
    dispatcher.last_purge = float("inf")
    assert dispatcher.dispatch_due() == 0 and sent == []  # all three hints still wait: nothing to add
    waiting["hints"] = 1  # two were lost (or taken and dropped): the two earliest-due may lack one
    assert dispatcher.dispatch_due() == 2 and sent == ids[:2]
    waiting["hints"] = None  # the broker does not say: every due instance, as before
    dispatcher.sent.clear()
    sent.clear()
    assert dispatcher.dispatch_due() == 3 and sent == ids
    waiting["hints"] = 0
    dispatcher.sent.clear()
    sent.clear()
    assert dispatcher.dispatch_due() == 3 and sent == ids


def test_one_scheduler_leads(ctx):
    url = ctx.config["BANSOS_DATABASE_URL"]
    first, second = Leadership(url), Leadership(url)
    try:
        if not url.startswith("postgresql"):
            assert first.hold() and second.hold()  # SQLite: one machine, nothing to elect
            return
        assert first.hold() and not second.hold()
        assert first.hold() and not second.hold()  # it keeps the lead
        first.release()  # the leader stops (a dead connection releases it too: test_workers.py)
        assert second.hold() and not first.hold()
    finally:
        first.release()
        second.release()


def test_a_step_run_again_sends_its_notice_with_the_same_key(svc, personas, workers_mode):
    app = submit(svc, personas["civil_servant"])
    worker = _worker(svc)

    def run_once():
        worker.wake(app.instance_id)
        db.session.flush()
        keys = sorted(db.session.scalars(select(outbox.c.idempotency_key).where(outbox.c.recipient_nik == app.nik)))
        db.session.rollback()  # the worker dies before its commit
        return keys

    first, again = run_once(), run_once()
    assert len(first) == 2 and all(first) and first == again
    # A provider that keeps the key sends nothing the second time.
    notifier = svc.integrations.notifier
    one = notifier.send(app.nik, "SMS", "decision_rejected", {"case": "x"}, idempotency_key="k-1")
    assert notifier.send(app.nik, "SMS", "decision_rejected", {"case": "x"}, idempotency_key="k-1") == one
    assert len([m for m in notifier.outbox(app.nik) if m["message_id"] == one]) == 1
    db.session.rollback()


def test_the_portal_page_follows_a_case_being_checked(portal, svc, personas, workers_mode):  # noqa: F811
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in html and "Halaman ini diperbarui otomatis" in html
    advance_instance(_worker(svc), case(number).instance_id)
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in html and "Tidak disetujui" in html


def test_health_and_readiness(ctx):
    client = ctx.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    body = ready.get_json()
    # The schedule's runway depends on today's date (test_schedule_runway.py pins it); it never fails readiness.
    assert ready.status_code == 200 and body["status"] == "ok" and body["checks"] == {"database": "ok"}
    assert set(body["details"]) == {"payment_schedule"}
    ctx.config["BANSOS_EXECUTION"], broker = "celery", ctx.config["BANSOS_BROKER_URL"]
    ctx.config["BANSOS_BROKER_URL"] = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens there
    try:
        ready = client.get("/readyz")
    finally:
        ctx.config["BANSOS_EXECUTION"], ctx.config["BANSOS_BROKER_URL"] = "inline", broker
    assert ready.status_code == 503
    assert ready.get_json()["checks"] == {"database": "ok", "broker": "failing"}
    assert ready.get_json()["status"] == "unavailable"


def test_the_inline_scheduler_wakes_due_instances_itself(svc, personas, ctx):
    import threading

    from tests.helpers import later
    from web.dispatcher import run_scheduler

    number = submit(svc, personas["rich_decile"]).case_number  # inline: decided in the request
    assert case(number).status == "REJECTED"
    stop, woken = threading.Event(), []

    class Once(Dispatcher):
        def tick(self):
            woken.append(super().tick())
            stop.set()

    with later(31):  # past the appeal window
        run_scheduler(ctx, stop, Leadership(ctx.config["BANSOS_DATABASE_URL"]), Once(ctx))
    assert woken == [1] and case(number).status == "CLOSED_REJECTED"


def test_a_worker_finding_the_instance_locked_moves_on_at_once(svc, personas, workers_mode, ctx):
    import time

    from sqlalchemy import update

    if not ctx.config["BANSOS_DATABASE_URL"].startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's; the embedded SQLite mode runs in one process")
    app = submit(svc, personas["civil_servant"])
    with db.engine.connect() as other:  # someone else (another worker, a request) holds the instance
        other.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == app.instance_id)
            .values(lock_version=ProcessInstance.lock_version + 1)
        )
        db.session.execute(text("SET LOCAL lock_timeout = '5s'"))  # a worker that waited fails, not hangs
        started = time.monotonic()
        assert advance_instance(_worker(svc), app.instance_id) == "skipped"
        assert time.monotonic() - started < 5  # it did not wait for the lock
        other.rollback()
    assert case(app.case_number).status == "SUBMITTED"  # still due: the next hint decides it
    assert advance_instance(_worker(svc), app.instance_id) == "woken"
    assert case(app.case_number).status == "REJECTED"


def test_a_step_whose_worker_died_backs_off_then_becomes_an_incident(svc, personas, workers_mode):
    from engine.models import Incident

    app = submit(svc, personas["civil_servant"])
    worker = _worker(svc)
    # The broker gives the message again: the worker that had it died in the middle of the step.
    assert advance_instance(worker, app.instance_id, redelivered=True) == "backoff"
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.wake_failures == 1 and instance.wake_at > utcnow()  # not run again at once
    assert advance_instance(worker, app.instance_id) == "skipped"  # a hint meanwhile: not due yet
    instance.wake_at = utcnow()
    db.session.commit()
    worker.settings["BANSOS_WAKE_MAX_FAILURES"], bound = 2, worker.settings["BANSOS_WAKE_MAX_FAILURES"]
    try:
        assert advance_instance(worker, app.instance_id, redelivered=True) == "incident"
    finally:
        worker.settings["BANSOS_WAKE_MAX_FAILURES"] = bound
    incident = db.session.scalar(select(Incident).where(Incident.instance_id == app.instance_id))
    assert incident.status == "open" and "worker died" in incident.error
    assert case(app.case_number).status == "SUBMITTED"  # waits for an administrator's retry


def test_a_message_and_a_completed_task_leave_their_steps_to_a_worker(svc, personas, officers, workers_mode):
    from cases.operations import file_appeal
    from tests.helpers import work

    number = submit(svc, personas["high_wage"]).case_number
    worker = _worker(svc)
    advance_instance(worker, case(number).instance_id)
    assert case(number).status == "REJECTED"
    workers_mode.clear()
    file_appeal(svc.engine, number, {"reason": "The wage on record belongs to a job I lost in May."})
    db.session.commit()
    instance_id = case(number).instance_id
    assert workers_mode == [instance_id] and advance_instance(worker, instance_id) == "woken"
    assert case(number).status == "APPEAL_REVIEW"
    workers_mode.clear()
    work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {
            "appeal_outcome": "uphold",
            "appeal_reason_codes": ["APPEAL_REGISTRY_CONFIRMS"],
            "appeal_notes": "employer confirms the wage",
        },
    )
    assert case(number).status == "APPEAL_REVIEW" and workers_mode == [instance_id]  # the request did not run on
    assert advance_instance(worker, instance_id) == "woken"
    assert case(number).status == "CLOSED_REJECTED"
