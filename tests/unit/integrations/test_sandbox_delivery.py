from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from integrations.base import DisbursementConflict, MalformedResponse, NikInvalid
from integrations.sandbox import tables as t
from integrations.sandbox.delivery import SandboxNotifier, SandboxPaymentGateway

NIK = "3510011708450001"
OTHER = "3510025708450002"


def clock():
    return datetime(2025, 7, 1, 1, 2, 3, tzinfo=UTC)


@pytest.fixture
def gateway(empty_session, faults):
    return SandboxPaymentGateway(lambda: empty_session, faults, clock=clock)


@pytest.fixture
def notifier(empty_session, faults):
    return SandboxNotifier(lambda: empty_session, faults, clock=clock)


def test_disbursement_is_idempotent_by_reference(gateway, empty_session):
    first = gateway.request_disbursement("PKH-2025Q3-0001", NIK, 750_000, "BRI", "0011223344")
    again = gateway.request_disbursement("PKH-2025Q3-0001", NIK, 750_000, "BRI", "0011223344")
    other = gateway.request_disbursement("PKH-2025Q3-0002", OTHER, 750_000, "POS", None)
    assert first.status == again.status == "ACCEPTED"
    assert first.provider_ref == again.provider_ref != other.provider_ref
    assert first.evidence.checked_at == clock()
    assert empty_session.scalar(select(func.count()).select_from(t.disbursements)) == 2


def test_reused_reference_for_another_payment_conflicts(gateway):
    gateway.request_disbursement("REF-1", NIK, 600_000, "BNI", "123")
    with pytest.raises(DisbursementConflict):
        gateway.request_disbursement("REF-1", NIK, 900_000, "BNI", "123")


@pytest.mark.parametrize(
    "args",
    [
        ("", NIK, 1, "BRI", "1"),
        ("R", NIK, 0, "BRI", "1"),
        ("R", NIK, 10.5, "BRI", "1"),
        ("R", NIK, True, "BRI", "1"),
        ("R", NIK, 100, "PAYPAL", "1"),
        ("R", NIK, 100, "MANDIRI", None),
    ],
)
def test_bad_disbursement_arguments(gateway, args):
    with pytest.raises(ValueError):
        gateway.request_disbursement(*args)


def test_disbursement_needs_a_valid_nik(gateway):
    with pytest.raises(NikInvalid):
        gateway.request_disbursement("R", "123", 100, "POS", None)


def test_notifier_outbox(notifier):
    first = notifier.send(NIK, "SMS", "decision_published", {"status": "ELIGIBLE", "amount": 600_000})
    second = notifier.send(NIK, "PORTAL", "appeal_received", {})
    notifier.send(OTHER, "EMAIL", "decision_published", {"status": "REJECTED"})
    messages = notifier.outbox(NIK)
    assert [m["message_id"] for m in messages] == [first, second]
    assert messages[0]["params"] == {"status": "ELIGIBLE", "amount": 600_000}
    assert messages[0]["sent_at"] == clock()
    assert len(notifier.outbox(OTHER)) == 1
    assert notifier.outbox("3510011708450009") == []


@pytest.mark.parametrize(
    "channel, template, params",
    [
        ("FAX", "t", {}),
        ("SMS", "", {}),
        ("SMS", "t", {"when": object()}),
        ("SMS", "t", ["x"]),
    ],
)
def test_bad_messages_are_refused(notifier, channel, template, params):
    with pytest.raises(ValueError):
        notifier.send(NIK, channel, template, params)


def test_many_messages_go_in_one_statement_and_a_used_key_sends_nothing_again(notifier, empty_session):
    first = notifier.send(NIK, "SMS", "payment_paid", {"amount": "Rp 1"}, idempotency_key="k-1")
    ids = notifier.send_many(
        [
            (NIK, "SMS", "payment_paid", {"amount": "Rp 1"}, "k-1"),  # sent before: its id, nothing new
            (NIK, "PORTAL", "payment_paid", {"amount": "Rp 1"}, "k-2"),
            (OTHER, "SMS", "payment_paid", {"amount": "Rp 2"}, "k-3"),
        ]
    )
    assert ids[0] == first and len(set(ids)) == 3
    assert [m["message_id"] for m in notifier.outbox(NIK)] == ids[:2]
    assert notifier.outbox(OTHER)[0]["params"] == {"amount": "Rp 2"}
    assert notifier.send_many([(OTHER, "SMS", "payment_paid", {"amount": "Rp 2"}, "k-3")]) == [ids[2]]
    assert empty_session.scalar(select(func.count()).select_from(t.outbox)) == 3
    with pytest.raises(ValueError):
        notifier.send_many([(NIK, "FAX", "payment_paid", {}, "k-4")])


def test_many_messages_with_a_fault_for_one_recipient_go_one_by_one(notifier, faults):
    faults.inject("notify", OTHER, "malformed")
    with pytest.raises(MalformedResponse):
        notifier.send_many([(NIK, "SMS", "t", {}, "k-1"), (OTHER, "SMS", "t", {}, "k-2")])
    assert len(notifier.outbox(NIK)) == 1 and notifier.outbox(OTHER) == []


def test_many_messages_sharing_one_parameters_dict_are_each_checked(notifier, empty_session):
    shared = {"amount": "Rp 750.000"}  # a cycle's notices share one dict per amount and channel
    ids = notifier.send_many(
        [(NIK, "SMS", "payment_paid", shared, "s-1"), (OTHER, "PORTAL", "payment_paid", shared, "s-2")]
    )
    assert len(set(ids)) == 2 and notifier.outbox(OTHER)[0]["params"] == shared
    with pytest.raises(ValueError):  # a bad NIK after the shared dict was checked once
        notifier.send_many(
            [(NIK, "SMS", "payment_paid", shared, "s-3"), ("12345", "SMS", "payment_paid", shared, "s-4")]
        )
    with pytest.raises(ValueError):  # a bad channel, likewise
        notifier.send_many([(NIK, "SMS", "payment_paid", shared, "s-5"), (NIK, "FAX", "payment_paid", shared, "s-6")])
    assert empty_session.scalar(select(func.count()).select_from(t.outbox)) == 2
