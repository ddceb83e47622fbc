"""Officer sessions end on the server: sign-out, password change or reset and deactivation sign out every
copy of the session cookie (web/auth.py checks the officer's session epoch on each request)."""

import re
from contextlib import ExitStack

import pytest

from cases.operations import create_officer
from engine.db import db
from tests.helpers import fresh_client

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "another-horse-battery"


BROWSERS = ExitStack()


@pytest.fixture
def officers(ctx):
    create_officer(db.session, "s_worker", "Worker", ["caseworker"], None, password=PASSWORD)
    create_officer(db.session, "s_admin", "Admin", ["administrator"], None, password=PASSWORD)
    db.session.commit()
    with BROWSERS:  # every browser a test opened is closed after it
        yield


def csrf_of(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def signed_in(username, password=PASSWORD):
    """A new browser signed in as `username` (the caller closes it)."""
    client = BROWSERS.enter_context(fresh_client())
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(client)})
    assert response.status_code == 302
    return client


def copy_of(client):
    """A second browser holding a copy of `client`'s session cookie."""
    thief = BROWSERS.enter_context(fresh_client())
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def is_signed_in(client):
    return client.get("/profile").status_code == 200


def post(client, path, data=None):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_of(client, "/profile")})


def officer_id(username):
    from sqlalchemy import select

    from cases.models import Officer

    return db.session.execute(select(Officer.id).where(Officer.username == username)).scalar_one()


def test_a_copied_cookie_is_signed_out_by_logout(officers):
    browser = signed_in("s_worker")
    thief = copy_of(browser)
    assert is_signed_in(thief)
    post(browser, "/logout")
    assert not is_signed_in(browser) and not is_signed_in(thief)
    assert thief.get("/api/v1/tasks").status_code == 401  # the API's session callers too
    assert is_signed_in(signed_in("s_worker"))  # signing in again starts a new session


def test_a_password_reset_ends_every_session_of_the_officer(officers):
    browser = signed_in("s_worker")
    thief = copy_of(browser)
    admin = signed_in("s_admin")
    assert (
        post(
            admin,
            f"/admin/officers/{officer_id('s_worker')}/password",
            {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        ).status_code
        == 302
    )
    assert not is_signed_in(browser) and not is_signed_in(thief)
    assert is_signed_in(admin)


def test_a_password_change_ends_the_other_sessions_and_keeps_the_current_one(officers):
    browser = signed_in("s_worker")
    thief = copy_of(browser)
    other = signed_in("s_worker")
    response = post(
        other,
        "/profile/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert is_signed_in(other)
    assert not is_signed_in(browser) and not is_signed_in(thief)


def test_deactivation_ends_every_session_and_reactivation_does_not_revive_them(officers):
    browser = signed_in("s_worker")
    thief = copy_of(browser)
    admin = signed_in("s_admin")
    target = officer_id("s_worker")
    assert post(admin, f"/admin/officers/{target}/deactivate").status_code == 302
    assert not is_signed_in(thief)
    assert post(admin, f"/admin/officers/{target}/reactivate").status_code == 302
    assert not is_signed_in(browser) and not is_signed_in(thief)
