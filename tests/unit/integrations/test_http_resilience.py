"""The HTTP adapters against a real loopback server that misbehaves: timeouts, retries, breaker."""

import threading
import time
from datetime import UTC

import httpx
import pytest
from sqlalchemy import func, select

from integrations.base import (
    IntegrationTimeout,
    IntegrationUnavailable,
    MalformedResponse,
    PersonNotFound,
)
from integrations.http.client import CircuitOpen, HttpPolicy, RequestRejected
from integrations.http.delivery import HttpNotifier, HttpPaymentGateway
from integrations.http.registries import HttpBpjsHealth, HttpCivilRegistry, HttpDtsen
from integrations.sandbox import tables as t
from tests.unit.integrations.contract.simulator import RegistrySimulator, copy_sqlite

UNKNOWN_KK = "3510010101059999"
# Short timeouts and no real sleeping between retries (waits are recorded instead).
FAST = dict(read_timeout=0.3, connect_timeout=0.5, retries=2, backoff=0.05, breaker_failures=100, breaker_reset=30.0)


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting the requests it tries to send (refused ones included)."""

    def __init__(self):
        super().__init__()
        self.sent = 0

    def handle_request(self, request):
        self.sent += 1
        return super().handle_request(request)


@pytest.fixture(scope="module")
def registry_db(loaded_engine, tmp_path_factory):
    engine = copy_sqlite(loaded_engine, tmp_path_factory.mktemp("resilience") / "registry.sqlite")
    yield engine
    engine.dispose()


@pytest.fixture
def sim(registry_db):
    server = RegistrySimulator(registry_db, slow_seconds=2.0).start()
    yield server
    server.stop()


@pytest.fixture
def make(sim):
    """Build an HTTP adapter against the simulator: make(HttpDtsen, retries=0, ...)."""
    built = []

    def build(cls, system=None, **policy):
        transport, waits = CountingTransport(), []
        system = system or cls.source
        adapter = cls(sim.url(system), HttpPolicy(**{**FAST, **policy}), transport=transport, sleep=waits.append)
        adapter.transport, adapter.waits = transport, waits
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


@pytest.fixture
def kk(personas, session):
    return session.scalar(select(t.people.c.kk_number).where(t.people.c.nik == personas["rich_decile"]))


def test_a_healthy_answer_is_parsed_with_evidence(make, sim, kk):
    record = make(HttpDtsen).lookup_household(kk)
    assert record.kk_number == kk and record.decile is not None
    assert record.evidence.source == "dtsen" and record.evidence.checked_at.tzinfo is not None
    assert record.evidence.value["kk_number"] == kk and sim.count("dtsen") == 1


@pytest.mark.parametrize(
    "mode, error",
    [
        ("slow", IntegrationTimeout),
        ("error500", IntegrationUnavailable),
        ("throttled", IntegrationUnavailable),
        ("not_json", MalformedResponse),
        ("wrong_shape", MalformedResponse),
    ],
)
def test_each_failure_is_retried_with_backoff_then_reported(make, sim, kk, mode, error):
    dtsen = make(HttpDtsen, retries=2, backoff=0.05)
    sim.fail(mode)
    with pytest.raises(error) as caught:
        dtsen.lookup_household(kk)
    assert not isinstance(caught.value, CircuitOpen)
    assert sim.count("dtsen") == 3 and dtsen.transport.sent == 3
    # Exponential backoff with jitter: 0.05 then 0.1, each plus up to 0.05 at random.
    first, second = dtsen.waits
    assert 0.05 <= first <= 0.1 and 0.1 <= second <= 0.15


def test_a_short_retry_after_is_waited_out_within_the_call(make, sim, kk):
    dtsen = make(HttpDtsen, retries=2, backoff=0.05)
    sim.fail("throttled_briefly", times=2)
    assert dtsen.lookup_household(kk).kk_number == kk
    assert sim.count("dtsen") == 3 and dtsen.waits and all(2.0 <= w < 2.2 for w in dtsen.waits)


def test_a_long_retry_after_ends_the_call_and_is_reported_to_the_engine(make, sim, kk):
    dtsen = make(HttpDtsen, retries=2, backoff=0.05, max_retry_after=10.0)
    sim.fail("throttled_for_an_hour")
    with pytest.raises(IntegrationUnavailable) as caught:
        dtsen.lookup_household(kk)
    assert caught.value.retry_after == 3600 and sim.count("dtsen") == 1 and dtsen.waits == []


def test_retry_after_as_seconds_or_an_http_date():
    from datetime import datetime

    from integrations.http.client import retry_after_seconds

    now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    answer = lambda value: httpx.Response(503, headers={"Retry-After": value} if value else {})  # noqa: E731
    assert retry_after_seconds(answer("120"), now) == 120
    assert retry_after_seconds(answer("Sat, 28 Nov 2026 04:05:00 GMT"), now) == 300
    assert retry_after_seconds(answer("Sat, 28 Nov 2026 03:00:00 GMT"), now) == 0
    assert retry_after_seconds(answer("soon"), now) is None and retry_after_seconds(answer(None), now) is None


def test_a_refused_connection_is_unavailable_after_the_same_attempts(make, sim, kk):
    dtsen = make(HttpDtsen, retries=2)
    sim.stop()
    with pytest.raises(IntegrationUnavailable, match="ConnectError"):
        dtsen.lookup_household(kk)
    assert dtsen.transport.sent == 3 and len(dtsen.waits) == 2


def test_business_answers_and_rejections_are_not_retried(make, sim, kk):
    dtsen = make(HttpDtsen, retries=3)
    with pytest.raises(PersonNotFound):
        dtsen.lookup_household(UNKNOWN_KK)
    assert sim.count("dtsen") == 1
    sim.fail("bad_request", times=1)
    with pytest.raises(RequestRejected, match="400"):
        dtsen.lookup_household(kk)
    assert sim.count("dtsen") == 2 and dtsen.waits == []
    # A 404 without the NOT_FOUND code is a wrong URL, not an unknown family.
    with pytest.raises(RequestRejected, match="404"):
        make(HttpDtsen, system="no_such_service").lookup_household(kk)


def test_retries_recover_when_the_server_recovers_within_the_budget(make, sim, kk):
    dtsen = make(HttpDtsen, retries=2)
    sim.fail("error500", times=2)
    assert dtsen.lookup_household(kk).kk_number == kk
    assert sim.count("dtsen") == 3
    sim.fail("error500", times=3)  # one failure more than the budget
    with pytest.raises(IntegrationUnavailable):
        dtsen.lookup_household(kk)
    assert sim.count("dtsen") == 6
    assert dtsen.lookup_household(kk).kk_number == kk  # healed by itself after K failures


def test_the_breaker_opens_fails_fast_and_closes_after_the_cool_down(make, sim, kk):
    dtsen = make(HttpDtsen, retries=0, breaker_failures=3, breaker_reset=0.5)
    sim.fail("error500")
    for _ in range(3):
        with pytest.raises(IntegrationUnavailable) as caught:
            dtsen.lookup_household(kk)
        assert not isinstance(caught.value, CircuitOpen)  # the tripping call reports its own failure
    assert dtsen.http.breaker.current_state == "open"
    sent, received = dtsen.transport.sent, sim.count()
    started = time.monotonic()
    with pytest.raises(CircuitOpen):
        dtsen.lookup_household(kk)
    assert time.monotonic() - started < 0.05
    assert (dtsen.transport.sent, sim.count()) == (sent, received)  # no network call at all
    sim.heal()
    time.sleep(0.6)
    assert dtsen.lookup_household(kk).kk_number == kk  # the trial call
    assert dtsen.http.breaker.current_state == "closed" and sim.count() == received + 1


def test_a_failed_trial_call_opens_the_breaker_again(make, sim, kk):
    dtsen = make(HttpDtsen, retries=0, breaker_failures=1, breaker_reset=0.3)
    sim.fail("not_json")
    with pytest.raises(MalformedResponse):
        dtsen.lookup_household(kk)
    time.sleep(0.35)
    with pytest.raises(MalformedResponse):
        dtsen.lookup_household(kk)  # half-open: one trial, which fails
    with pytest.raises(CircuitOpen):
        dtsen.lookup_household(kk)
    assert sim.count("dtsen") == 2


def test_an_opening_breaker_ends_the_retries_of_the_call(make, sim, kk):
    dtsen = make(HttpDtsen, retries=5, breaker_failures=2)
    sim.fail("error500")
    with pytest.raises(CircuitOpen):
        dtsen.lookup_household(kk)
    assert sim.count("dtsen") == 2


def test_business_answers_do_not_open_the_breaker(make, sim):
    dtsen = make(HttpDtsen, retries=0, breaker_failures=2)
    for _ in range(4):
        with pytest.raises(PersonNotFound):
            dtsen.lookup_household(UNKNOWN_KK)
    assert dtsen.http.breaker.current_state == "closed"


def test_each_system_has_its_own_breaker(make, sim, kk, personas):
    dtsen = make(HttpDtsen, retries=0, breaker_failures=1)
    health = make(HttpBpjsHealth, retries=0, breaker_failures=1)
    sim.fail("error500", system="dtsen")
    with pytest.raises(IntegrationUnavailable):
        dtsen.lookup_household(kk)
    with pytest.raises(CircuitOpen):
        dtsen.lookup_household(kk)
    assert health.lookup(personas["rich_decile"]).nik == personas["rich_decile"]


def test_calls_to_one_system_run_concurrently(make, sim, kk):
    dtsen = make(HttpDtsen, read_timeout=3.0)
    sim.slow_seconds = 0.5
    sim.fail("slow")
    results = []
    threads = [threading.Thread(target=lambda: results.append(dtsen.lookup_household(kk))) for _ in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Serialised calls (a breaker holding its lock during the call) would take 1.5 s.
    assert len(results) == 3 and time.monotonic() - started < 1.2


def test_photos_are_checked_for_an_image_content_type(make, sim, personas):
    civil = make(HttpCivilRegistry, retries=0)
    assert civil.reference_photo(personas["eligible_head_without_photo"]) is None
    sim.fail("not_json", times=1)
    with pytest.raises(MalformedResponse, match="content type"):
        civil.reference_photo(personas["eligible_head_without_photo"])


def test_a_payment_retried_after_a_lost_answer_is_paid_once(make, sim, personas, registry_db):
    payments = make(HttpPaymentGateway, retries=2)
    sim.fail("slow", times=1, system="payments")  # the first answer comes after the client gave up
    receipt = payments.request_disbursement("LOST-ANSWER-1", personas["rich_decile"], 600_000, "POS", None)
    sim.heal()
    assert receipt.reference == "LOST-ANSWER-1" and sim.count("payments") == 2
    assert payments.request_disbursement("LOST-ANSWER-1", personas["rich_decile"], 600_000, "POS", None) == receipt
    time.sleep(0.2)  # let the late first request finish
    with registry_db.connect() as conn:
        rows = conn.scalar(
            select(func.count()).select_from(t.disbursements).where(t.disbursements.c.reference == "LOST-ANSWER-1")
        )
    assert rows == 1


def test_a_message_retried_after_a_lost_answer_is_sent_once(make, sim, personas):
    notifier = make(HttpNotifier, retries=2)
    nik = personas["deceased"]
    before = len(notifier.outbox(nik))
    sim.fail("slow", times=1, system="notify")
    message_id = notifier.send(nik, "SMS", "decision_rejected", {"case": "TPT-9"})
    sim.heal()
    time.sleep(0.2)  # let the late first request finish
    outbox = notifier.outbox(nik)
    assert len(outbox) == before + 1 and outbox[-1]["message_id"] == message_id
