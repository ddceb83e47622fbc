"""The interface contracts, checked the same way against the sandbox and the HTTP implementations."""

import dataclasses
import uuid

import pytest
from sqlalchemy import select

from integrations.base import DisbursementConflict, NikInvalid, PersonNotFound
from integrations.sandbox import tables as t

from .conftest import FAKE_JPEG

UNKNOWN_NIK = "3510011708459999"
UNKNOWN_KK = "3510010101059999"
NEVER_MESSAGED_NIK = "3510015505809998"
COMPARED_PERSONAS = (
    "eligible_head_with_photo",
    "civil_servant",
    "deceased",
    "high_wage",
    "not_in_dtsen",
    "rich_decile",
)


def kk_of(engine, nik):
    with engine.connect() as conn:
        return conn.scalar(select(t.people.c.kk_number).where(t.people.c.nik == nik))


def lookups(integrations, nik, kk):
    """Every registry answer about one person and their family, by source."""
    return {
        "civil_registry": integrations.civil_registry.lookup_person(nik),
        "dtsen": integrations.dtsen.lookup_household(kk),
        "bpjs_health": integrations.bpjs_health.lookup(nik),
        "bpjs_employment": integrations.bpjs_employment.lookup(nik),
        "assets": integrations.assets.lookup_household(kk),
        "civil_service": integrations.civil_service.lookup(nik),
    }


def without_evidence(record):
    return dataclasses.replace(record, evidence=None)


# --- registries ------------------------------------------------------------------------------


def test_known_people_get_the_same_answers_from_every_implementation(
    sandbox_integrations, http_integrations, personas, loaded_engine
):
    for kind in COMPARED_PERSONAS:
        nik = personas[kind]
        kk = kk_of(loaded_engine, nik)
        sandbox, http = lookups(sandbox_integrations, nik, kk), lookups(http_integrations, nik, kk)
        for source, record in sandbox.items():
            assert without_evidence(http[source]) == without_evidence(record), (kind, source)
            assert http[source].evidence.value == record.evidence.value, (kind, source)
        photo = sandbox_integrations.civil_registry.reference_photo(nik)
        assert http_integrations.civil_registry.reference_photo(nik) == photo


def test_unknown_numbers_are_not_found(impl):
    for lookup in (
        impl.civil_registry.lookup_person,
        impl.bpjs_health.lookup,
        impl.bpjs_employment.lookup,
        impl.civil_service.lookup,
    ):
        for nik in (UNKNOWN_NIK, "not a nik", ""):
            with pytest.raises(PersonNotFound):
                lookup(nik)
    for lookup in (impl.dtsen.lookup_household, impl.assets.lookup_household):
        with pytest.raises(PersonNotFound) as caught:
            lookup(UNKNOWN_KK)
        assert caught.value.key == UNKNOWN_KK


def test_different_people_get_different_answers(impl, personas, loaded_engine):
    servant, rich = personas["civil_servant"], personas["rich_decile"]
    a = lookups(impl, servant, kk_of(loaded_engine, servant))
    b = lookups(impl, rich, kk_of(loaded_engine, rich))
    assert a["civil_registry"].nik == servant and b["civil_registry"].nik == rich
    assert a["civil_registry"].kk_number != b["civil_registry"].kk_number
    assert a["civil_service"].category is not None and b["civil_service"].category is None
    assert a["dtsen"].kk_number != b["dtsen"].kk_number
    assert b["dtsen"].decile is not None and b["dtsen"].decile >= 6


def test_the_civil_registry_tells_the_dead_from_the_living(impl, personas):
    dead = impl.civil_registry.lookup_person(personas["deceased"])
    alive = impl.civil_registry.lookup_person(personas["rich_decile"])
    assert dead.alive is False and dead.death_date is not None
    assert alive.alive is True and alive.death_date is None
    assert dead.nik in {m["nik"] for m in dead.household}


def test_every_answer_carries_evidence_with_source_and_utc_time(impl, personas, loaded_engine):
    nik = personas["eligible_head_with_photo"]
    for source, record in lookups(impl, nik, kk_of(loaded_engine, nik)).items():
        evidence = record.evidence
        assert evidence.source == source
        assert evidence.checked_at.tzinfo is not None and evidence.checked_at.utcoffset().total_seconds() == 0
        assert isinstance(evidence.value, dict) and evidence.value
        assert evidence.to_dict()["checked_at"].endswith("+00:00")


