"""The sandbox digital-ID provider: NIK and date of birth checked against the civil registry, then a
one-time code sent by SMS through the notifier; it answers as an OpenID Connect provider (signed ID
tokens, authorization codes bound to PKCE), so the portal signs in through the same client as with
the real provider.

Codes are six digits, single use, kept only as an HMAC, valid for a few minutes and a few tries;
code requests are rate-limited per NIK and per client address, and repeated failures lock the NIK
or the address for a while.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization, RSAKey
from sqlalchemy import and_, func, insert, select, update

from integrations.base import PersonNotFound, utc_now
from integrations.digits import ascii_digits_in
from integrations.identity import CivilRegistry
from integrations.idp.tables import IdpTables
from integrations.nik import NikInvalid, validate_nik
from integrations.notify import Notifier
from integrations.sandbox.common import as_utc

FAILURE_KINDS = ("no_match", "code_wrong")
SIGNIN_TEMPLATE = "signin_code"


@dataclass(frozen=True)
class SignInLimits:
    """How long codes live and how many tries the provider allows."""

    code_ttl_seconds: int = 300
    code_attempts: int = 3
    # Code requests per NIK and per client address within `window_seconds`.
    codes_per_nik: int = 3
    codes_per_client: int = 10
    window_seconds: int = 900
    # Failed checks (wrong birth date or code) within `lock_seconds` that lock the NIK / the address.
    failures_per_nik: int = 5
    failures_per_client: int = 20
    lock_seconds: int = 1800
    authorization_code_ttl_seconds: int = 120
    id_token_ttl_seconds: int = 300


class ChallengeRefused(Exception):
    """A sign-in step was refused; ``code`` tells the person what happened.

    Codes: NIK_INVALID, NO_MATCH (NIK and birth date do not match a living person), RATE_LIMITED,
    LOCKED, UNKNOWN_CHALLENGE, CODE_WRONG, CODE_EXPIRED, CODE_USED, TOO_MANY_ATTEMPTS.
    ``locked_now`` is True when this very failure caused the lock (worth an audit entry).
    """

    def __init__(
        self,
        code: str,
        *,
        retry_after: int | None = None,
        attempts_left: int | None = None,
        locked_now: bool = False,
        nik: str | None = None,
    ):
        super().__init__(code)
        self.code = code
        self.retry_after = retry_after
        self.attempts_left = attempts_left
        self.locked_now = locked_now
        self.nik = nik


class AuthorizationRequestInvalid(Exception):
    """An authorization request the provider refuses; ``redirect`` says whether the client may be told."""

    def __init__(self, error: str, description: str, redirect: bool):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.redirect = redirect


class TokenRequestRefused(Exception):
    """A token request refused with an OAuth error code and HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class Challenge:
    """A one-time code sent to a person; `code` is the plain code, known only in memory."""

    handle: str
    nik: str
    expires_at: datetime
    code: str


@dataclass(frozen=True)
class RegisteredClient:
    secret: str
    redirect_paths: tuple


