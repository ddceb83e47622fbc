"""The engine runtime: versions, checks, persistence, retries and incidents, locks, crashes."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC

import pytest
from sqlalchemy import func, select

from engine.core import Actor, Engine
from engine.db import db
from engine.errors import DeployRejected, IncidentNotFound
from engine.humantasks import claim_task, complete_task
from engine.models import HumanTask, Incident, ProcessInstance, ProcessVersion
from engine.spec import SERIALIZER_VERSION
from integrations.base import IntegrationTimeout, IntegrationUnavailable
from tasks.base import REGISTRY, BpmnError
from tests.conftest import DATA_DIR, ROOT
from tests.helpers import case, later, submit, wake_all
from tests.integration.workers import FORMS as TICK_FORMS

ADMIN = Actor("admin", frozenset({"administrator", "supervisor"}))
CW = Actor("cw1", frozenset({"caseworker"}))


def _files(*names):
    return {n: (DATA_DIR / n).read_text() for n in names}


@pytest.fixture
def tick_engine(ctx):
    """An engine with the test diagrams' forms and a controllable flaky handler."""
    from web import services

    calls = []

    def flaky(context, key):
        calls.append(context.attempt)
        behaviour = flaky.plan.pop(0) if flaky.plan else "ok"
        if behaviour == "timeout":
            raise IntegrationTimeout("test", "no answer in time")
        if behaviour == "maintenance":
            error = IntegrationUnavailable("test", "HTTP 503")
            error.retry_after = 7200.0
            raise error
        if behaviour == "bug":
            raise KeyError("household")
        if behaviour == "business":
            raise BpmnError("NIK_UNKNOWN", "unknown")
        return {"value": key.upper(), "attempt": context.attempt}

    flaky.plan = []
    handlers = {**REGISTRY, "test.flaky": flaky}
    s = services()
    engine = Engine(db.session, s.engine.settings, s.integrations, TICK_FORMS, handlers=handlers, photos=s.photos)
    engine.deploy_files(_files("counter.bpmn", "flaky.bpmn", "patient.bpmn", "script_error.bpmn"), deployed_by="tests")
    db.session.commit()
    engine.flaky = flaky
    engine.calls = calls
    return engine


# --- versions and checks ------------------------------------------------------------------------


def test_deploy_is_content_addressed_and_instances_keep_their_version(svc, personas):
    before = db.session.scalar(select(func.count()).select_from(ProcessVersion))
    versions, created = svc.engine.deploy_folder()
    assert created == [] and db.session.scalar(select(func.count()).select_from(ProcessVersion)) == before
    old = versions[0]
    number = submit(svc, personas["not_in_dtsen"]).case_number
    files = dict(old.files)
    files["application.bpmn"] = files["application.bpmn"].replace(
        "Tinjau kasus / Review case", "Tinjau kasus (v2) / Review case (v2)"
    )
    versions, created = svc.engine.deploy_files(files, deployed_by="admin")
    db.session.commit()
    assert created and versions[0].id != old.id and versions[0].content_hash != old.content_hash
    instance = db.session.get(ProcessInstance, case(number).instance_id)
    assert instance.version_id == old.id
    new_case = submit(svc, personas["eligible_head_without_photo"]).case_number
    assert db.session.get(ProcessInstance, case(new_case).instance_id).version_id == versions[0].id


def test_state_is_saved_without_the_spec(svc, personas):
    app = submit(svc, personas["not_in_dtsen"])
    instance = db.session.get(ProcessInstance, case(app.case_number).instance_id)
    state = json.loads(instance.state_json)
    assert "spec" not in state and "subprocess_specs" not in state
    assert instance.serializer_version == SERIALIZER_VERSION
    assert len(instance.state_json) < len(instance.version.spec_json)


