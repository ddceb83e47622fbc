"""Helpers for the portal tests (and the end-to-end journey): sign an applicant in, read the demo code.

    from tests.integration.portal_helpers import portal, sign_in_applicant, latest_code  # noqa: F401

    def test_x(portal, svc, personas):
        sign_in_applicant(portal, personas["civil_servant"])   # through the sandbox OIDC provider
        assert portal.get("/portal/home").status_code == 200
"""
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import current_app
from flask.testing import FlaskClient
from sqlalchemy import select

from cases.operations import create_officer
from engine.db import db
from integrations.sandbox.tables import outbox, people

PASSWORD = "correct-horse-battery"
ROLES = ("caseworker", "supervisor", "appeals_officer", "administrator", "auditor", "facilitator")


class FreshContextClient(FlaskClient):
    """Each request in its own app context, as in production (the test itself holds one open)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def portal(ctx, monkeypatch):
    """A test client; the sandbox provider's code is not shown on screen unless a test turns it on."""
    app = current_app._get_current_object()
    monkeypatch.setitem(app.config, "BANSOS_DEMO_SHOW_OTP", False)
    app.test_client_class = FreshContextClient
    try:
        yield app.test_client()
    finally:
        app.test_client_class = None


@pytest.fixture
def officer_logins(ctx):
    """One officer per role (all districts) with the test password; returns {role: username}."""
    names = {}
    for role in ROLES:
        create_officer(db.session, f"p_{role}", role.title(), [role], None, password=PASSWORD)
        names[role] = f"p_{role}"
    db.session.commit()
    return names


def csrf_of(html):
    """The CSRF token of the first form in a page."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def officer_login(client, username, password=PASSWORD):
    """Sign an officer in through /login."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def birth_date_of(nik):
    """The person's date of birth in the sandbox civil registry (ISO text)."""
    db.session.expire_all()
    return db.session.execute(select(people.c.birth_date).where(people.c.nik == nik)).scalar_one().isoformat()


def latest_code(nik):
    """The last one-time code the sandbox provider sent this NIK by SMS (the sandbox outbox)."""
    db.session.expire_all()
    row = db.session.execute(select(outbox.c.params).where(outbox.c.recipient_nik == nik,
                                                           outbox.c.template == "signin_code")
                             .order_by(outbox.c.id.desc()).limit(1)).scalar_one_or_none()
    return row["code"] if row else None


def start_sign_in(client, nik, birth_date=None, next_path=None):
    """Go from the portal to the sandbox provider and submit NIK and birth date; return that response."""
    response = client.get("/portal/signin" + (f"?next={next_path}" if next_path else ""))
    assert response.status_code == 302, response.status_code
    page = client.get(response.headers["Location"])
    assert page.status_code == 200, page.status_code
    return client.post("/idp/authorize", data={"nik": nik, "birth_date": birth_date or birth_date_of(nik),
                                               "csrf_token": csrf_of(page.get_data(as_text=True))})


def enter_code(client, code):
    """Submit a one-time code on the provider's code page; return the response."""
    page = client.get("/idp/verify")
    return client.post("/idp/verify", data={"code": code, "csrf_token": csrf_of(page.get_data(as_text=True))})


def follow_callback(client, response):
    """Follow the provider's redirect back to the portal's callback; return the callback's response."""
    location = response.headers["Location"]
    assert "/portal/callback" in location, location
    parts = urlsplit(location)
    return client.get(parts.path, query_string=parse_qs(parts.query))


def sign_in_applicant(client, nik, birth_date=None):
    """Sign an applicant in through the sandbox digital ID (OIDC, code by SMS); return the callback response."""
    response = start_sign_in(client, nik, birth_date)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    response = enter_code(client, latest_code(nik))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    callback = follow_callback(client, response)
    assert callback.status_code == 302 and "/portal/" in callback.headers["Location"], callback.headers.get("Location")
    return callback
