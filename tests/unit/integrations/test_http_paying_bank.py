"""The HTTP paying-bank client against the loopback bank simulator: idempotent sends, conflicts, retries."""

import json
import time
from datetime import date

import httpx
import pytest

from integrations.base import IntegrationTimeout, MalformedResponse
from integrations.http.client import HttpPolicy
from integrations.http.paying_bank import BatchConflict, HttpPayingBank, sign, signature_ok
from integrations.sandbox.bank_gateway import BankSimulator
from integrations.sandbox.paying_bank import outcome

FAST = dict(read_timeout=0.3, connect_timeout=0.5, retries=2, backoff=0.01, breaker_failures=100, breaker_reset=30.0)
BATCH = {"reference": "PKH-X-BRI", "channel": "BRI"}


def payments(n=5, amount=450000):
    return [
        {
            "reference": f"PKH-X-{i}-1",
            "nik": f"35100141019{i:05d}",
            "name": f"IBU {i}",
            "account": f"00{i:08d}",
            "amount": amount,
        }
        for i in range(1, n + 1)
    ]


@pytest.fixture
def sim():
    server = BankSimulator(secrets={"BRI": "s3cret"}, slow_seconds=0.8).start()
    yield server
    server.stop()


@pytest.fixture
def bank(sim):
    client = HttpPayingBank(sim.url("BRI"), HttpPolicy(**FAST), sleep=lambda s: None)
    yield client
    client.close()


def test_sending_a_part_twice_pays_each_reference_once_and_gets_the_first_receipt(sim, bank):
    first = bank.send_part(BATCH, payments(), "http://tepat.test/api/payments/callback")
    again = bank.send_part(BATCH, payments(), "http://tepat.test/api/payments/callback")
    assert first.accepted == again.accepted == 5 and first.references == again.references
    assert first.received_at == again.received_at  # the first receipt, unchanged
    assert sim.requests["BRI"] == 2 and len(sim.paid("PKH-X-BRI")) == 5
    assert set(sim.payouts.values()) == {1}


def test_a_reference_reused_with_another_amount_or_account_is_refused_whole(sim, bank):
    bank.send_part(BATCH, payments(3))
    changed = payments(4)
    changed[1]["amount"] += 1000
    changed[2]["account"] = "0099999999"
    with pytest.raises(BatchConflict) as refused:
        bank.send_part(BATCH, changed)
    assert refused.value.references == ["PKH-X-2-1", "PKH-X-3-1"]
    # Nothing of the refused part was taken, not even its new reference; the first amounts stand.
    assert sorted(p["reference"] for p in sim.paid()) == ["PKH-X-1-1", "PKH-X-2-1", "PKH-X-3-1"]
    assert {p["amount"] for p in sim.paid()} == {450000}


def test_a_timeout_then_a_retry_with_the_same_references_pays_once(sim, bank):
    sim.fail("slow", times=1)  # the bank takes the part but answers after the client gave up
    receipt = bank.send_part(BATCH, payments())
    assert receipt.accepted == 5 and sim.requests["BRI"] == 2
    assert set(sim.payouts.values()) == {1} and len(sim.payouts) == 5


def test_a_long_outage_is_a_transient_error_and_nothing_is_paid_twice_after_it(sim, bank):
    sim.fail("slow", times=3)
    with pytest.raises(IntegrationTimeout):
        bank.send_part(BATCH, payments())
    assert sim.requests["BRI"] == 3
    time.sleep(0.9)
    bank.send_part(BATCH, payments())
    assert set(sim.payouts.values()) == {1} and len(sim.payouts) == 5


def test_a_500_is_retried_within_the_call(sim, bank):
    sim.fail("error500", times=2)
    assert bank.send_part(BATCH, payments()).accepted == 5 and sim.requests["BRI"] == 3


def test_an_answer_about_other_payments_is_malformed():
    def lying(request):
        body = json.loads(request.content)
        return httpx.Response(
            200,
            json={
                "batch": body["batch"],
                "accepted": 1,
                "references": ["OTHER-1"],
                "received_at": "2026-01-05T03:00:00+00:00",
            },
        )

    client = HttpPayingBank(
        "http://bank.test", HttpPolicy(**{**FAST, "retries": 0}), transport=httpx.MockTransport(lying)
    )
    with pytest.raises(MalformedResponse):
        client.send_part(BATCH, payments(1))
    with pytest.raises(ValueError):
        client.send_part(BATCH, [{**payments(1)[0], "amount": 0}])


def test_callbacks_carry_the_sandbox_banks_deterministic_results_and_a_checkable_signature(sim, bank):
    bank.send_part(BATCH, payments(40), "http://tepat.test/cb")
    results = sim.results("PKH-X-BRI", date(2026, 1, 5))
    assert len(results) == 40
    assert {r["reference"] for r in results if r["status"] == "FAILED"} == {
        p["reference"] for p in payments(40) if outcome(p["nik"], "BRI")
    }
    body, headers = sim.callback("PKH-X-BRI", results, "cb-1", timestamp=1_700_000_000)
    assert headers["X-Tepat-Signature"] == sign("s3cret", "1700000000", body)
    assert signature_ok("s3cret", "1700000000", body, headers["X-Tepat-Signature"])
    assert not signature_ok("s3cret", "1700000001", body, headers["X-Tepat-Signature"])
    assert not signature_ok("", "1700000000", body, headers["X-Tepat-Signature"])
    posted = []
    sim.post_callbacks("PKH-X-BRI", date(2026, 1, 5), chunk=15, post=lambda u, b, h: posted.append((u, b)))
    assert [u for u, _ in posted] == ["http://tepat.test/cb"] * 3
    assert sum(len(json.loads(b)["results"]) for _, b in posted) == 40


def test_the_channel_setting_names_known_channels_with_file_or_a_url():
    from payments.dispatch import http_channels

    assert http_channels({"BANSOS_PAYMENT_CHANNELS": {"BRI": "https://bri.test/api", "POS": "file"}}) == {
        "BRI": "https://bri.test/api"
    }
    assert http_channels({}) == {}
    for bad in ({"BRI": "ftp://x"}, {"BRI": "http"}, {"XYZ": "file"}, ["BRI"]):
        with pytest.raises(ValueError):
            http_channels({"BANSOS_PAYMENT_CHANNELS": bad})
