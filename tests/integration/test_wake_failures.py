"""Instances whose wake keeps failing are pushed back, then become incidents; they never starve the others."""

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, insert, select

from engine.core import Actor
from engine.db import db, utcnow
from engine.errors import IncidentNotSkippable
from engine.models import Incident, ProcessInstance
from engine.scope import OutOfScope
from engine.spec import SERIALIZER_VERSION
from engine.wakes import WAKE_BPMN_ID, wake_backoff_seconds
from tests.helpers import case, later, submit
from tests.integration.test_web import web  # noqa: F401 (fixture)
from web.scheduler import fire_due, run_due

ADMIN = Actor("admin", frozenset({"administrator", "supervisor"}))
BROKEN = 150


def _healthy_and_broken(svc, personas):
    """A rejected case (its 30-day appeal window is a timer) and BROKEN instances due a day earlier
    whose saved state no longer loads, so every wake of theirs raises."""
    number = submit(svc, personas["rich_decile"]).case_number
    healthy = db.session.get(ProcessInstance, case(number).instance_id)
    now = utcnow()
    db.session.execute(
        insert(ProcessInstance),
        [
            {
                "version_id": healthy.version_id,
                "business_key": f"BROKEN-{i:03d}",
                "region": "01",
                "status": "waiting",
                "state_json": '{"broken": true}',
                "serializer_version": SERIALIZER_VERSION,
                "wake_at": healthy.wake_at - timedelta(days=1),
                "lock_version": 0,
                "wake_failures": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(BROKEN)
        ],
    )
    db.session.commit()
    return number


def _broken():
    db.session.expire_all()
    return db.session.scalars(select(ProcessInstance).where(ProcessInstance.business_key.like("BROKEN-%"))).all()


def test_a_healthy_timer_fires_in_one_run_and_failing_wakes_back_off_then_become_incidents(svc, personas, monkeypatch):
    app = current_app._get_current_object()
    settings = svc.engine.settings
    monkeypatch.setitem(settings, "BANSOS_WAKE_MAX_FAILURES", 3)  # the default is 5; fewer runs here
    bound = 3
    number = _healthy_and_broken(svc, personas)
    with later(31):
        started = utcnow()
        assert fire_due(app) == 1  # the 150 failing ones are due first; the healthy one still fires
        assert case(number).status == "CLOSED_REJECTED"
        broken = _broken()
        assert len(broken) == BROKEN and {b.wake_failures for b in broken} == {1}
        first = wake_backoff_seconds(settings, 1)
        assert all(
            started + timedelta(seconds=first) <= b.wake_at <= utcnow() + timedelta(seconds=first) for b in broken
        )
        assert run_due(app).woken == 0  # pushed back: not due again in the same minute
        assert {b.wake_failures for b in _broken()} == {1}
    for failures in range(2, bound + 1):  # each run a day later, past any backoff
        with later(30 + failures):
            run = run_due(app)
        assert (run.woken, run.failed, run.incidents) == ((0, BROKEN, 0) if failures < bound else (0, 0, BROKEN))
    broken = _broken()
    assert {b.wake_failures for b in broken} == {bound} and {b.wake_at for b in broken} == {None}
    incidents = db.session.scalars(select(Incident).where(Incident.status == "open")).all()
    assert len(incidents) == BROKEN
    assert {(i.bpmn_id, i.task_guid, i.attempts) for i in incidents} == {(WAKE_BPMN_ID, "", bound)}
    assert f"failed {bound} times in a row" in incidents[0].error and "Last error:" in incidents[0].error
    with later(60):  # parked: no longer woken, no second incident
        run = run_due(app)
    assert (run.woken, run.failed, run.incidents) == (0, 0, 0)

    # An administrator of another district may not retry it, and the refusal changes nothing.
    incident = incidents[0]
    far = Actor("far_admin", frozenset({"administrator"}), frozenset({"25"}))
    with pytest.raises(OutOfScope):
        svc.engine.retry_incident(incident.id, far)
    db.session.commit()  # as a page does after auditing a refusal
    db.session.expire_all()
    assert db.session.get(ProcessInstance, incident.instance_id).wake_at is None
    assert db.session.get(Incident, incident.id).status == "open"

    # An administrator retries one: it is due again at once with a fresh count; a wake has no skip.
    svc.engine.retry_incident(incident.id, ADMIN)
    db.session.commit()
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, incident.instance_id)
    assert instance.wake_failures == 0 and instance.wake_at <= utcnow()
    assert db.session.get(Incident, incident.id).status == "retried"
    with pytest.raises(IncidentNotSkippable):
        svc.engine.skip_incident(incidents[1].id, ADMIN)
    db.session.rollback()
    run = run_due(app)
    assert (run.woken, run.failed) == (0, 1)  # still broken: backing off again from the start
    db.session.expire_all()
    assert db.session.get(ProcessInstance, incident.instance_id).wake_failures == 1