def test_reference_photos_are_bytes_or_none(impl, personas):
    assert impl.civil_registry.reference_photo(personas["eligible_head_with_photo"]) == FAKE_JPEG
    assert impl.civil_registry.reference_photo(personas["eligible_head_without_photo"]) is None
    assert impl.civil_registry.reference_photo(UNKNOWN_NIK) is None
    assert impl.civil_registry.reference_photo("../etc/passwd") is None


# --- payments --------------------------------------------------------------------------------


def test_payments_are_idempotent_by_reference(impl, personas):
    nik, reference = personas["eligible_head_with_photo"], f"TEST-{uuid.uuid4()}"
    first = impl.payments.request_disbursement(reference, nik, 600_000, "BRI", "1234567890")
    again = impl.payments.request_disbursement(reference, nik, 600_000, "BRI", "1234567890")
    assert first == again  # same receipt, evidence time included: paid once
    assert first.reference == reference and first.status == "ACCEPTED" and first.provider_ref
    assert first.evidence.source == "payments" and first.evidence.checked_at.tzinfo is not None
    other = impl.payments.request_disbursement(f"TEST-{uuid.uuid4()}", nik, 600_000, "POS", None)
    assert other.provider_ref != first.provider_ref
    with pytest.raises(DisbursementConflict):
        impl.payments.request_disbursement(reference, nik, 700_000, "BRI", "1234567890")


def test_payment_arguments_are_checked_before_anything_is_paid(impl, personas):
    nik, reference = personas["eligible_head_with_photo"], f"TEST-{uuid.uuid4()}"
    for amount, channel, account in (
        (0, "BRI", "1"),
        (True, "BRI", "1"),
        (1000, "BRI", None),
        (1000, "PAYPAL", "1"),
        (10.5, "POS", None),
    ):
        with pytest.raises(ValueError):
            impl.payments.request_disbursement(reference, nik, amount, channel, account)
    with pytest.raises(NikInvalid):
        impl.payments.request_disbursement(reference, "1234", 1000, "POS", None)
    with pytest.raises(ValueError):
        impl.payments.request_disbursement("", nik, 1000, "POS", None)


# --- notifications ---------------------------------------------------------------------------


def test_sent_messages_appear_in_the_outbox_oldest_first(impl, personas):
    nik = personas["civil_servant"]
    first = impl.notifier.send(nik, "SMS", "decision_rejected", {"case": "TPT-1", "reasons": ["A", "B"]})
    second = impl.notifier.send(nik, "PORTAL", "appeal_received", {"case": "TPT-1"})
    assert isinstance(first, str) and isinstance(second, str) and first != second
    outbox = impl.notifier.outbox(nik)
    assert [m["message_id"] for m in outbox[-2:]] == [first, second]
    latest = outbox[-2]
    assert latest == {
        **latest,
        "recipient_nik": nik,
        "channel": "SMS",
        "template": "decision_rejected",
        "params": {"case": "TPT-1", "reasons": ["A", "B"]},
    }
    assert set(latest) == {"message_id", "recipient_nik", "channel", "template", "params", "sent_at"}
    assert latest["sent_at"].tzinfo is not None and latest["sent_at"].utcoffset().total_seconds() == 0
    assert outbox[-2]["sent_at"] <= outbox[-1]["sent_at"]


def test_the_outbox_of_someone_never_messaged_is_empty(impl):
    assert impl.notifier.outbox(NEVER_MESSAGED_NIK) == []
    assert impl.notifier.outbox("not a nik") == []


def test_bad_messages_are_refused(impl, personas):
    nik = personas["civil_servant"]
    with pytest.raises(ValueError):
        impl.notifier.send(nik, "FAX", "decision_rejected", {})
    with pytest.raises(ValueError):
        impl.notifier.send(nik, "SMS", " ", {})
    with pytest.raises(ValueError):
        impl.notifier.send(nik, "SMS", "decision_rejected", {"when": object()})
    with pytest.raises(NikInvalid):
        impl.notifier.send("1234", "SMS", "decision_rejected", {})
