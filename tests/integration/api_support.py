"""Shared set-up of the API tests: one officer per role with a password and an API token, and a client."""

import re
from dataclasses import dataclass, field

import pytest
from flask import current_app

from cases.operations import create_officer
from cases.tokens import issue_token
from engine.db import db
from tests.helpers import FreshContextClient

PASSWORD = "api-test-password"
ROLES = ("caseworker", "supervisor", "appeals_officer", "administrator", "auditor", "facilitator")
# Besides one officer per role (a_<role>, every district): a caseworker of district 25 only, a second
# caseworker, and an officer who both reviews and approves (for the four-eyes rule).
EXTRA = {
    "a_far": (["caseworker"], ["25"]),
    "a_cw2": (["caseworker"], None),
    "a_cwsup": (["caseworker", "supervisor"], None),
    "a_sup2": (["supervisor"], None),
}


@dataclass
class ApiWorld:
    client: FreshContextClient
    tokens: dict = field(default_factory=dict)  # username -> secret
    officers: dict = field(default_factory=dict)  # username -> Officer

    def bearer(self, username, **headers):
        return {"Authorization": f"Bearer {self.tokens[username]}", **headers}

    def get(self, path, as_=None, **headers):
        return self.client.get(path, headers=self.bearer(as_, **headers) if as_ else headers)

    def post(self, path, as_=None, json=None, **headers):
        return self.client.post(path, json=json, headers=self.bearer(as_, **headers) if as_ else headers)

    def login(self, username):
        token = csrf_of(self.client, "/login")
        response = self.client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, response.status_code
        return csrf_of(self.client, "/tokens")

    def logout(self):
        self.client.post("/logout", data={"csrf_token": csrf_of(self.client, "/tokens")})


def csrf_of(client, path):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def api(ctx):
    """Officers of every role with passwords and API tokens, and a test client."""
    world = ApiWorld(client=None)
    specs = {f"a_{role}": ([role], None) for role in ROLES} | EXTRA
    for username, (roles, regions) in specs.items():
        officer = create_officer(db.session, username, username.upper(), roles, regions, password=PASSWORD)
        world.officers[username] = officer
        world.tokens[username] = issue_token(db.session, officer, "tests", 30)[1]
    db.session.commit()
    app = current_app._get_current_object()
    app.test_client_class = FreshContextClient
    try:
        world.client = app.test_client()
        yield world
    finally:
        app.test_client_class = None


def refusals():
    """The audit entries of refused tokens, oldest first."""
    from sqlalchemy import select

    from cases.audit import AuditEntry

    db.session.expire_all()
    return db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "api.token_refused").order_by(AuditEntry.id)
    ).all()