@pytest.mark.parametrize(
    "mutate, needle",
    [
        (lambda x: x.replace('id="identity.verify"', 'id="identity.nonexistent"'), "identity.nonexistent"),
        (lambda x: x.replace('value="case_review"', 'value="no_such_form"', 1), "no_such_form"),
        (lambda x: x.replace('name="AppealsOfficer"', 'name="Janitor"'), "Janitor"),
        (lambda x: x.replace("appeal_count = appeal_count + 1", "x = ().__class__"), "count_appeal"),
        (lambda x: x.replace("decision == 'approve'", "__import__('os').system('id')", 1), "decision_gateway"),
        (lambda x: x.replace("<bpmn:process ", "<bpmn:proces ", 1), "application.bpmn"),
        (lambda x: x[: len(x) // 2], "not well-formed"),
        (
            lambda x: x.replace(
                '<?xml version="1.0" encoding="UTF-8"?>',
                '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
            ),
            "DOCTYPE",
        ),
        (lambda x: x + "<!--" + "x" * (3 * 1024 * 1024) + "-->", "too large"),
    ],
)
def test_bad_diagrams_are_refused_naming_the_problem(svc, mutate, needle):
    files = {n: (ROOT / "processes" / n).read_text() for n in ("application.bpmn", "eligibility.dmn", "programmes.dmn")}
    before = db.session.scalar(select(func.count()).select_from(ProcessVersion))
    files["application.bpmn"] = mutate(files["application.bpmn"])
    with pytest.raises(DeployRejected) as err:
        svc.engine.deploy_files(files)
    db.session.rollback()
    text = json.dumps(err.value.problems) + err.value.message
    assert needle in text
    assert db.session.scalar(select(func.count()).select_from(ProcessVersion)) == before


def test_bad_dmn_is_refused(svc):
    files = {n: (ROOT / "processes" / n).read_text() for n in ("application.bpmn", "eligibility.dmn", "programmes.dmn")}
    files["programmes.dmn"] = files["programmes.dmn"].replace('hitPolicy="COLLECT"', 'hitPolicy="SOMETIMES"')
    with pytest.raises(DeployRejected) as err:
        svc.engine.deploy_files(files)
    assert "programmes.dmn" in json.dumps(err.value.problems)


# --- retries and incidents -----------------------------------------------------------------


def test_transient_failure_retries_with_backoff_then_continues(tick_engine):
    tick_engine.flaky.plan = ["timeout"]
    instance = tick_engine.start("flaky", "K-1", {"key": "abc"})
    db.session.commit()
    assert instance.status == "running" and instance.wake_at is not None
    first_wake = instance.wake_at
    assert wake_all(tick_engine) == 0  # not due yet
    with later(1):
        assert wake_all(tick_engine) == 1
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, instance.id)
    assert instance.status == "completed" and tick_engine.calls == [1, 2]
    assert first_wake is not None


def test_a_system_that_says_when_to_come_back_is_not_called_sooner(tick_engine):
    from datetime import datetime

    tick_engine.flaky.plan = ["maintenance"]
    started = datetime.now(UTC)
    instance = tick_engine.start("flaky", "K-8", {"key": "abc"})
    db.session.commit()
    # Retry-After: 7200 outweighs the host's 60-second first backoff.
    assert 7100 <= (instance.wake_at - started).total_seconds() <= 7300


def test_retries_spent_open_an_incident_that_an_administrator_retries(tick_engine):
    tick_engine.flaky.plan = ["timeout", "timeout", "timeout"]
    instance = tick_engine.start("flaky", "K-2", {"key": "abc"})
    db.session.commit()
    for day in (1, 2, 3):  # the backoff doubles, each wake must be later than the last
        with later(day):
            wake_all(tick_engine)
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, instance.id)
    assert instance.status == "incident"
    incident = db.session.scalars(select(Incident)).one()
    assert incident.attempts == 3 and "IntegrationTimeout" in incident.error and incident.operator == "test.flaky"
    tick_engine.retry_incident(incident.id, ADMIN)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance.id).status == "completed"
    assert db.session.get(Incident, incident.id).status == "retried"
    with pytest.raises(IncidentNotFound):
        tick_engine.retry_incident(incident.id, ADMIN)


def test_a_service_task_s_own_retry_policy_in_the_diagram_wins_over_the_host_settings(tick_engine):
    from datetime import datetime

    tick_engine.flaky.plan = ["timeout", "timeout", "timeout"]
    started = datetime.now(UTC)
    instance = tick_engine.start("patient", "K-9", {"key": "abc"})
    db.session.commit()
    # retryBackoffSeconds=3600: the first retry is an hour away, not the host's 60 s.
    assert 3500 <= (instance.wake_at - started).total_seconds() <= 3700
    with later(1):
        wake_all(tick_engine)
    db.session.expire_all()
    # maxAttempts=2: the second timeout already opens the incident (the host allows 3).
    assert db.session.get(ProcessInstance, instance.id).status == "incident" and tick_engine.calls == [1, 2]


@pytest.mark.parametrize("attempts, backoff", [("0", "60"), ("x", "60"), ("3", "0"), ("3", "99999999")])
def test_an_insane_retry_policy_is_refused_at_deploy(tick_engine, attempts, backoff):
    xml = (
        _files("patient.bpmn")["patient.bpmn"]
        .replace('value="2"', f'value="{attempts}"')
        .replace('value="3600"', f'value="{backoff}"')
    )
    with pytest.raises(DeployRejected) as refused:
        tick_engine.deploy_files({"patient.bpmn": xml})
    assert {p["code"] for p in refused.value.problems} & {"ATTEMPTS_RANGE", "BACKOFF_RANGE"}


