"""A failing outside system never loses an application: the case waits, retries, and goes on."""

import pytest
from sqlalchemy import select

from cases.models import EvidenceRecord
from engine.db import db
from engine.models import Incident, ProcessInstance
from integrations.http.client import HttpPolicy
from integrations.http.registries import HttpDtsen
from tests.helpers import case, later, submit, wake_all
from tests.unit.integrations.contract.simulator import RegistrySimulator

# A small budget inside one call, so the engine's own retries (3 attempts, 60 s doubling) do the work.
POLICY = HttpPolicy(
    read_timeout=0.5, connect_timeout=0.5, retries=1, backoff=0.01, breaker_failures=2, breaker_reset=60.0
)


@pytest.fixture
def dtsen_server(svc):
    """A DTSEN simulator over the app's sandbox tables, wired in place of the sandbox DTSEN."""
    server = RegistrySimulator(db.engine).start()
    adapter = HttpDtsen(server.url("dtsen"), POLICY)
    original, svc.integrations.dtsen = svc.integrations.dtsen, adapter
    yield server
    svc.integrations.dtsen = original
    adapter.close()
    server.stop()


def instance_of(app):
    db.session.expire_all()
    return db.session.get(ProcessInstance, app.instance_id)


def dtsen_evidence(app):
    return db.session.scalars(
        select(EvidenceRecord).where(EvidenceRecord.application_id == app.id, EvidenceRecord.source == "dtsen")
    ).all()


def test_the_case_waits_through_an_outage_and_goes_on_when_dtsen_heals(svc, personas, dtsen_server):
    dtsen_server.fail("error500")
    number = submit(svc, personas["not_in_dtsen"]).case_number
    app = case(number)
    assert app.status == "SUBMITTED"
    instance = instance_of(app)
    assert instance.status == "running" and instance.wake_at is not None
    assert dtsen_server.count("dtsen") == 2  # the adapter's own budget: one try and one retry
    assert db.session.scalars(select(Incident)).all() == []

    dtsen_server.heal()
    with later(1):  # past the engine's backoff and the breaker's cool-down
        assert wake_all(svc) == 1
    app = case(number)
    assert app.status == "IN_REVIEW"
    assert dtsen_server.count("dtsen") == 3
    evidence = dtsen_evidence(app)
    assert len(evidence) == 1 and evidence[0].value["decile"] is None


def test_retries_spent_make_an_incident_that_an_administrator_retries_after_the_fix(
    svc, personas, officers, dtsen_server
):
    dtsen_server.stop()  # connections refused
    number = submit(svc, personas["not_in_dtsen"]).case_number
    for day in (1, 2):  # the engine's second and third attempts (60 s, then 120 s later)
        with later(day):
            assert wake_all(svc) == 1
    app = case(number)
    assert app.status == "SUBMITTED"
    instance = instance_of(app)
    assert instance.status == "incident"
    incident = db.session.scalars(select(Incident).where(Incident.status == "open")).one()
    assert incident.attempts == 3 and incident.operator == "dtsen.lookup"
    assert "IntegrationUnavailable" in incident.error or "CircuitOpen" in incident.error

    dtsen_server.start()  # same port: the adapter's URL stays right
    with later(3):  # an administrator retries once the registry is back and the breaker cooled down
        svc.engine.retry_incident(incident.id, officers["admin"])
        db.session.commit()
    app = case(number)
    assert app.status == "IN_REVIEW"
    assert db.session.get(Incident, incident.id).status == "retried"
    assert len(dtsen_evidence(app)) == 1 and dtsen_server.count("dtsen") == 1
