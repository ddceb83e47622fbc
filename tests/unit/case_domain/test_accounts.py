"""Officers' passwords and sign-in (cases/accounts.py), on an in-memory officers table."""

from datetime import timedelta

import pytest

from cases.accounts import AccountLocked, LoginFailed, WeakPassword, authenticate, check_password, set_password
from cases.models import Officer
from engine.db import utcnow


@pytest.mark.parametrize(
    "password, code",
    [
        ("short1!", "PASSWORD_TOO_SHORT"),
        ("x" * 201, "PASSWORD_TOO_LONG"),
        ("aaaaabbbbb", "PASSWORD_TOO_SIMPLE"),
        ("banyuwangi123", "PASSWORD_TOO_COMMON"),
        ("my-siti-password", "PASSWORD_HAS_USERNAME"),
    ],
)
def test_weak_passwords_are_refused_with_their_rule(password, code):
    with pytest.raises(WeakPassword) as refused:
        check_password(password, "siti")
    assert refused.value.code == code


def test_a_good_password_passes():
    check_password("kopi-pagi-di-Genteng", "siti")


@pytest.fixture
def officer(session_with, settings_context):
    session = session_with("officers")
    siti = Officer(username="siti", name="Siti", roles=["caseworker"], regions=None, active=True)
    set_password(siti, "kopi-pagi-di-Genteng")
    session.add(siti)
    session.commit()
    assert siti.password_hash.startswith("pbkdf2:sha256:1000$")  # the app's cheap test method
    return session, siti


def test_sign_in_with_the_right_password_resets_failures(officer):
    session, siti = officer
    siti.failed_logins = 3
    assert authenticate(session, "siti", "kopi-pagi-di-Genteng") is siti
    assert siti.failed_logins == 0 and siti.locked_until is None


def test_five_failures_lock_the_account_and_the_right_password_does_not_open_it(officer):
    session, siti = officer
    for _ in range(4):
        with pytest.raises(LoginFailed):
            authenticate(session, "siti", "wrong-password-here")
    assert siti.failed_logins == 4
    with pytest.raises(LoginFailed):
        authenticate(session, "siti", "wrong-password-here")
    assert siti.locked_until is not None and siti.locked_until > utcnow()
    with pytest.raises(AccountLocked):
        authenticate(session, "siti", "kopi-pagi-di-Genteng")
    siti.locked_until = utcnow() - timedelta(seconds=1)  # the lock has run out
    assert authenticate(session, "siti", "kopi-pagi-di-Genteng") is siti


def test_unknown_or_inactive_officers_fail_like_a_wrong_password(officer):
    session, siti = officer
    with pytest.raises(LoginFailed):
        authenticate(session, "nobody", "kopi-pagi-di-Genteng")
    siti.active = False
    with pytest.raises(LoginFailed):
        authenticate(session, "siti", "kopi-pagi-di-Genteng")