def test_a_handler_bug_is_an_incident_that_can_be_skipped(tick_engine):
    tick_engine.flaky.plan = ["bug"]
    instance = tick_engine.start("flaky", "K-3", {"key": "abc"})
    db.session.commit()
    assert instance.status == "incident" and tick_engine.calls == [1]  # no retries for bugs
    incident = db.session.scalars(select(Incident)).one()
    assert "KeyError" in incident.error
    tick_engine.skip_incident(incident.id, ADMIN, result={"value": "entered by hand"})
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance.id).status == "completed"


def test_a_failing_script_is_an_incident_not_a_crash(tick_engine):
    instance = tick_engine.start("script_error", "K-4", {"facts": {}})
    db.session.commit()
    assert instance.status == "incident"
    incident = db.session.scalars(select(Incident)).one()
    assert incident.bpmn_id == "compute" and "missing" in incident.error
    tick_engine.retry_incident(incident.id, ADMIN)  # same data, same failure: a new incident
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Incident).where(Incident.status == "open")) == 1
    tick_engine.skip_incident(db.session.scalars(select(Incident).where(Incident.status == "open")).one().id, ADMIN)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance.id).status == "completed"


def test_sandbox_outage_on_a_real_case_waits_and_resumes(svc, personas, officers):
    nik = personas["not_in_dtsen"]
    svc.integrations.faults.inject("bpjs_health", nik, "timeout", times=1)
    number = submit(svc, nik).case_number
    app = case(number)
    assert app.status == "SUBMITTED"
    instance = db.session.get(ProcessInstance, app.instance_id)
    assert instance.wake_at is not None and instance.status == "running"
    with later(1):
        assert wake_all(svc) == 1
    assert case(number).status == "IN_REVIEW"


# --- locks and crashes ------------------------------------------------------------------------


def _worker_env(app):
    env = dict(os.environ)
    env.update(
        BANSOS_DATABASE_URL=app.config["BANSOS_DATABASE_URL"],
        BANSOS_VAR_DIR=app.config["BANSOS_VAR_DIR"],
        BANSOS_PHOTO_DIR=app.config["BANSOS_PHOTO_DIR"],
        PYTHONPATH=str(ROOT),
    )
    return env


def _spawn(app, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.workers", *map(str, args)],
        cwd=ROOT,
        env=_worker_env(app),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_on_one_instance_lose_nothing_and_complete_nothing_twice(tick_engine, ctx):
    instance = tick_engine.start("counter", "C-1", {"target": 20})
    db.session.commit()
    start_at = time.time() + 2
    workers = [_spawn(ctx, "loop", instance.id, name, start_at) for name in ("w1", "w2")]
    outputs = [w.communicate(timeout=180) for w in workers]
    for w, (_out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err
    done = [json.loads(out.strip().splitlines()[-1])["done"] for out, _ in outputs]
    db.session.expire_all()
    runtime = tick_engine.open(instance.id)
    assert runtime.workflow.completed and runtime.workflow.last_task.data["count"] == 20
    db.session.rollback()
    rows = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).all()
    assert sum(done) == 20
    assert len([r for r in rows if r.status == "completed"]) == 20
    assert len({r.task_guid for r in rows}) == len(rows)


def test_concurrent_completion_of_the_same_task_succeeds_once(tick_engine, ctx):
    instance = tick_engine.start("counter", "C-2", {"target": 1})
    db.session.commit()
    row = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()
    claim_task(tick_engine, row.id, CW)
    db.session.commit()
    start_at = time.time() + 2
    workers = [_spawn(ctx, "complete_once", row.id, "cw1", start_at) for _ in range(2)]
    results = [json.loads(w.communicate(timeout=120)[0].strip().splitlines()[-1]) for w in workers]
    assert sorted(r["completed"] for r in results) == [False, True]
    db.session.expire_all()
    runtime = tick_engine.open(instance.id)
    assert runtime.workflow.last_task.data["count"] == 1
    db.session.rollback()


def test_a_crash_between_act_and_save_keeps_the_last_state_and_a_rerun_continues(tick_engine, ctx):
    instance = tick_engine.start("counter", "C-3", {"target": 2})
    db.session.commit()
    row = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)).one()
    claim_task(tick_engine, row.id, CW)
    db.session.commit()
    state_before = db.session.get(ProcessInstance, instance.id).state_json
    worker = _spawn(ctx, "crash", row.id, "cw1")
    worker.communicate(timeout=120)
    assert worker.returncode == 3
    db.session.expire_all()
    assert db.session.get(ProcessInstance, instance.id).state_json == state_before
    assert db.session.get(HumanTask, row.id).status == "claimed"
    complete_task(tick_engine, row.id, CW, {"tick": "again"})
    db.session.commit()
    runtime = tick_engine.open(instance.id)
    assert runtime.workflow.last_task.data["count"] == 1
    db.session.rollback()
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(HumanTask)
            .where(HumanTask.instance_id == instance.id, HumanTask.status == "open")
        )
        == 1
    )