def test_a_bounded_run_stops_and_timers_fire_handles_every_due_instance(svc, personas, monkeypatch):
    app = current_app._get_current_object()
    number = _healthy_and_broken(svc, personas)
    monkeypatch.setitem(app.config, "BANSOS_SCHEDULER_MAX_PER_RUN", 40)
    monkeypatch.setitem(app.config, "BANSOS_SCHEDULER_BATCH_SIZE", 25)
    with later(31):
        run = run_due(app)  # the job's run ends at its bound; the rest waits for the next run
        assert (run.woken, run.failed, run.finished) == (0, 40, False)
        result = app.test_cli_runner().invoke(args=["timers", "fire"])
        assert result.exit_code == 0, result.output
        assert "1 instance(s) woken" in result.output
        assert f"failed to wake: {BROKEN - 40}" in result.output
    assert case(number).status == "CLOSED_REJECTED"
    assert (
        db.session.scalar(select(func.count()).select_from(ProcessInstance).where(ProcessInstance.wake_failures == 1))
        == BROKEN
    )


def test_a_successful_wake_clears_the_failure_count(svc, personas):
    app = current_app._get_current_object()
    number = submit(svc, personas["rich_decile"]).case_number
    instance = db.session.get(ProcessInstance, case(number).instance_id)
    instance.wake_failures = 3  # it failed before, then whatever broke it was mended
    db.session.commit()
    with later(31):
        assert fire_due(app) == 1
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance.id).wake_failures == 0


def test_an_administrator_sees_a_failed_wake_on_the_desk_and_can_only_retry_it(web, svc, personas, monkeypatch):
    import re

    from tests.integration.test_web import login, post

    app = current_app._get_current_object()
    monkeypatch.setitem(svc.engine.settings, "BANSOS_WAKE_MAX_FAILURES", 1)
    number = submit(svc, personas["rich_decile"]).case_number
    instance = db.session.get(ProcessInstance, case(number).instance_id)
    instance.state_json = '{"broken": true}'
    db.session.commit()
    with later(31):
        assert run_due(app).incidents == 1
    incident = db.session.scalars(select(Incident)).one()
    login(web, "w_administrator")
    page = web.get("/desk").get_data(as_text=True)
    assert "penjadwal gagal melanjutkan proses" in page and number in page
    assert f"/incidents/{incident.id}/retry" in page and f"/incidents/{incident.id}/skip" not in page
    refused = post(web, f"/incidents/{incident.id}/skip")
    assert refused.status_code == 302
    page = web.get("/desk").get_data(as_text=True)
    assert "Insiden ini bukan tugas, melainkan proses yang gagal dilanjutkan oleh penjadwal: pilih Ulangi." in page
    assert post(web, f"/incidents/{incident.id}/retry").status_code == 302
    db.session.expire_all()
    assert db.session.get(Incident, incident.id).status == "retried"
    assert re.search("Tidak ada insiden terbuka.", web.get("/desk").get_data(as_text=True))
