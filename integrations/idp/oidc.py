"""OpenID Connect sign-in (authorization code flow with PKCE, state and nonce) through Authlib.

Authlib drives the protocol (authorization URL, PKCE challenge, token request with client
authentication); joserfc, Authlib's successor for JOSE, checks the ID token's signature against the
provider's published keys and its claims (issuer, audience, nonce, expiry, issue time).
"""

from __future__ import annotations

import hmac
import threading
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from integrations.idp.base import AuthorizationRequest, IdentityProvider, SignInFailed, VerifiedIdentity
from integrations.nik import NikInvalid, validate_nik

with warnings.catch_warnings():
    # Authlib announces that it will move to the httpx2 package, which this install does not
    # have; the httpx client it falls back to is the one it documents and tests.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

SIGNING_ALGORITHMS = ["RS256", "ES256", "PS256"]
DISCOVERY_PATH = "/.well-known/openid-configuration"
_REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


class OidcIdentityProvider(IdentityProvider):
    """An OpenID Connect provider (Dukcapil's digital ID, or the sandbox provider) used as a client.

    ``metadata`` gives the provider's endpoints; without it they are read once from
    ``issuer`` + ``/.well-known/openid-configuration``. ``browser_authorization_endpoint``
    replaces the published one for the browser only (the sandbox provider is served by this same
    app at a local path). ``transport`` carries the server-to-server calls (token, keys,
    discovery); the sandbox wiring passes the app itself (httpx.WSGITransport).
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        nik_claim: str = "nik",
        scope: str = "openid",
        metadata: dict | None = None,
        browser_authorization_endpoint: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 5.0,
        leeway: int = 60,
        pending_ttl: int = 600,
        clock: Callable[[], float] = time.time,
    ):
        if not issuer or not client_id or not client_secret:
            raise ValueError("An OpenID Connect provider needs an issuer, a client id and a client secret.")
        self.issuer = issuer
        self.client_id = client_id
        self._client_secret = client_secret
        self.nik_claim = nik_claim
        self.scope = scope if "openid" in scope.split() else f"openid {scope}".strip()
        self._metadata = dict(metadata) if metadata else None
        self._browser_endpoint = browser_authorization_endpoint
        self._transport = transport
        self._timeout = timeout
        self.leeway = leeway
        self.pending_ttl = pending_ttl
        self._clock = clock
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    # --- the two steps --------------------------------------------------------------------------

    def begin(self, redirect_uri: str) -> AuthorizationRequest:
        """Start a sign-in: return where to send the browser and what to keep."""
        metadata = self.metadata()
        verifier, nonce = generate_token(64), generate_token(32)
        with self._client(redirect_uri) as client:
            url, state = client.create_authorization_url(
                self._browser_endpoint or metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
        pending = {
            "state": state,
            "nonce": nonce,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
            "started": int(self._clock()),
        }
        return AuthorizationRequest(url=url, pending=pending)

    def complete(self, pending: dict, params: dict, redirect_uri: str) -> VerifiedIdentity:
        """Finish a sign-in from the browser's return; return the verified identity."""
        if not pending or not isinstance(pending, dict):
            raise SignInFailed("STATE_MISMATCH", "no sign-in is pending for this browser")
        state = params.get("state") or ""
        if not hmac.compare_digest(str(state), str(pending.get("state", ""))):
            raise SignInFailed("STATE_MISMATCH", "the answer belongs to another sign-in")
        if int(self._clock()) - int(pending.get("started", 0)) > self.pending_ttl:
            raise SignInFailed("STATE_MISMATCH", "the sign-in took too long")
        if pending.get("redirect_uri") != redirect_uri:
            raise SignInFailed("STATE_MISMATCH", "the sign-in came back to another address")
        if params.get("error"):
            raise SignInFailed("PROVIDER_DENIED", str(params.get("error"))[:100])
        code = params.get("code")
        if not code:
            raise SignInFailed("TOKEN_EXCHANGE_FAILED", "the provider sent no authorization code")
        token = self._exchange(code, pending, redirect_uri)
        claims = self._validate_id_token(token.get("id_token"), pending["nonce"])
        try:
            nik = validate_nik(str(claims.get(self.nik_claim) or ""))
        except NikInvalid as exc:
            raise SignInFailed("NIK_MISSING", f"claim {self.nik_claim!r}: {exc.code}") from exc
        auth_time = claims.get("auth_time")
        return VerifiedIdentity(
            nik=nik,
            issuer=claims["iss"],
            subject=str(claims["sub"]),
            auth_time=datetime.fromtimestamp(auth_time, UTC) if isinstance(auth_time, int) else None,
            claims=claims,
        )

    # --- provider metadata and keys ---------------------------------------------------------------

    def metadata(self) -> dict:
        """Return the provider's endpoints (read once from its discovery document if not given)."""
        if self._metadata is None:
            with self._lock:
                if self._metadata is None:
                    found = self._get_json(self.issuer.rstrip("/") + DISCOVERY_PATH)
                    missing = [k for k in _REQUIRED_METADATA if not found.get(k)]
                    if missing:
                        raise SignInFailed("PROVIDER_UNAVAILABLE", f"discovery document lacks {missing}")
                    if found["issuer"] != self.issuer:
                        # A discovery document naming another issuer is a misconfiguration or an attack.
                        raise SignInFailed("PROVIDER_UNAVAILABLE", "discovery document names another issuer")
                    self._metadata = found
        return self._metadata

    def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            data = self._get_json(self.metadata()["jwks_uri"])
            try:
                # The provider's JSON, checked by import_key_set itself (its errors are caught below).
                self._keys = KeySet.import_key_set(cast(KeySetSerialization, data))
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise SignInFailed("PROVIDER_UNAVAILABLE", f"unusable key set: {exc}") from exc
        return self._keys

    # --- plumbing ---------------------------------------------------------------------------------

    def _client(self, redirect_uri: str | None = None) -> OAuth2Client:
        return OAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            scope=self.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
            transport=self._transport,
            timeout=self._timeout,
        )

    def _get_json(self, url: str) -> dict:
        try:
            with self._client() as client:
                response = client.request("GET", url, withhold_token=True)
        except httpx.HTTPError as exc:
            raise SignInFailed("PROVIDER_UNAVAILABLE", f"{url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise SignInFailed("PROVIDER_UNAVAILABLE", f"{url} answered {response.status_code}")
        try:
            data = response.json()
        except ValueError as exc:
            raise SignInFailed("PROVIDER_UNAVAILABLE", f"{url} answered no JSON") from exc
        if not isinstance(data, dict):
            raise SignInFailed("PROVIDER_UNAVAILABLE", f"{url} answered no JSON object")
        return data

    def _exchange(self, code: str, pending: dict, redirect_uri: str) -> dict:
        try:
            with self._client(redirect_uri) as client:
                token = client.fetch_token(
                    self.metadata()["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending["code_verifier"],
                    redirect_uri=redirect_uri,
                )
        except OAuthError as exc:
            raise SignInFailed("TOKEN_EXCHANGE_FAILED", str(exc.error)[:100]) from exc
        except httpx.HTTPError as exc:
            raise SignInFailed("PROVIDER_UNAVAILABLE", type(exc).__name__) from exc
        except ValueError as exc:  # not JSON
            raise SignInFailed("TOKEN_EXCHANGE_FAILED", "the token answer is no JSON") from exc
        if not isinstance(token, dict) or not token.get("id_token"):
            raise SignInFailed("TOKEN_EXCHANGE_FAILED", "the token answer holds no ID token")
        return token

    def _validate_id_token(self, id_token, nonce: str) -> dict:
        if not isinstance(id_token, str):
            raise SignInFailed("ID_TOKEN_INVALID", "the ID token is not a string")
        try:
            try:
                decoded = jwt.decode(id_token, self._key_set(), algorithms=SIGNING_ALGORITHMS)
            except InvalidKeyIdError:  # a key we do not know yet: the provider may have rotated its keys
                decoded = jwt.decode(id_token, self._key_set(refresh=True), algorithms=SIGNING_ALGORITHMS)
            claims = decoded.claims
            registry = jwt.JWTClaimsRegistry(
                now=lambda: int(self._clock()),
                leeway=self.leeway,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            )
            registry.validate(claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise SignInFailed("ID_TOKEN_INVALID", f"{type(exc).__name__}: {exc}"[:200]) from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInFailed("ID_TOKEN_INVALID", "several audiences and we are not the authorized party")
        return dict(claims)
