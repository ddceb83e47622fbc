import pytest

from integrations.face import FaceRecognitionMatcher
from integrations.factory import build_integrations
from integrations.identity import CivilRegistry
from integrations.sandbox.delivery import SandboxPaymentGateway
from integrations.sandbox.faults import SandboxFaults

SETTINGS = {
    "BANSOS_IDENTITY_BACKEND": "sandbox",
    "BANSOS_DTSEN_BACKEND": "sandbox",
    "BANSOS_BPJS_HEALTH_BACKEND": "sandbox",
    "BANSOS_BPJS_EMPLOYMENT_BACKEND": "sandbox",
    "BANSOS_ASSETS_BACKEND": "sandbox",
    "BANSOS_CIVIL_SERVICE_BACKEND": "sandbox",
    "BANSOS_PAYMENTS_BACKEND": "sandbox",
    "BANSOS_NOTIFY_BACKEND": "sandbox",
    "BANSOS_FACE_BACKEND": "face_recognition",
    "BANSOS_SANDBOX_FAULTS": {"dtsen": {"timeout_rate": 0.02}},
    "BANSOS_SANDBOX_PHOTO_DIR": "/nonexistent",
    "BANSOS_FACE_MATCH_THRESHOLD": 0.55,
}


def test_builds_sandbox_adapters_sharing_one_fault_injector(session, personas):
    built = build_integrations(SETTINGS, lambda: session)
    assert isinstance(built.civil_registry, CivilRegistry)
    assert isinstance(built.payments, SandboxPaymentGateway)
    assert isinstance(built.face, FaceRecognitionMatcher) and built.face.threshold == 0.55
    assert isinstance(built.faults, SandboxFaults)
    nik = personas["civil_servant"]
    assert built.civil_registry.lookup_person(nik).nik == nik
    built.faults.inject("civil_service", nik, "unavailable")
    with pytest.raises(Exception, match="unavailable"):
        built.civil_service.lookup(nik)


@pytest.mark.parametrize("key", [k for k in SETTINGS if k.endswith("_BACKEND")])
def test_unknown_backend_is_refused_clearly(key):
    with pytest.raises(ValueError, match=key):
        build_integrations({**SETTINGS, key: "http"}, lambda: None)
