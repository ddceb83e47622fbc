"""Officer accounts: passwords, sign-in with lock-out after repeated failures."""

from datetime import timedelta

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from engine.db import utcnow
from engine.errors import EngineError

from .models import Officer

MAX_FAILURES = 5
LOCK_MINUTES = 15
DEFAULT_METHOD = "scrypt"
_dummy: dict[str, str] = {}  # hashing method -> a hash of no password (same cost for unknown users)


def hash_method():
    """Werkzeug's method for new password hashes: the app's BANSOS_PASSWORD_HASH_METHOD (scrypt by default;
    the test suite sets a cheap pbkdf2 so that creating officers stops dominating its time). Existing
    hashes verify whatever their method: each names it."""
    from flask import current_app, has_app_context

    return (
        current_app.config.get("BANSOS_PASSWORD_HASH_METHOD", DEFAULT_METHOD) if has_app_context() else DEFAULT_METHOD
    )


def check_hash_method(method):
    """Refuse an unknown method at start-up (raises ValueError)."""
    generate_password_hash("probe-password", method=method)


def is_cheap(method):
    """Tell whether `method` is too cheap for real passwords (pbkdf2 under 100,000 iterations)."""
    parts = method.split(":")
    return parts[0] == "pbkdf2" and len(parts) > 2 and int(parts[2]) < 100_000


def _dummy_hash():
    """Compared against when the username is unknown, so both paths take the same time."""
    method = hash_method()
    if method not in _dummy:
        _dummy[method] = generate_password_hash("not-a-password", method=method)
    return _dummy[method]


class LoginFailed(EngineError):
    code = "LOGIN_FAILED"


class AccountLocked(EngineError):
    code = "ACCOUNT_LOCKED"


class WeakPassword(ValueError):
    """A password the rules refuse; `code` says which rule (PASSWORD_TOO_SHORT, ...)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


MIN_PASSWORD, MAX_PASSWORD = 10, 200  # the sign-in form accepts at most 200 characters
# Long enough to pass the length rule, yet first in every guessing list.
_COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "0123456789",
        "qwertyuiop",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou123",
        "abcdefghij",
        "1q2w3e4r5t",
        "qwerty12345",
        "indonesia123",
        "bismillah123",
        "banyuwangi123",
        "katasandi123",
    }
)


def check_password(password, username=None):
    """Raise WeakPassword unless `password` is 10-200 characters, varied, common-list free and not the username."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword("PASSWORD_TOO_SHORT", f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise WeakPassword("PASSWORD_TOO_LONG", f"a password has at most {MAX_PASSWORD} characters")
    if len(set(password)) < 5:
        raise WeakPassword("PASSWORD_TOO_SIMPLE", "a password needs at least 5 different characters")
    if password.lower() in _COMMON:
        raise WeakPassword("PASSWORD_TOO_COMMON", "this password is on every guessing list")
    if username and len(username) >= 3 and username.lower() in password.lower():
        raise WeakPassword("PASSWORD_HAS_USERNAME", "a password may not contain the username")


def set_password(officer, password):
    """Store a salted hash of a new password that passes check_password."""
    check_password(password, officer.username)
    officer.password_hash = generate_password_hash(password, method=hash_method())
    officer.failed_logins = 0
    officer.locked_until = None


def authenticate(session, username, password, max_failures=MAX_FAILURES, lock_minutes=LOCK_MINUTES):
    """Return the officer for correct credentials; count failures and lock the account after too many."""
    officer = session.execute(select(Officer).where(Officer.username == username)).scalar_one_or_none()
    now = utcnow()
    if officer is None or not officer.active or not officer.password_hash:
        check_password_hash(_dummy_hash(), password or "")
        raise LoginFailed("wrong username or password")
    if officer.locked_until is not None and officer.locked_until > now:
        raise AccountLocked(
            "too many failed sign-ins: the account is locked for a while", until=officer.locked_until.isoformat()
        )
    if not check_password_hash(officer.password_hash, password or ""):
        officer.failed_logins = (officer.failed_logins or 0) + 1
        if officer.failed_logins >= max_failures:
            officer.locked_until = now + timedelta(minutes=lock_minutes)
            officer.failed_logins = 0
        raise LoginFailed("wrong username or password")
    officer.failed_logins = 0
    officer.locked_until = None
    officer.last_login_at = now
    return officer


def password_matches(officer, password):
    """Return True if `password` is the officer's current password."""
    return bool(officer.password_hash) and check_password_hash(officer.password_hash, password or "")
