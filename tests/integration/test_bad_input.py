"""Bad input answers 400/404, never 500: ids beyond the databases' range, NUL characters in any text;
an unreachable database answers 503 with Retry-After (web/guards.py)."""

import io
import re

import pytest
from werkzeug.routing import IntegerConverter

from cases.operations import create_officer
from engine.db import db
from tests.helpers import fresh_client
from tests.integration.portal_helpers import sign_in_applicant
from tests.integration.test_objections import REASON, _neighbour, recipient  # noqa: F401  (fixture)

PASSWORD = "correct-horse-battery"
TOO_BIG = (2**31, 2**63, 10**30)


@pytest.fixture
def admin(ctx):
    """A client signed in as an officer holding every role; returns (client, csrf token)."""
    roles = ["caseworker", "supervisor", "appeals_officer", "administrator", "auditor", "facilitator"]
    create_officer(db.session, "b_all", "All Roles", roles, None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        client.post("/login", data={"username": "b_all", "password": PASSWORD, "csrf_token": csrf_of(client)})
        yield client, csrf_of(client, "/profile")


def csrf_of(client, path="/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def id_routes(app):
    """Every route with an integer part in its path: [(rule, methods, {argument: converter})]."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = {name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)}
        if ints:
            found.append((rule, sorted(rule.methods - {"HEAD", "OPTIONS"}), ints))
    return found


def _path(rule, ints, value):
    values = {}
    for name, conv in rule._converters.items():
        if name in ints:
            values[name] = value
        elif getattr(conv, "items", None):  # any(...)
            values[name] = sorted(conv.items)[0]
        else:
            values[name] = "x"
    return rule.build(values, append_unknown=False)[1]


def test_ids_beyond_the_column_range_are_not_found_on_every_route(app, admin):
    client, token = admin
    routes = id_routes(app)
    assert len(routes) >= 12
    for rule, methods, ints in routes:
        for value in TOO_BIG:
            path = _path(rule, ints, value)
            for method in methods:
                response = client.open(path, method=method, data={"csrf_token": token}, headers={"X-CSRFToken": token})
                assert response.status_code == 404, (method, path, response.status_code)
                if path.startswith("/api/"):
                    assert response.get_json()["error"] == "NOT_FOUND"


def test_the_largest_id_in_range_is_an_ordinary_not_found(admin):
    client, _token = admin
    assert client.get(f"/admin/officers/{2**31 - 1}").status_code == 404
    assert client.get(f"/api/v1/tasks/{2**31 - 1}").get_json()["error"] == "TASK_NOT_FOUND"


NUL_MESSAGE_ID = "karakter yang tidak diizinkan (NUL)"


def _refused(response):
    assert response.status_code == 400, response.status_code
    if response.is_json:
        body = response.get_json()
        assert body["error"] == "TEXT_HAS_NUL" and "NUL" in body["message"]
    else:
        assert NUL_MESSAGE_ID in response.get_data(as_text=True)


def test_an_objection_about_a_case_id_beyond_the_range_is_a_form_error(svc, recipient):
    with fresh_client() as client:
        sign_in_applicant(client, _neighbour(recipient))
        for value in TOO_BIG[1:]:
            response = client.post(
                "/portal/objections/new",
                data={
                    "recipient": str(value),
                    "ground": "FOUR_WHEEL_VEHICLE",
                    "reason": REASON,
                    "csrf_token": csrf_of(client, "/portal/objections/new"),
                },
            )
            assert response.status_code in (400, 403, 422), response.status_code


def test_nul_in_the_login_form_is_refused_with_a_translated_message(ctx):
    with fresh_client() as client:
        _refused(client.post("/login", data={"username": "adm\x00in", "password": "x", "csrf_token": csrf_of(client)}))


def test_nul_in_pages_fields_query_strings_addresses_and_file_names_is_refused(admin):
    client, token = admin
    _refused(
        client.post(
            "/admin/officers/new",
            data={
                "csrf_token": token,
                "username": "newbie",
                "name": "Ne\x00w",
                "roles": "caseworker",
                "region_scope": "all",
                "password": "long-enough-pass",
                "password_confirm": "long-enough-pass",
            },
        )
    )
    _refused(client.post("/tokens", data={"csrf_token": token, "name": "tok\x00en", "days": "30"}))
    _refused(client.get("/inbox?district=0\x001"))
    _refused(client.get("/cases/TPT-2026-0000001%00"))
    # An upload's file name (the appeal's evidence, the assisted registration's photo): refused as parsed.
    _refused(client.post("/portal/objections/new", data={"csrf_token": token, "reason": "a reason\x00"}))
    _refused(
        client.post(
            "/assist/start",
            content_type="multipart/form-data",
            data={"csrf_token": token, "photo": (io.BytesIO(b"x"), "selfie\x00.jpg")},
        )
    )
    _refused(
        client.post(
            "/assist/start",
            content_type="multipart/form-data",
            data={"csrf_token": token, "note": "a\x00", "photo": (io.BytesIO(b"x"), "selfie.jpg")},
        )
    )
    from sqlalchemy import func, select

    from cases.models import Officer

    assert db.session.scalar(select(func.count()).select_from(Officer).where(Officer.username == "newbie")) == 0


def test_nul_in_an_api_body_is_refused_as_json(admin):
    client, token = admin
    _refused(client.post("/api/v1/tasks/1/reassign", json={"to": "b_\x00all"}, headers={"X-CSRFToken": token}))
    _refused(client.post("/api/v1/tasks/1/complete", json={"review_notes": ["\x00"]}, headers={"X-CSRFToken": token}))


def test_an_unreachable_database_answers_503_with_retry_after(settings_overrides, tmp_path):
    from web import create_app

    # Nothing listens on port 1: every connection attempt is refused at once.
    unreachable = create_app(
        {
            **settings_overrides,
            "BANSOS_DATABASE_URL": "postgresql+psycopg://tepat@127.0.0.1:1/none",
            "BANSOS_VAR_DIR": str(tmp_path),
        }
    )
    client = unreachable.test_client()
    page = client.get("/status")
    assert page.status_code == 503 and page.headers["Retry-After"].isdigit()
    assert "Tepat tidak dapat menghubungi basis datanya" in page.get_data(as_text=True)
    client.get("/lang/en")
    assert "cannot reach its database" in client.get("/status").get_data(as_text=True)
    api = client.get(
        "/api/v1/tasks", headers={"Authorization": "Bearer tpt_abcdefgh_0123456789", "Accept-Language": "en"}
    )
    assert api.status_code == 503 and api.headers["Retry-After"].isdigit()
    assert api.get_json()["error"] == "DATABASE_UNAVAILABLE"
    with unreachable.app_context():
        db.engine.dispose()


def test_a_body_over_the_app_wide_limit_is_refused_with_a_translated_page(admin):
    """Every route reads at most BANSOS_MAX_REQUEST_BYTES (uploads stream under their own limits)."""
    client, token = admin
    big = "x" * (16 * 1024 * 1024 + 1)
    response = client.post("/tokens", data={"csrf_token": token, "name": big, "days": "30"})
    assert response.status_code == 413 and "Kiriman terlalu besar" in response.get_data(as_text=True)
    parts = {f"f{i}": "x" for i in range(150)}
    response = client.post(
        "/tokens", data={"csrf_token": token, "name": "many", "days": "30", **parts}, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    refused = client.post(
        "/api/v1/tasks/1/reassign", data=big, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert refused.status_code == 413 and refused.is_json
