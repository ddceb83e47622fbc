"""Choosing HTTP adapters from settings: backends, URLs and the shared policy."""

import pytest

from integrations.factory import build_integrations
from integrations.http.client import HttpPolicy
from integrations.http.delivery import HttpNotifier, HttpPaymentGateway
from integrations.http.registries import HttpCivilRegistry, HttpDtsen
from integrations.http.wiring import HTTP_ADAPTERS, url_setting
from integrations.sandbox.registries import SandboxBpjsHealth
from settings import load_settings


def close_all(built):
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
        close = getattr(getattr(built, name), "close", None)
        if close:
            close()


def test_laptop_defaults_are_sandbox_with_a_sane_http_policy(monkeypatch):
    for key in HTTP_ADAPTERS:
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    assert all(settings[key] == "sandbox" for key in HTTP_ADAPTERS)
    assert all(url_setting(key) in settings for key in HTTP_ADAPTERS)
    policy = HttpPolicy.from_settings(settings)
    assert policy.read_timeout > 0 and policy.connect_timeout > 0 and policy.retries >= 0
    assert policy.breaker_failures >= 1 and policy.breaker_reset > 0


def test_http_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("BANSOS_DTSEN_BACKEND", "http")
    monkeypatch.setenv("BANSOS_DTSEN_URL", "http://127.0.0.1:9/dtsen")
    monkeypatch.setenv("BANSOS_HTTP_RETRIES", "4")
    monkeypatch.setenv("BANSOS_HTTP_TIMEOUT_SECONDS", "1.5")
    settings = load_settings()
    built = build_integrations(settings, lambda: None)
    try:
        assert isinstance(built.dtsen, HttpDtsen)
        assert built.dtsen.http.policy.retries == 4 and built.dtsen.http.policy.read_timeout == 1.5
        assert isinstance(built.bpjs_health, SandboxBpjsHealth)
    finally:
        close_all(built)


def test_each_system_can_be_switched_to_http_on_its_own():
    settings = {
        "BANSOS_IDENTITY_BACKEND": "http",
        "BANSOS_IDENTITY_URL": "http://127.0.0.1:9/civil_registry",
        "BANSOS_PAYMENTS_BACKEND": "http",
        "BANSOS_PAYMENTS_URL": "https://bank.example/api/",
        "BANSOS_NOTIFY_BACKEND": "http",
        "BANSOS_NOTIFY_URL": "http://127.0.0.1:9/notify",
        "BANSOS_HTTP_BREAKER_FAILURES": 7,
        "BANSOS_HTTP_BREAKER_RESET_SECONDS": 12,
    }
    built = build_integrations(settings, lambda: None)
    try:
        assert isinstance(built.civil_registry, HttpCivilRegistry)
        assert isinstance(built.payments, HttpPaymentGateway) and isinstance(built.notifier, HttpNotifier)
        assert isinstance(built.bpjs_health, SandboxBpjsHealth)
        breaker = built.payments.http.breaker
        assert (breaker.fail_max, breaker.reset_timeout) == (7, 12.0)
        assert breaker is not built.notifier.http.breaker  # one breaker per system
    finally:
        close_all(built)


@pytest.mark.parametrize("key", sorted(HTTP_ADAPTERS))
def test_http_without_a_url_is_refused_naming_both_settings(key):
    with pytest.raises(ValueError) as caught:
        build_integrations({key: "http"}, lambda: None)
    assert key in str(caught.value) and url_setting(key) in str(caught.value)


def test_unknown_backends_and_bad_urls_are_refused():
    with pytest.raises(ValueError, match="'sandbox' or 'http'"):
        build_integrations({"BANSOS_DTSEN_BACKEND": "grpc"}, lambda: None)
    with pytest.raises(ValueError, match="http:// or https://"):
        build_integrations({"BANSOS_DTSEN_BACKEND": "http", "BANSOS_DTSEN_URL": "ftp://x"}, lambda: None)
    with pytest.raises(ValueError, match="out of range"):
        HttpPolicy.from_settings({"BANSOS_HTTP_RETRIES": -1})
