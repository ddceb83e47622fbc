from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from integrations.base import PersonNotFound
from integrations.sandbox import tables as t
from integrations.sandbox.registries import (
    SandboxAssetRegistry,
    SandboxBpjsEmployment,
    SandboxBpjsHealth,
    SandboxCivilRegistry,
    SandboxCivilServiceRegistry,
    SandboxDtsen,
)

UNKNOWN_NIK = "3510011708459999"
UNKNOWN_KK = "3510010101059999"
UMK = 2_810_000


def at(day):
    return lambda: datetime(2025, 7, day, 3, 0, tzinfo=UTC)


@pytest.fixture
def adapters(session, faults, tmp_path):
    factory = lambda: session  # noqa: E731 - the host passes its scoped session the same way
    return {
        "civil": SandboxCivilRegistry(factory, faults, photo_dir=tmp_path, clock=at(1)),
        "dtsen": SandboxDtsen(factory, faults, clock=at(1)),
        "health": SandboxBpjsHealth(factory, faults, clock=at(1)),
        "employment": SandboxBpjsEmployment(factory, faults, clock=at(1)),
        "assets": SandboxAssetRegistry(factory, faults, clock=at(1)),
        "civil_service": SandboxCivilServiceRegistry(factory, faults, clock=at(1)),
    }


def kk_of(session, nik):
    return session.scalar(select(t.people.c.kk_number).where(t.people.c.nik == nik))


def test_unknown_numbers_are_not_found(adapters, session):
    assert kk_of(session, UNKNOWN_NIK) is None
    for name in ("health", "employment", "civil_service"):
        with pytest.raises(PersonNotFound) as caught:
            adapters[name].lookup(UNKNOWN_NIK)
        assert "3510**·170845·9999" in str(caught.value)
    with pytest.raises(PersonNotFound):
        adapters["civil"].lookup_person(UNKNOWN_NIK)
    for name in ("dtsen", "assets"):
        with pytest.raises(PersonNotFound):
            adapters[name].lookup_household(UNKNOWN_KK)


def test_civil_registry_returns_person_household_and_evidence(adapters, personas):
    record = adapters["civil"].lookup_person(personas["eligible_head_with_photo"])
    assert record.relation == "KEPALA" and record.alive and record.death_date is None
    assert record.photo_ref and record.kk_number.startswith("3510" + record.district_code)
    assert record.household[0]["nik"] == record.nik
    assert all(
        set(m) == {"nik", "name", "relation", "sex", "birth_date", "alive", "disability", "pregnant", "school_level"}
        for m in record.household
    )
    assert record.evidence.source == "civil_registry"
    assert record.evidence.checked_at == datetime(2025, 7, 1, 3, tzinfo=UTC)
    assert record.evidence.to_dict()["checked_at"] == "2025-07-01T03:00:00+00:00"
    assert record.evidence.value["nik"] == record.nik


def test_civil_registry_tells_the_dead_from_the_living(adapters, personas):
    dead = adapters["civil"].lookup_person(personas["deceased"])
    alive = adapters["civil"].lookup_person(personas["rich_decile"])
    assert dead.alive is False and isinstance(dead.death_date, date)
    assert alive.alive is True and alive.nik != dead.nik


def test_reference_photo_reads_the_named_file(adapters, personas, tmp_path, session):
    nik = personas["eligible_head_with_photo"]
    photo_ref = session.scalar(select(t.people.c.photo_ref).where(t.people.c.nik == nik))
    assert adapters["civil"].reference_photo(nik) is None  # file not in the folder
    (tmp_path / photo_ref).write_bytes(b"photo bytes")
    assert adapters["civil"].reference_photo(nik) == b"photo bytes"
    assert adapters["civil"].reference_photo(personas["civil_servant"]) is None
    assert adapters["civil"].reference_photo(UNKNOWN_NIK) is None


