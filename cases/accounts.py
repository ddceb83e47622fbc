"""Officer accounts: passwords, sign-in with lock-out after repeated failures."""
from datetime import timedelta

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from engine.db import utcnow
from engine.errors import EngineError

from .models import Officer

MAX_FAILURES = 5
LOCK_MINUTES = 15
# Compared against when the username is unknown, so both paths take the same time.
_DUMMY_HASH = generate_password_hash("not-a-password")


class LoginFailed(EngineError):
    code = "LOGIN_FAILED"


class AccountLocked(EngineError):
    code = "ACCOUNT_LOCKED"


def set_password(officer, password):
    """Store a salted hash of a new password (at least 10 characters)."""
    if len(password or "") < 10:
        raise ValueError("a password needs at least 10 characters")
    officer.password_hash = generate_password_hash(password)
    officer.failed_logins = 0
    officer.locked_until = None


def authenticate(session, username, password, max_failures=MAX_FAILURES, lock_minutes=LOCK_MINUTES):
    """Return the officer for correct credentials; count failures and lock the account after too many."""
    officer = session.execute(select(Officer).where(Officer.username == username)).scalar_one_or_none()
    now = utcnow()
    if officer is None or not officer.active or not officer.password_hash:
        check_password_hash(_DUMMY_HASH, password or "")
        raise LoginFailed("wrong username or password")
    if officer.locked_until is not None and officer.locked_until > now:
        raise AccountLocked("too many failed sign-ins: the account is locked for a while",
                            until=officer.locked_until.isoformat())
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
