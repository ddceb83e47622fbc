"""The identity-provider interface the portal signs applicants in with."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime


class SignInFailed(Exception):
    """The sign-in did not prove who the person is; ``code`` says why (stable, for translations).

    Codes: 'STATE_MISMATCH' (no pending sign-in, or the answer belongs to another one),
    'PROVIDER_DENIED' (the provider or the person cancelled), 'TOKEN_EXCHANGE_FAILED',
    'ID_TOKEN_INVALID' (signature, issuer, audience, nonce or times wrong), 'NIK_MISSING'
    (the token carries no usable NIK), 'PROVIDER_UNAVAILABLE' (network trouble; try again later).
    """

    def __init__(self, code: str, message: str = ""):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and what to keep (server-side or in the signed session) until it returns."""

    url: str
    pending: dict


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who the provider says signed in: the NIK and the ID token's validated claims."""

    nik: str
    issuer: str
    subject: str
    auth_time: datetime | None
    claims: dict = field(default_factory=dict)


class IdentityProvider(ABC):
    """Signs a person in with their digital ID and returns their NIK.

    Contract for every implementation:
    - ``begin(redirect_uri)`` returns an ``AuthorizationRequest``: the URL to send the browser to
      and a ``pending`` dict (JSON-able) the caller keeps for this browser only and hands back to
      ``complete``. It holds the secrets of this one attempt (state, nonce, PKCE verifier).
    - ``complete(pending, params, redirect_uri)`` takes the query parameters the browser came back
      with and returns a ``VerifiedIdentity`` whose ``nik`` passed ``validate_nik``; anything else
      raises ``SignInFailed`` with a code. A pending request is used once.
    - Implementations never touch the web framework and never commit a database transaction.
    """

    @abstractmethod
    def begin(self, redirect_uri: str) -> AuthorizationRequest:
        """Start a sign-in: return where to send the browser and what to keep."""

    @abstractmethod
    def complete(self, pending: dict, params: dict, redirect_uri: str) -> VerifiedIdentity:
        """Finish a sign-in from the browser's return; return the verified identity."""
