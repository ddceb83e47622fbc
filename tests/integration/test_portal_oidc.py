"""The OpenID Connect client (Authlib) against the sandbox provider: discovery, PKCE, ID-token checks."""

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from flask import current_app
from joserfc import jwt
from joserfc.jwk import RSAKey

from integrations.idp.base import SignInFailed
from integrations.idp.oidc import OidcIdentityProvider
from tests.integration.portal_helpers import birth_date_of, csrf_of, enter_code, latest_code, portal, sign_in_applicant  # noqa: F401  (fixtures)
from web.portal.wiring import PortalServices, portal_services

ISSUER = "http://sandbox-idp.invalid/idp"
CALLBACK = "http://localhost/portal/callback"


class RewritingTransport(httpx.BaseTransport):
    """The app over WSGI, with the token answer's ID token rewritten by `rewrite`."""

    def __init__(self, app, rewrite=None):
        self.inner = httpx.WSGITransport(app=app)
        self.rewrite = rewrite

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        if self.rewrite is None or not request.url.path.endswith("/token") or response.status_code != 200:
            return response
        response.read()
        body = json.loads(response.content)
        body["id_token"] = self.rewrite(body["id_token"])
        return httpx.Response(200, json=body)


def provider(rewrite=None, **options):
    app = current_app._get_current_object()
    return OidcIdentityProvider(
        ISSUER,
        "tepat-portal",
        "sandbox-client-secret",
        browser_authorization_endpoint="/idp/authorize",
        transport=RewritingTransport(app, rewrite),
        **options,
    )


def authorize(client, started, nik):
    """Play the browser at the sandbox provider; return the query parameters it sends back."""
    page = client.get(started.url)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    client.post(
        "/idp/authorize",
        data={"nik": nik, "birth_date": birth_date_of(nik), "csrf_token": csrf_of(page.get_data(as_text=True))},
    )
    back = enter_code(client, latest_code(nik))
    return {k: v[0] for k, v in parse_qs(urlsplit(back.headers["Location"]).query).items()}


def test_discovery_pkce_and_a_valid_id_token(portal, svc, personas):
    nik = personas["civil_servant"]
    idp = provider()  # no metadata given: read from the discovery document over HTTP
    started = idp.begin(CALLBACK)
    query = parse_qs(urlsplit(started.url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["nonce"] == [started.pending["nonce"]] and query["state"] == [started.pending["state"]]
    assert started.pending["code_verifier"] not in started.url
    identity = idp.complete(started.pending, authorize(portal, started, nik), CALLBACK)
    assert identity.nik == nik and identity.issuer == ISSUER
    assert identity.subject != nik and nik not in identity.subject


def _parts(token):
    head, body, sig = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(head), decode(body), sig


def _encode(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _flip_signature(token):
    head, body, sig = token.split(".")
    return ".".join((head, body, ("A" if sig[0] != "A" else "B") + sig[1:]))


def _swap_claims(token):
    header, claims, sig = _parts(token)
    claims["nik"] = "3510142011789999"
    return ".".join((_encode(header), _encode(claims), sig))


def _signed_by_another_key(token):
    header, claims, _sig = _parts(token)
    return jwt.encode({"alg": "RS256", "kid": header["kid"]}, claims, RSAKey.generate_key(2048))


def _unsigned(token):
    _header, claims, _sig = _parts(token)
    return f"{_encode({'alg': 'none', 'typ': 'JWT'})}.{_encode(claims)}."


@pytest.mark.parametrize(
    "rewrite",
    [_flip_signature, _swap_claims, _signed_by_another_key, _unsigned],
    ids=["signature", "claims", "other-key", "alg-none"],
)
def test_a_tampered_id_token_is_refused(portal, svc, personas, rewrite):
    nik = personas["civil_servant"]
    idp = provider(rewrite)
    started = idp.begin(CALLBACK)
    with pytest.raises(SignInFailed) as refused:
        idp.complete(started.pending, authorize(portal, started, nik), CALLBACK)
    assert refused.value.code == "ID_TOKEN_INVALID"


def test_wrong_nonce_state_and_an_expired_token_are_refused(portal, svc, personas):
    nik = personas["civil_servant"]
    idp = provider()
    started = idp.begin(CALLBACK)
    params = authorize(portal, started, nik)
    with pytest.raises(SignInFailed) as refused:
        idp.complete({**started.pending, "state": "another-state-value"}, params, CALLBACK)
    assert refused.value.code == "STATE_MISMATCH"
    with pytest.raises(SignInFailed) as refused:
        idp.complete({**started.pending, "nonce": "another-nonce-value"}, params, CALLBACK)
    assert refused.value.code == "ID_TOKEN_INVALID"

    started = idp.begin(CALLBACK)
    params = authorize(portal, started, nik)
    late = provider(clock=lambda: time.time() + 400)  # the token lives 300 s, plus 60 s of leeway
    with pytest.raises(SignInFailed) as refused:
        late.complete({**started.pending, "started": int(time.time() + 400)}, params, CALLBACK)
    assert refused.value.code == "ID_TOKEN_INVALID"


def test_wrong_verifier_or_client_secret_gets_no_token(portal, svc, personas):
    nik = personas["civil_servant"]
    idp = provider()
    started = idp.begin(CALLBACK)
    params = authorize(portal, started, nik)
    with pytest.raises(SignInFailed) as refused:
        idp.complete({**started.pending, "code_verifier": "v" * 64}, params, CALLBACK)
    assert refused.value.code == "TOKEN_EXCHANGE_FAILED"
    started = idp.begin(CALLBACK)
    params = authorize(portal, started, nik)
    wrong = OidcIdentityProvider(
        ISSUER,
        "tepat-portal",
        "not-the-secret",
        browser_authorization_endpoint="/idp/authorize",
        transport=httpx.WSGITransport(app=current_app._get_current_object()),
    )
    with pytest.raises(SignInFailed) as refused:
        wrong.complete(started.pending, params, CALLBACK)
    assert refused.value.code == "TOKEN_EXCHANGE_FAILED"


def test_the_portal_signs_in_through_a_discovered_provider(portal, svc, personas, monkeypatch):
    """BANSOS_IDP_BACKEND=oidc: endpoints and keys from the provider's discovery document."""
    app = current_app._get_current_object()
    wired = portal_services()
    monkeypatch.setitem(app.extensions, "tepat_portal", PortalServices(provider(), wired.sandbox_idp, wired.evidence))
    sign_in_applicant(portal, personas["high_wage"])
    assert portal.get("/portal/home").status_code == 200


def test_a_tampered_token_through_the_portal_signs_nobody_in(portal, svc, personas, monkeypatch):
    app = current_app._get_current_object()
    wired = portal_services()
    monkeypatch.setitem(
        app.extensions, "tepat_portal", PortalServices(provider(_swap_claims), wired.sandbox_idp, wired.evidence)
    )
    nik = personas["high_wage"]
    start = portal.get("/portal/signin")
    page = portal.get(start.headers["Location"])
    portal.post(
        "/idp/authorize",
        data={"nik": nik, "birth_date": birth_date_of(nik), "csrf_token": csrf_of(page.get_data(as_text=True))},
    )
    back = enter_code(portal, latest_code(nik))
    parts = urlsplit(back.headers["Location"])
    callback = portal.get(parts.path, query_string=parse_qs(parts.query))
    assert callback.headers["Location"].endswith("/portal/")
    assert portal.get("/portal/home").status_code == 302
    assert "tidak dapat diverifikasi" in portal.get("/portal/").get_data(as_text=True)
