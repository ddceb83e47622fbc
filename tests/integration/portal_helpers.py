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
from sqlalchemy import select

from cases.operations import create_officer
from engine.db import db
from integrations.sandbox.tables import outbox, people
from tests.helpers import FreshContextClient, fresh_client  # noqa: F401  (re-exported for the portal tests)

PASSWORD = "correct-horse-battery"
ROLES = ("caseworker", "supervisor", "appeals_officer", "administrator", "auditor", "facilitator")


@pytest.fixture
def portal(ctx, monkeypatch):
    """A test client; the sandbox provider's code is not shown on screen unless a test turns it on."""
    monkeypatch.setitem(current_app.config, "BANSOS_DEMO_SHOW_OTP", False)
    with fresh_client() as client:
        yield client


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
    row = db.session.execute(
        select(outbox.c.params)
        .where(outbox.c.recipient_nik == nik, outbox.c.template == "signin_code")
        .order_by(outbox.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return row["code"] if row else None


def start_sign_in(client, nik, birth_date=None, next_path=None):
    """Go from the portal to the sandbox provider and submit NIK and birth date; return that response."""
    response = client.get("/portal/signin" + (f"?next={next_path}" if next_path else ""))
    assert response.status_code == 302, response.status_code
    page = client.get(response.headers["Location"])
    assert page.status_code == 200, page.status_code
    return client.post(
        "/idp/authorize",
        data={
            "nik": nik,
            "birth_date": birth_date or birth_date_of(nik),
            "csrf_token": csrf_of(page.get_data(as_text=True)),
        },
    )


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


def other_photo_of(faces, file_name):
    """Another single-face photo of the person in `file_name`, from the faces manifest."""
    import csv

    with (faces / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    person = next(r["person"] for r in rows if r["file"] == file_name)
    return next(
        faces / r["file"]
        for r in rows
        if r["person"] == person and r["file"] != file_name and r["faces"] == "1" and not r["note"]
    )


def post_form(client, path, data, page=None):
    """POST a form with the CSRF token of `page` (default: the same path)."""
    html = client.get(page or path).get_data(as_text=True)
    return client.post(path, data={**data, "csrf_token": csrf_of(html)})


def post_multipart(client, path, fields, files, page=None):
    """POST a multipart form built in memory (fields + [(field, filename, bytes)]) with a CSRF token."""
    import io

    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    values = MultiDict(fields)
    if page is not False:
        values["csrf_token"] = csrf_of(client.get(page or path).get_data(as_text=True))
    for field, filename, content in files:
        values.add(field, FileStorage(io.BytesIO(content), filename=filename))
    boundary, body = encode_multipart(values)
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def post_photo(client, path, content, filename="selfie.jpg", page=None, field="selfie"):
    """POST a photo (multipart) with the CSRF token of `page`."""
    return post_multipart(client, path, {}, [(field, filename, content)], page=page)


def register_self(client, selfie, payment_channel="BRI", bank_account="1234567890", phone="081234567890"):
    """Fill every step of the signed-in applicant's registration; return the review page."""
    assert client.get("/portal/apply").status_code == 302  # starts the server-side draft
    assert post_form(client, "/portal/apply/consent", {"agree": "yes"}).status_code == 302
    assert post_form(client, "/portal/apply/household", {"confirmed": "yes", "phone": phone}).status_code == 302
    assert (
        post_form(
            client, "/portal/apply/payment", {"payment_channel": payment_channel, "bank_account": bank_account}
        ).status_code
        == 302
    )
    response = post_photo(client, "/portal/apply/photo", selfie)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    return client.get("/portal/apply/review")


def submit_registration(client, path="/portal/apply/submit", page="/portal/apply/review"):
    """Press "Send the application"; return the response."""
    return post_form(client, path, {}, page=page)
