"""No open redirect: every `next` (officers' sign-in, language switch, the portal's digital-ID sign-in)."""

from urllib.parse import quote, urljoin, urlsplit

import pytest

from tests.integration.portal_helpers import (  # noqa: F401  (fixtures)
    enter_code,
    follow_callback,
    latest_code,
    officer_logins,
    portal,
    start_sign_in,
)
from web.redirects import local_referrer, safe_next

# Raw query-string values (already URL-encoded as an attacker would send them).
BYPASSES = [
    "//evil.example",
    "/%09/evil.example",
    "/%0d/evil.example",
    "/%0a/evil.example",
    "/%0D%0A/evil.example",
    "%09//evil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "/%5C/evil.example",
    "%2F%2Fevil.example",
    "https://evil.example",
    "https:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "%20//evil.example",
    "/%20/evil.example",
    "/%00/evil.example",
    "/%E3%80%80/evil.example",
    "/%E2%80%8B/evil.example",
    "///evil.example",
    "evil.example",
    "/%7F/evil.example",
]
GOOD = ["/inbox", "/cases/TPT-2026-0000001?tab=evidence", "/portal/case#messages"]


def lands_on_our_site(location):
    """Where a browser would go: it drops tab/CR/LF and reads a backslash as a slash."""
    cleaned = "".join(ch for ch in location if ch not in "\t\r\n").replace("\\", "/")
    return urlsplit(urljoin("http://localhost/login", cleaned)).netloc == "localhost"


@pytest.mark.parametrize("raw", BYPASSES)
def test_the_helper_refuses_every_bypass(raw):
    from urllib.parse import unquote

    assert safe_next(unquote(raw)) is None


@pytest.mark.parametrize("path", GOOD)
def test_the_helper_keeps_local_paths(path):
    assert safe_next(path) == path


def test_a_referrer_is_kept_only_on_this_host():
    assert local_referrer("http://localhost/inbox?page=2", "localhost") == "/inbox?page=2"
    assert local_referrer("http://evil.example/inbox", "localhost") is None
    assert local_referrer("javascript://localhost/%0aalert(1)", "localhost") is None
    assert local_referrer(None, "localhost") is None


def test_officer_sign_in_never_redirects_off_site(portal, officer_logins):
    for raw in BYPASSES:
        page = portal.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        response = portal.post(
            f"/login?next={raw}",
            data={"username": officer_logins["caseworker"], "password": "correct-horse-battery", "csrf_token": token},
        )
        if "%00" in raw:  # web/guards.py refuses a NUL anywhere in a request, before any redirect
            assert response.status_code == 400, raw
            continue
        assert response.status_code == 302, raw
        assert lands_on_our_site(response.headers["Location"]), raw
        assert response.headers["Location"] == "/inbox", (raw, response.headers["Location"])


def test_language_switch_never_redirects_off_site(portal):
    for raw in BYPASSES:
        response = portal.get(f"/lang/en?next={raw}")
        if "%00" in raw:  # web/guards.py refuses a NUL anywhere in a request, before any redirect
            assert response.status_code == 400, raw
            continue
        assert response.status_code == 302 and lands_on_our_site(response.headers["Location"]), raw
        assert response.headers["Location"] == "/", raw  # the site's address: each one's start page
    response = portal.get("/lang/id?next=" + quote("/portal/case?x=1"))
    assert response.headers["Location"] == "/portal/case?x=1"


def test_portal_sign_in_keeps_no_off_site_next(portal, svc, personas, app):
    from itsdangerous import URLSafeTimedSerializer

    from web.portal.signin import PENDING_COOKIE

    serializer = URLSafeTimedSerializer(app.secret_key, salt="portal-sign-in")
    for raw in BYPASSES:
        response = portal.get(f"/portal/signin?next={raw}")
        if "%00" in raw:  # web/guards.py refuses a NUL anywhere in a request, before any redirect
            assert response.status_code == 400, raw
            continue
        assert response.status_code == 302, raw
        cookie = portal.get_cookie(PENDING_COOKIE, path="/portal/callback")
        assert serializer.loads(cookie.value)["next"] is None, raw
        page = portal.get(f"/portal/?next={raw}").get_data(as_text=True)
        assert "evil.example" not in page, raw


def test_portal_callback_after_a_tab_bypass_lands_on_the_portal(portal, svc, personas):
    nik = personas["civil_servant"]
    start_sign_in(portal, nik, next_path="/%09/evil.example")
    callback = follow_callback(portal, enter_code(portal, latest_code(nik)))
    assert callback.headers["Location"] == "/portal/home"


def test_portal_callback_keeps_a_local_next(portal, svc, personas):
    nik = personas["civil_servant"]
    start_sign_in(portal, nik, next_path=quote("/portal/case"))
    callback = follow_callback(portal, enter_code(portal, latest_code(nik)))
    assert callback.headers["Location"] == "/portal/case"
