"""Build HTTP adapters from BANSOS_<SYSTEM>_URL and the shared BANSOS_HTTP_* settings."""

from __future__ import annotations

from integrations.http.client import HttpAdapter, HttpPolicy
from integrations.http.delivery import HttpNotifier, HttpPaymentGateway
from integrations.http.registries import (
    HttpAssetRegistry,
    HttpBpjsEmployment,
    HttpBpjsHealth,
    HttpCivilRegistry,
    HttpCivilServiceRegistry,
    HttpDtsen,
)

# backend setting -> HTTP implementation; the base URL setting has the same prefix and ends in _URL.
HTTP_ADAPTERS: dict[str, type[HttpAdapter]] = {
    "BANSOS_IDENTITY_BACKEND": HttpCivilRegistry,
    "BANSOS_DTSEN_BACKEND": HttpDtsen,
    "BANSOS_BPJS_HEALTH_BACKEND": HttpBpjsHealth,
    "BANSOS_BPJS_EMPLOYMENT_BACKEND": HttpBpjsEmployment,
    "BANSOS_ASSETS_BACKEND": HttpAssetRegistry,
    "BANSOS_CIVIL_SERVICE_BACKEND": HttpCivilServiceRegistry,
    "BANSOS_PAYMENTS_BACKEND": HttpPaymentGateway,
    "BANSOS_NOTIFY_BACKEND": HttpNotifier,
}


def url_setting(backend_key: str) -> str:
    """Return the name of the base-URL setting that goes with a backend setting."""
    return backend_key.removesuffix("_BACKEND") + "_URL"


def build_http_adapter(settings: dict, backend_key: str) -> HttpAdapter:
    """Return the HTTP adapter chosen by ``backend_key``, with its own circuit breaker."""
    url_key = url_setting(backend_key)
    url = (settings.get(url_key) or "").strip()
    if not url:
        raise ValueError(f"{backend_key}='http' needs {url_key}, the base URL of the service.")
    return HTTP_ADAPTERS[backend_key](url, HttpPolicy.from_settings(settings))
