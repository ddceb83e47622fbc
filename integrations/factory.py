"""Choose and wire one implementation per outside system from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from integrations.face import FaceMatcher, FaceRecognitionMatcher
from integrations.face_index import FaceTemplateIndex
from integrations.http.wiring import build_http_adapter
from integrations.identity import CivilRegistry
from integrations.mail import OfficerMailer, build_mailer
from integrations.notify import Notifier
from integrations.payments import PaymentGateway
from integrations.registries import AssetRegistry, BpjsEmployment, BpjsHealth, CivilServiceRegistry, Dtsen
from integrations.registry_faces import RegistryFaceTemplates
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
from integrations.selfie_faces import SelfieFaceTemplates

# setting -> sandbox class; the civil registry is built apart because it also needs the photo folder.
_SANDBOX_BACKENDS = {
    "BANSOS_DTSEN_BACKEND": ("dtsen", SandboxDtsen),
    "BANSOS_BPJS_HEALTH_BACKEND": ("bpjs_health", SandboxBpjsHealth),
    "BANSOS_BPJS_EMPLOYMENT_BACKEND": ("bpjs_employment", SandboxBpjsEmployment),
    "BANSOS_ASSETS_BACKEND": ("assets", SandboxAssetRegistry),
    "BANSOS_CIVIL_SERVICE_BACKEND": ("civil_service", SandboxCivilServiceRegistry),
    "BANSOS_PAYMENTS_BACKEND": ("payments", SandboxPaymentGateway),
    "BANSOS_NOTIFY_BACKEND": ("notifier", SandboxNotifier),
}


@dataclass
class Integrations:
    """One adapter per outside system, as the host wired them."""

    civil_registry: CivilRegistry
    dtsen: Dtsen
    bpjs_health: BpjsHealth
    bpjs_employment: BpjsEmployment
    assets: AssetRegistry
    civil_service: CivilServiceRegistry
    payments: PaymentGateway
    notifier: Notifier
    face: FaceMatcher
    # Our own table of applicants' face templates (1:N deduplication), not an outside system.
    face_index: FaceTemplateIndex
    # Templates of the civil-registry photos, encoded once (our table, derived from the registry).
    registry_faces: RegistryFaceTemplates
    # Shared by every sandbox adapter, so tests and demos can inject faults.
    faults: SandboxFaults
    # E-mail to officers (notifications): the sandbox outbox or SMTP.
    mailer: OfficerMailer | None = None
    # Templates of checked selfies (our table): the face steps on a worker do not encode them again.
    selfie_faces: SelfieFaceTemplates | None = None


def _wants_http(settings: dict, key: str) -> bool:
    backend = settings.get(key, "sandbox")
    if backend not in ("sandbox", "http"):
        raise ValueError(f"{key}={backend!r} is not available; use 'sandbox' or 'http'.")
    return backend == "http"


def build_integrations(settings: dict, session_factory: Callable[[], Session]) -> Integrations:
    """Build every adapter from BANSOS_* settings; sandbox ones use the caller's session."""
    faults = SandboxFaults(settings.get("BANSOS_SANDBOX_FAULTS") or {})
    # Integrations' fields by name, each adapter of its own protocol (sandbox or HTTP).
    adapters: dict[str, Any]
    if _wants_http(settings, "BANSOS_IDENTITY_BACKEND"):
        adapters = {"civil_registry": build_http_adapter(settings, "BANSOS_IDENTITY_BACKEND")}
    else:
        adapters = {
            "civil_registry": SandboxCivilRegistry(
                session_factory, faults, photo_dir=settings.get("BANSOS_SANDBOX_PHOTO_DIR")
            )
        }
    for key, (name, cls) in _SANDBOX_BACKENDS.items():
        if _wants_http(settings, key):
            adapters[name] = build_http_adapter(settings, key)
        else:
            adapters[name] = cls(session_factory, faults)
    face_backend = settings.get("BANSOS_FACE_BACKEND", "face_recognition")
    if face_backend != "face_recognition":
        raise ValueError(f"BANSOS_FACE_BACKEND={face_backend!r} is not available; use 'face_recognition'.")
    face = FaceRecognitionMatcher(
        threshold=float(settings.get("BANSOS_FACE_MATCH_THRESHOLD", 0.6)),
        max_bytes=int(settings.get("BANSOS_FACE_MAX_IMAGE_BYTES", 10 * 1024 * 1024)),
        max_pixels=int(settings.get("BANSOS_FACE_MAX_IMAGE_PIXELS", 64_000_000)),
    )
    face_index = FaceTemplateIndex(
        session_factory,
        snapshot_path=settings.get("BANSOS_FACE_INDEX_SNAPSHOT") or None,
        threshold=float(settings.get("BANSOS_FACE_DEDUP_THRESHOLD", 0.5)),
        ann_min_size=int(settings.get("BANSOS_FACE_INDEX_ANN_MIN_SIZE", 200_000)),
    )
    registry_faces = RegistryFaceTemplates(session_factory, face)
    adapters["selfie_faces"] = SelfieFaceTemplates(session_factory, face)
    adapters["mailer"] = build_mailer(settings, session_factory)
    return Integrations(face=face, face_index=face_index, registry_faces=registry_faces, faults=faults, **adapters)
