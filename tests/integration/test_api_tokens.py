"""API tokens: created on the page (secret shown once, only its hash stored), used, expired, revoked,
refused for a deactivated officer; refusals audited with the origin; the token pages' matrix; the CLI."""

import re

import pytest
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.tokens import ApiToken, hash_secret
from engine.db import db
from tests.helpers import later
from tests.integration.api_support import ROLES, api, csrf_of, refusals  # noqa: F401  (the fixture)

COVERED_ENDPOINTS = {"tokens.mine", "tokens.create", "tokens.revoke", "tokens.everyone"}


def _create_on_page(api, name="reporting system", days="30"):
    csrf = csrf_of(api.client, "/tokens")
    response = api.client.post("/tokens", data={"name": name, "days": days, "csrf_token": csrf})
    html = response.get_data(as_text=True)
    found = re.search(r'id="new-token">([^<]+)<', html)
    return response, html, found.group(1) if found else None


def test_token_lifecycle_create_use_expire_revoke_and_deactivated_officer(api):
    api.login("a_caseworker")
    response, html, secret = _create_on_page(api)
    assert response.status_code == 201 and secret.startswith("tpt_")
    assert response.headers["Cache-Control"] == "no-store"
    listed = api.client.get("/tokens").get_data(as_text=True)
    assert secret not in listed and secret[:12] in listed and "reporting system" in listed  # shown once
    db.session.expire_all()
    row = db.session.scalars(select(ApiToken).where(ApiToken.name == "reporting system")).one()
    assert row.secret_hash == hash_secret(secret) and row.prefix == secret[:12] and row.last_used_at is None
    assert secret not in str([getattr(row, c.name) for c in ApiToken.__table__.columns])
    api.logout()

    headers = {"Authorization": f"Bearer {secret}"}
    assert api.client.get("/api/v1/tasks", headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at is not None

    with later(31):  # past its 30 days
        expired = api.client.get("/api/v1/tasks", headers=headers)
    assert expired.status_code == 401 and expired.get_json()["error"] == "TOKEN_EXPIRED"
    assert "Bearer" in expired.headers["WWW-Authenticate"]
    entry = refusals()[-1]
    assert entry.detail["reason"] == "expired" and entry.actor == "a_caseworker" and entry.ip == "127.0.0.1"
    assert entry.target_id == secret[:12] and secret not in str(entry.detail)

    api.login("a_caseworker")
    revoke = api.client.post(f"/tokens/{row.id}/revoke", data={"csrf_token": csrf_of(api.client, "/tokens")})
    assert revoke.status_code == 302
    revoked = api.client.get("/api/v1/tasks", headers=headers)
    assert revoked.status_code == 401 and revoked.get_json()["error"] == "TOKEN_REVOKED"
    assert refusals()[-1].detail["reason"] == "revoked"

    other = api.tokens["a_cw2"]
    assert api.get("/api/v1/tasks", "a_cw2").status_code == 200
    api.officers["a_cw2"].active = False
    db.session.commit()
    refused = api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 401 and refused.get_json()["error"] == "OFFICER_INACTIVE"
    assert refusals()[-1].detail["reason"] == "officer_inactive"
    db.session.expire_all()
    actions = [e.action for e in db.session.scalars(select(AuditEntry).where(AuditEntry.actor == "a_caseworker"))]
    assert "token.create" in actions and "token.revoke" in actions


@pytest.mark.parametrize(
    "header, reason",
    [
        ("Bearer tpt_" + "x" * 43, "unknown"),
        ("Bearer not-a-tepat-token", "malformed"),
        ("Basic YWRtaW46c2VjcmV0", "malformed"),
        ("Bearer ", "malformed"),
    ],
)
def test_wrong_tokens_are_refused_and_audited_with_the_origin(api, header, reason):
    response = api.client.get(
        "/api/v1/cases",
        headers={"Authorization": header, "User-Agent": "probe/1.0"},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert response.status_code == 401 and response.is_json
    assert response.get_json()["error"] == "TOKEN_INVALID"
    entry = refusals()[-1]
    assert entry.detail["reason"] == reason and entry.ip == "203.0.113.7" and entry.user_agent == "probe/1.0"
    assert entry.detail["path"] == "/api/v1/cases" and entry.actor == "-"
    assert "xxxxxxxxxxxxxxxxxxxx" not in str(entry.target_id)  # at most the prefix is kept


def test_refusal_messages_follow_accept_language_for_tokens(api):
    bad = {"Authorization": "Bearer tpt_" + "y" * 43}
    indonesian = api.client.get("/api/v1/cases", headers=bad).get_json()
    english = api.client.get("/api/v1/cases", headers={**bad, "Accept-Language": "en-GB,en;q=0.9"}).get_json()
    assert indonesian["message"] == "Token API tidak valid." and english["message"] == "The API token is not valid."
    assert indonesian["error"] == english["error"] == "TOKEN_INVALID"


def test_a_session_gets_messages_in_the_language_it_chose(api):
    api.login("a_auditor")
    assert api.client.get("/api/v1/tasks").get_json()["message"] == "Anda tidak berwenang melakukan ini."
    api.client.get("/lang/en")
    assert (
        api.client.get("/api/v1/tasks", headers={"Accept-Language": "id"}).get_json()["message"]
        == "You may not do this."
    )


def test_token_form_errors_are_shown_and_nothing_is_created(api):
    api.login("a_supervisor")
    before = db.session.scalar(select(ApiToken.id).order_by(ApiToken.id.desc()).limit(1))
    for name, days in (("", "30"), ("x" * 101, "30"), ("ok", "1000"), ("ok", "many")):
        response, html, secret = _create_on_page(api, name, days)
        assert response.status_code == 422 and secret is None and "is-invalid" in html
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken.id).order_by(ApiToken.id.desc()).limit(1)) == before