def test_dtsen_deciles(adapters, personas, session):
    rich = adapters["dtsen"].lookup_household(kk_of(session, personas["rich_decile"]))
    unranked = adapters["dtsen"].lookup_household(kk_of(session, personas["not_in_dtsen"]))
    poor = adapters["dtsen"].lookup_household(kk_of(session, personas["eligible_head_without_photo"]))
    assert rich.decile >= 9 and isinstance(rich.updated_at, date)
    assert unranked.decile is None and unranked.updated_at is None
    assert poor.decile <= 4
    assert unranked.evidence.value == {"kk_number": unranked.kk_number, "decile": None, "updated_at": None}


def test_bpjs_health_members_and_non_members(adapters, session):
    pbi = session.scalar(select(t.bpjs_health.c.nik).where(t.bpjs_health.c.segment == "PBI"))
    outsider = session.scalar(select(t.people.c.nik).where(t.people.c.nik.not_in(select(t.bpjs_health.c.nik))))
    member = adapters["health"].lookup(pbi)
    other = adapters["health"].lookup(outsider)
    assert (member.member, member.segment) == (True, "PBI")
    assert (other.member, other.segment, other.active) == (False, None, False)


def test_bpjs_employment_wages(adapters, personas):
    high = adapters["employment"].lookup(personas["high_wage"])
    assert high.member and high.monthly_wage > UMK and high.employer
    none = adapters["employment"].lookup(personas["eligible_head_with_photo"])
    assert not none.member or none.monthly_wage <= UMK


def test_assets_and_company_roles(adapters, personas, session):
    car = adapters["assets"].lookup_household(kk_of(session, personas["four_wheel_vehicle"]))
    owner = adapters["assets"].lookup_household(kk_of(session, personas["company_owner"]))
    clean = adapters["assets"].lookup_household(kk_of(session, personas["eligible_head_with_photo"]))
    large = adapters["assets"].lookup_household(kk_of(session, personas["large_electricity"]))
    assert car.four_wheel_vehicles >= 1
    assert {"nik": personas["company_owner"], "role": "OWNER"}.items() <= owner.company_roles[0].items()
    assert clean.four_wheel_vehicles == 0 and clean.company_roles == []
    assert clean.electricity_va < 900 or clean.electricity_subsidised
    assert large.electricity_va >= 900 and not large.electricity_subsidised


def test_civil_service_categories(adapters, personas):
    assert adapters["civil_service"].lookup(personas["civil_servant"]).category in ("ASN", "TNI", "POLRI")
    assert adapters["civil_service"].lookup(personas["eligible_head_with_photo"]).category is None


def _answer_or_error(call):
    try:
        return call()
    except PersonNotFound as exc:
        return ("not found", type(exc).__name__, str(exc))


def test_batch_lookups_answer_exactly_as_the_one_by_one_lookups(adapters, personas, session):
    """A chunk's set-based look-ups (one query per source) give each key what its own look-up gives."""
    niks = [
        personas[p]
        for p in (
            "eligible_head_with_photo",
            "company_owner",
            "four_wheel_vehicle",
            "large_electricity",
            "eligible_family_with_children",
        )
    ] + [UNKNOWN_NIK]
    cards = [kk_of(session, n) for n in niks if kk_of(session, n)] + [UNKNOWN_KK]
    households = [tuple(m["nik"] for m in adapters["civil"].lookup_person(n).household) for n in niks[:-1]]
    households.append((niks[0], UNKNOWN_NIK))
    cases = [
        ("civil", "lookup_person", niks),
        ("health", "lookup", niks),
        ("dtsen", "lookup_household", cards),
        ("assets", "lookup_household", cards),
        ("employment", "lookup_household", households),
        ("civil_service", "lookup_household", households),
    ]
    for name, method, keys in cases:
        calls = adapters[name].batch_lookup(keys)
        assert list(calls) == list(dict.fromkeys(keys)), name
        for key in keys:
            one = _answer_or_error(
                lambda name=name, method=method, key=key: getattr(adapters[name], method)(
                    list(key) if isinstance(key, tuple) else key
                )
            )
            assert _answer_or_error(calls[key]) == one, (name, key)
    owner_card = kk_of(session, personas["company_owner"])
    assert adapters["assets"].batch_lookup([owner_card])[owner_card]().company_roles  # the roles come along
    assert (
        all(adapters[name].batch_lookup([]) == {} for name in adapters if name != "civil")
        and adapters["civil"].batch_lookup([]) == {}
    )