class SandboxIdentityServer:
    """The sandbox provider's logic; the web layer serves its pages and endpoints."""

    def __init__(
        self,
        session_factory: Callable,
        tables: IdpTables,
        registry: CivilRegistry,
        notifier: Notifier,
        signing_key: RSAKey,
        issuer: str,
        clients: dict[str, RegisteredClient],
        secret: bytes,
        limits: SignInLimits = SignInLimits(),
        clock: Callable[[], datetime] = utc_now,
    ):
        self._session_factory = session_factory
        self.t = tables
        self.registry = registry
        self.notifier = notifier
        self.key = signing_key
        self.issuer = issuer
        self.clients = clients
        self._secret = secret
        self.limits = limits
        self._clock = clock

    @property
    def _session(self):
        return self._session_factory()

    # --- the provider's published metadata --------------------------------------------------------

    def discovery(self) -> dict:
        """Return the OpenID Connect discovery document."""
        base = self.issuer.rstrip("/")
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "nik"],
        }

    def jwks(self) -> KeySetSerialization:
        """Return the public signing keys."""
        return KeySet([self.key]).as_dict(private=False)

    # --- the authorization request ----------------------------------------------------------------

    def check_authorization_request(self, params: dict, host: str) -> dict:
        """Validate an authorization request from a browser on `host`; return what to keep of it."""
        client = self.clients.get(params.get("client_id") or "")
        redirect_uri = params.get("redirect_uri") or ""
        parts = urlsplit(redirect_uri)
        # Never redirect anywhere but a registered path on this very host (no open redirect).
        if client is None:
            raise AuthorizationRequestInvalid("unauthorized_client", "unknown client", redirect=False)
        if (
            parts.scheme not in ("http", "https")
            or parts.netloc != host
            or parts.path not in client.redirect_paths
            or parts.query
            or parts.fragment
        ):
            raise AuthorizationRequestInvalid("invalid_request", "redirect_uri not registered", redirect=False)
        problems = []
        if params.get("response_type") != "code":
            problems.append("response_type must be code")
        if "openid" not in (params.get("scope") or "").split():
            problems.append("scope must include openid")
        if params.get("code_challenge_method") != "S256" or not (43 <= len(params.get("code_challenge") or "") <= 128):
            problems.append("PKCE with S256 is required")
        for name in ("state", "nonce"):
            if not 8 <= len(params.get(name) or "") <= 200:
                problems.append(f"{name} is required")
        if problems:
            raise AuthorizationRequestInvalid("invalid_request", "; ".join(problems), redirect=True)
        return {k: params[k] for k in ("client_id", "redirect_uri", "state", "nonce", "code_challenge")}

    @staticmethod
    def redirect_with(request: dict, **params) -> str:
        """Return the client's redirect URI with `params` and the request's state."""
        return f"{request['redirect_uri']}?{urlencode({**params, 'state': request['state']})}"

    # --- step 1: NIK and birth date, then a code by SMS -------------------------------------------

    def start_challenge(self, nik: str, birth_date: date, client_ip: str | None) -> Challenge:
        """Check NIK and birth date against the civil registry and send a one-time code by SMS."""
        try:
            nik = validate_nik(nik)
        except NikInvalid as exc:
            raise ChallengeRefused("NIK_INVALID") from exc
        now = self._clock()
        self._refuse_if_locked(nik, client_ip, now)
        self._refuse_if_too_many_codes(nik, client_ip, now)
        try:
            person = self.registry.lookup_person(nik)
            matches = person.alive and person.birth_date == birth_date
        except PersonNotFound:
            matches = False
        if not matches:
            # The same answer for an unknown NIK and a wrong date: the form must not tell who exists.
            self._fail("no_match", nik, client_ip, now)
        code = f"{secrets.randbelow(10**6):06d}"
        handle = secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=self.limits.code_ttl_seconds)
        session = self._session
        session.execute(
            insert(self.t.challenges).values(
                handle=handle,
                nik=nik,
                code_hash=self._code_hash(handle, code),
                created_at=now,
                expires_at=expires,
                attempts=0,
                client_ip=client_ip,
            )
        )
        self._note("code_sent", nik, client_ip, now)
        self.notifier.send(nik, "SMS", SIGNIN_TEMPLATE, {"code": code, "minutes": self.limits.code_ttl_seconds // 60})
        session.flush()
        return Challenge(handle=handle, nik=nik, expires_at=expires, code=code)

    # --- step 2: the code -------------------------------------------------------------------------

    def verify_code(self, handle: str, code: str, client_ip: str | None) -> str:
        """Check a one-time code; return the NIK it proves (the code is then used up)."""
        t = self.t.challenges
        session = self._session
        row = session.execute(select(t).where(t.c.handle == str(handle or ""))).first()
        if row is None:
            raise ChallengeRefused("UNKNOWN_CHALLENGE")
        now = self._clock()
        self._refuse_if_locked(row.nik, client_ip, now)
        if row.used_at is not None:
            raise ChallengeRefused("CODE_USED", nik=row.nik)
        if as_utc(row.expires_at) <= now:
            raise ChallengeRefused("CODE_EXPIRED", nik=row.nik)
        if row.attempts >= self.limits.code_attempts:
            raise ChallengeRefused("TOO_MANY_ATTEMPTS", nik=row.nik)
        given = ascii_digits_in(code)[:6]
        if not hmac.compare_digest(self._code_hash(row.handle, given), row.code_hash):
            attempts = row.attempts + 1
            session.execute(update(t).where(t.c.id == row.id).values(attempts=attempts))
            left = self.limits.code_attempts - attempts
            self._fail(
                "code_wrong",
                row.nik,
                client_ip,
                now,
                refusal=ChallengeRefused("CODE_WRONG", attempts_left=left, nik=row.nik)
                if left > 0
                else ChallengeRefused("TOO_MANY_ATTEMPTS", nik=row.nik),
            )
        # Conditional update: of two simultaneous uses of one code exactly one succeeds.
        done = session.execute(update(t).where(t.c.id == row.id, t.c.used_at.is_(None)).values(used_at=now))
        if done.rowcount != 1:
            raise ChallengeRefused("CODE_USED", nik=row.nik)
        session.flush()
        return row.nik

    # --- step 3: authorization code and tokens ----------------------------------------------------

    def issue_authorization_code(self, nik: str, request: dict) -> str:
        """Return a single-use authorization code for a signed-in person and a checked request."""
        code = secrets.token_urlsafe(32)
        now = self._clock()
        self._session.execute(
            insert(self.t.authorization_codes).values(
                code_hash=hashlib.sha256(code.encode()).hexdigest(),
                client_id=request["client_id"],
                redirect_uri=request["redirect_uri"],
                nonce=request["nonce"],
                code_challenge=request["code_challenge"],
                nik=nik,
                auth_time=now,
                expires_at=now + timedelta(seconds=self.limits.authorization_code_ttl_seconds),
            )
        )
        self._session.flush()
        return code

    def exchange(self, form: dict, basic_auth: tuple[str, str] | None) -> dict:
        """Answer a token request: check the client, the code and the PKCE verifier; return the tokens."""
        client_id, client_secret = basic_auth or (form.get("client_id"), form.get("client_secret"))
        client = self.clients.get(client_id or "")
        if client is None or not hmac.compare_digest(str(client_secret or ""), client.secret):
            raise TokenRequestRefused("invalid_client", "client authentication failed", status=401)
        if form.get("grant_type") != "authorization_code":
            raise TokenRequestRefused("unsupported_grant_type", "only authorization_code")
        t = self.t.authorization_codes
        code_hash = hashlib.sha256(str(form.get("code") or "").encode()).hexdigest()
        session = self._session
        row = session.execute(select(t).where(t.c.code_hash == code_hash)).first()
        now = self._clock()
        if row is None or row.used_at is not None or as_utc(row.expires_at) <= now:
            raise TokenRequestRefused("invalid_grant", "unknown, used or expired code")
        done = session.execute(
            update(t).where(and_(t.c.code_hash == code_hash, t.c.used_at.is_(None))).values(used_at=now)
        )
        if done.rowcount != 1:
            raise TokenRequestRefused("invalid_grant", "code already used")
        if row.client_id != client_id or row.redirect_uri != form.get("redirect_uri"):
            raise TokenRequestRefused("invalid_grant", "code issued to another client or redirect_uri")
        verifier = str(form.get("code_verifier") or "")
        challenge = create_s256_code_challenge(verifier)
        if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(challenge, row.code_challenge):
            raise TokenRequestRefused("invalid_grant", "PKCE verification failed")
        session.flush()
        issued = int(now.timestamp())
        claims = {
            "iss": self.issuer,
            "sub": self._subject(row.nik, client_id),
            "aud": client_id,
            "iat": issued,
            "exp": issued + self.limits.id_token_ttl_seconds,
            "auth_time": int(as_utc(row.auth_time).timestamp()),
            "nonce": row.nonce,
            "nik": row.nik,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
        return {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": self.limits.id_token_ttl_seconds,
            "id_token": id_token,
            "scope": "openid",
        }

    # --- limits -----------------------------------------------------------------------------------

    def _note(self, kind, nik, client_ip, now):
        self._session.execute(insert(self.t.attempts).values(at=now, kind=kind, nik=nik, client_ip=client_ip))

    def _fail(self, kind, nik, client_ip, now, refusal=None):
        """Record a failure, lock if it was one too many, and raise the refusal."""
        self._note(kind, nik, client_ip, now)
        self._session.flush()
        lock = self._lock_remaining(nik, client_ip, now)
        if lock:
            self._note("locked", nik, client_ip, now)
            raise ChallengeRefused("LOCKED", retry_after=lock, locked_now=True, nik=nik)
        raise refusal or ChallengeRefused(kind.upper(), nik=nik)

    def _lock_remaining(self, nik, client_ip, now) -> int:
        """Seconds until the NIK or the address is free again (0: not locked)."""
        a = self.t.attempts
        since = now - timedelta(seconds=self.limits.lock_seconds)
        remaining = 0
        for column, value, limit in (
            (a.c.nik, nik, self.limits.failures_per_nik),
            (a.c.client_ip, client_ip, self.limits.failures_per_client),
        ):
            if value is None:
                continue
            times = (
                self._session.execute(
                    select(a.c.at)
                    .where(column == value, a.c.kind.in_(FAILURE_KINDS), a.c.at > since)
                    .order_by(a.c.at.desc())
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            if len(times) >= limit:
                # Free again when the oldest of the last `limit` failures leaves the window.
                free_at = as_utc(times[-1]) + timedelta(seconds=self.limits.lock_seconds)
                remaining = max(remaining, int((free_at - now).total_seconds()) + 1)
        return remaining

    def _refuse_if_locked(self, nik, client_ip, now):
        lock = self._lock_remaining(nik, client_ip, now)
        if lock:
            raise ChallengeRefused("LOCKED", retry_after=lock, nik=nik)

    def _refuse_if_too_many_codes(self, nik, client_ip, now):
        a = self.t.attempts
        since = now - timedelta(seconds=self.limits.window_seconds)
        for column, value, limit in (
            (a.c.nik, nik, self.limits.codes_per_nik),
            (a.c.client_ip, client_ip, self.limits.codes_per_client),
        ):
            if value is None:
                continue
            count, oldest = self._session.execute(
                select(func.count(), func.min(a.c.at)).where(column == value, a.c.kind == "code_sent", a.c.at > since)
            ).one()
            if count >= limit:
                wait = as_utc(oldest) + timedelta(seconds=self.limits.window_seconds) - now
                raise ChallengeRefused("RATE_LIMITED", retry_after=int(wait.total_seconds()) + 1, nik=nik)

    # --- hashing ----------------------------------------------------------------------------------

    def _code_hash(self, handle: str, code: str) -> str:
        return hmac.new(self._secret, f"code:{handle}:{code}".encode(), hashlib.sha256).hexdigest()

    def _subject(self, nik: str, client_id: str) -> str:
        # Pairwise subject: stable per person and client, and not the NIK itself.
        return hmac.new(self._secret, f"sub:{client_id}:{nik}".encode(), hashlib.sha256).hexdigest()[:32]