def _expected_page(role, name):
    if role is None:
        return {302, 400} if name != "mine" and name != "everyone" else {302}
    if name == "everyone":
        return {200} if role == "administrator" else {403}
    if name == "revoke_other":
        return {302} if role == "administrator" else {404}
    return {"mine": {200}, "create": {201}, "revoke_own": {302}}[name]


@pytest.mark.parametrize("role", [None, *ROLES])
def test_token_pages_matrix(api, role):
    own = db.session.scalars(
        select(ApiToken).where(ApiToken.officer_id == api.officers[f"a_{role or 'caseworker'}"].id)
    ).first()
    other = db.session.scalars(select(ApiToken).where(ApiToken.officer_id == api.officers["a_cw2"].id)).one()
    csrf = api.login(f"a_{role}") if role else csrf_of(api.client, "/login")
    routes = [
        ("GET", "mine", "/tokens", None),
        ("POST", "create", "/tokens", {"name": "n", "days": "7"}),
        ("POST", "revoke_own", f"/tokens/{own.id}/revoke", {}),
        ("POST", "revoke_other", f"/tokens/{other.id}/revoke", {}),
        ("GET", "everyone", "/tokens/all", None),
    ]
    for method, name, path, data in routes:
        if method == "GET":
            status = api.client.get(path).status_code
        else:
            status = api.client.post(path, data={**data, "csrf_token": csrf}).status_code
        assert status in _expected_page(role, name), (role, name, status)
    db.session.expire_all()
    other_state = db.session.get(ApiToken, other.id).state()
    assert other_state == ("revoked" if role == "administrator" else "active")


def test_administrators_see_every_token_and_revoke_from_that_list(api):
    api.login("a_administrator")
    page = api.client.get("/tokens/all").get_data(as_text=True)
    assert all(secret[:12] in page for secret in api.tokens.values())
    assert not any(secret in page for secret in api.tokens.values())
    target = db.session.scalars(select(ApiToken).where(ApiToken.officer_id == api.officers["a_auditor"].id)).one()
    response = api.client.post(
        f"/tokens/{target.id}/revoke", data={"back": "all", "csrf_token": csrf_of(api.client, "/tokens")}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/tokens/all")
    assert api.get("/api/v1/cases", "a_auditor").status_code == 401
    db.session.expire_all()
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "token.revoke")).one()
    assert entry.actor == "a_administrator" and entry.detail["officer"] == "a_auditor"


def test_command_line_creates_lists_and_revokes_tokens(app, api):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["token", "create", "--officer", "a_supervisor", "--name", "nightly export", "--days", "7"]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("tpt_")
    assert api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listed = runner.invoke(args=["token", "list", "--officer", "a_supervisor"])
    assert "nightly export" in listed.output and secret[:12] in listed.output and secret not in listed.output
    assert runner.invoke(args=["token", "revoke", secret[:12]]).exit_code == 0
    assert api.client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    refused = runner.invoke(args=["token", "create", "--officer", "nobody", "--name", "x"])
    assert refused.exit_code == 2
    too_long = runner.invoke(args=["token", "create", "--officer", "a_supervisor", "--name", "x", "--days", "400"])
    assert too_long.exit_code == 2
    db.session.expire_all()
    actions = [(e.actor, e.action) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert ("cli", "token.create") in actions and ("cli", "token.revoke") in actions
