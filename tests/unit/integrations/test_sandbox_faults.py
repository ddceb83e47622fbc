import pytest
from sqlalchemy import select

from integrations.base import (
    IntegrationTimeout,
    IntegrationUnavailable,
    MalformedResponse,
    TransientIntegrationError,
)
from integrations.sandbox import tables as t
from integrations.sandbox.delivery import SandboxNotifier, SandboxPaymentGateway
from integrations.sandbox.faults import SandboxFaults
from integrations.sandbox.registries import (
    SandboxAssetRegistry,
    SandboxBpjsEmployment,
    SandboxBpjsHealth,
    SandboxCivilRegistry,
    SandboxCivilServiceRegistry,
    SandboxDtsen,
)


def calls(session, faults, nik, kk):
    """Return (source, key, call) for every sandbox operation on one person."""
    factory = lambda: session  # noqa: E731
    refs = iter(f"REF-{i}" for i in range(100))
    return [
        ("civil_registry", nik, lambda: SandboxCivilRegistry(factory, faults).lookup_person(nik)),
        ("dtsen", kk, lambda: SandboxDtsen(factory, faults).lookup_household(kk)),
        ("bpjs_health", nik, lambda: SandboxBpjsHealth(factory, faults).lookup(nik)),
        ("bpjs_employment", nik, lambda: SandboxBpjsEmployment(factory, faults).lookup(nik)),
        ("assets", kk, lambda: SandboxAssetRegistry(factory, faults).lookup_household(kk)),
        ("civil_service", nik, lambda: SandboxCivilServiceRegistry(factory, faults).lookup(nik)),
        (
            "payments",
            "PAY-1",
            lambda: SandboxPaymentGateway(factory, faults).request_disbursement(
                "PAY-1", nik, 600_000, "BRI", "0123456789"
            ),
        ),
        ("notify", nik, lambda: SandboxNotifier(factory, faults).send(nik, "SMS", next(refs), {})),
    ]


@pytest.fixture
def person(session, personas):
    nik = personas["eligible_head_with_photo"]
    return nik, session.scalar(select(t.people.c.kk_number).where(t.people.c.nik == nik))


@pytest.mark.parametrize("index", range(8))
def test_injected_timeout_fails_n_times_then_recovers(session, faults, person, index):
    source, key, call = calls(session, faults, *person)[index]
    faults.inject(source, key, "timeout", times=2)
    for _ in range(2):
        with pytest.raises(IntegrationTimeout) as caught:
            call()
        assert caught.value.source == source
        assert isinstance(caught.value, TransientIntegrationError)
    assert call() is not None


@pytest.mark.parametrize("index", range(8))
def test_injected_malformed_answer_is_caught_by_validation(session, faults, person, index):
    source, key, call = calls(session, faults, *person)[index]
    faults.inject(source, key, MalformedResponse)
    with pytest.raises(MalformedResponse):
        call()
    assert call() is not None


def test_unavailable_and_clear(session, faults, person):
    source, key, call = calls(session, faults, *person)[1]
    faults.inject(source, key, IntegrationUnavailable, times=5)
    with pytest.raises(IntegrationUnavailable):
        call()
    faults.clear()
    assert call().kk_number == key


def test_rates_fail_the_same_keys_every_time():
    faults = SandboxFaults({"dtsen": {"timeout_rate": 0.3, "malformed_rate": 0.2}})
    outcomes = {}
    for i in range(400):
        key = f"35100101010{i:05d}"
        try:
            outcomes[key] = "malformed" if faults.before_call("dtsen", key) else "ok"
        except IntegrationTimeout:
            outcomes[key] = "timeout"
    share = {kind: sum(v == kind for v in outcomes.values()) / 400 for kind in ("ok", "timeout", "malformed")}
    assert 0.2 < share["timeout"] < 0.4 and 0.1 < share["malformed"] < 0.3
    for key, outcome in list(outcomes.items())[:50]:
        try:
            again = "malformed" if faults.before_call("dtsen", key) else "ok"
        except IntegrationTimeout:
            again = "timeout"
        assert again == outcome
    assert faults.before_call("bpjs_health", "any") is False  # other sources unaffected


def test_latency_sleeps():
    slept = []
    faults = SandboxFaults({"notify": {"latency_ms": 250}}, sleep=slept.append)
    faults.before_call("notify", "x")
    assert slept == [0.25]


@pytest.mark.parametrize(
    "config",
    [
        {"dukcapil": {"timeout_rate": 0.1}},
        {"dtsen": {"timeout_rat": 0.1}},
        {"dtsen": {"timeout_rate": 0.7, "malformed_rate": 0.7}},
    ],
)
def test_bad_fault_settings_are_refused(config):
    with pytest.raises(ValueError):
        SandboxFaults(config)


def test_unknown_fault_kind_is_refused(faults):
    with pytest.raises(ValueError):
        faults.inject("dtsen", "x", "explode")


@pytest.mark.parametrize("adapter", [SandboxBpjsEmployment, SandboxCivilServiceRegistry])
def test_household_look_up_keeps_each_members_faults(session, faults, personas, adapter):
    """One query for the family, but a fault injected for one member still fails the whole call."""
    nik = personas["eligible_family_with_children"]
    kk = session.scalar(select(t.people.c.kk_number).where(t.people.c.nik == nik))
    niks = list(session.scalars(select(t.people.c.nik).where(t.people.c.kk_number == kk).order_by(t.people.c.nik)))
    source = adapter.source
    registry = adapter(lambda: session, faults)
    faults.inject(source, niks[-1], "timeout", times=1)
    with pytest.raises(IntegrationTimeout):
        registry.lookup_household(niks)
    faults.inject(source, niks[0], MalformedResponse)
    with pytest.raises(MalformedResponse):
        registry.lookup_household(niks)
    assert [r.nik for r in registry.lookup_household(niks)] == niks
