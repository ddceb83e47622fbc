"""Both implementations, built by the real factory over the same generated population."""

import pytest
from sqlalchemy import select

from integrations.factory import build_integrations
from integrations.http.wiring import HTTP_ADAPTERS, url_setting
from integrations.sandbox import tables as t
from tests.unit.integrations.contract.simulator import RegistrySimulator, copy_sqlite

# A JPEG header is all the adapters check; the face matcher is not part of this contract.
FAKE_JPEG = b"\xff\xd8\xff\xe0" + b"registry photo" * 8
IMPLEMENTATIONS = ("sandbox", "http")
# backend setting -> path prefix of that system on the simulator
SYSTEM_OF = {
    "BANSOS_IDENTITY_BACKEND": "civil_registry",
    "BANSOS_DTSEN_BACKEND": "dtsen",
    "BANSOS_BPJS_HEALTH_BACKEND": "bpjs_health",
    "BANSOS_BPJS_EMPLOYMENT_BACKEND": "bpjs_employment",
    "BANSOS_ASSETS_BACKEND": "assets",
    "BANSOS_CIVIL_SERVICE_BACKEND": "civil_service",
    "BANSOS_PAYMENTS_BACKEND": "payments",
    "BANSOS_NOTIFY_BACKEND": "notify",
}


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory, loaded_engine, population):
    """A registry photo folder holding one (fake) photo, for the persona that has one."""
    folder = tmp_path_factory.mktemp("registry_photos")
    nik = population.personas["eligible_head_with_photo"]
    with loaded_engine.connect() as conn:
        ref = conn.scalar(select(t.people.c.photo_ref).where(t.people.c.nik == nik))
    (folder / ref).write_bytes(FAKE_JPEG)
    return folder


@pytest.fixture(scope="session")
def simulator(loaded_engine, photo_dir, tmp_path_factory):
    """The registry simulator over a copy of the loaded population (its writes stay in the copy)."""
    engine = copy_sqlite(loaded_engine, tmp_path_factory.mktemp("simulator") / "registry.sqlite")
    sim = RegistrySimulator(engine, photo_dir=photo_dir).start()
    yield sim
    sim.stop()
    engine.dispose()


@pytest.fixture
def sandbox_integrations(session, photo_dir):
    """Every sandbox adapter, wired by the factory on the test's session."""
    settings = {"BANSOS_SANDBOX_PHOTO_DIR": str(photo_dir)}
    return build_integrations(settings, lambda: session)


@pytest.fixture
def http_integrations(simulator):
    """Every HTTP adapter, wired by the factory against the simulator, no retries."""
    settings = {key: "http" for key in HTTP_ADAPTERS}
    settings.update({url_setting(key): simulator.url(system) for key, system in SYSTEM_OF.items()})
    settings.update({"BANSOS_HTTP_RETRIES": 0, "BANSOS_HTTP_TIMEOUT_SECONDS": 10.0})
    built = build_integrations(settings, lambda: None)
    yield built
    for name in (
        "civil_registry",
        "dtsen",
        "bpjs_health",
        "bpjs_employment",
        "assets",
        "civil_service",
        "payments",
        "notifier",
    ):
        getattr(built, name).close()


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    """The integrations of one implementation; every contract test runs once per implementation."""
    return request.getfixturevalue(f"{request.param}_integrations")
