"""The officers' menu fits the role: every link it shows opens (200) for that role, and the 403 and 404
pages offer a way back to the role's start page."""

import re

import pytest

from cases.officers import OFFICER_ROLES
from cases.operations import create_officer
from engine.db import db
from tests.helpers import fresh_client
from tests.integration.test_web import PASSWORD, login

# Endpoints this module's matrix requests as every role and anonymous (tests/integration/test_route_coverage.py).
COVERED_ENDPOINTS = {"auth.start"}

COMBINATIONS = [(role,) for role in OFFICER_ROLES] + [("administrator", "supervisor"), ("caseworker", "supervisor")]


def _menu_links(html):
    header = html.split("<body", 1)[1].split("<main", 1)[0]  # the officers' navbar or the facilitators' header
    return [link for link in re.findall(r'href="([^"#]+)"', header) if not link.startswith(("/lang/", "/static/"))]


# Each role's own start page (where sign-in, the site's address "/" and the brand link lead).
START_PAGES = {
    "caseworker": "/inbox",
    "supervisor": "/inbox",
    "appeals_officer": "/inbox",
    "finance_officer": "/cycles",
    "auditor": "/audit/entries",
    "administrator": "/audit/entries",
    "facilitator": "/assist/",
    "administrator+supervisor": "/inbox",
    "caseworker+supervisor": "/inbox",
}


def test_every_role_has_a_start_page():
    assert {"+".join(c) for c in COMBINATIONS} == set(START_PAGES)


@pytest.mark.parametrize("roles", COMBINATIONS, ids=["+".join(c) for c in COMBINATIONS])
def test_every_menu_link_opens_for_the_role(ctx, roles):
    username = "m_" + "_".join(roles)
    create_officer(db.session, username, "Menu " + " ".join(roles).title(), list(roles), None, password=PASSWORD)
    db.session.commit()
    start = START_PAGES["+".join(roles)]
    with fresh_client() as client:
        landing = login(client, username)
        assert landing.status_code == 302 and landing.headers["Location"] == start
        # The site's address sends the officer to the same start page (it answered 403 to some roles).
        root = client.get("/")
        assert root.status_code == 302 and root.headers["Location"] == start, (roles, root.status_code)
        home = client.get(start)
        assert home.status_code == 200, (roles, start)
        html = home.get_data(as_text=True)
        brand = re.search(r'<a class="(?:navbar-brand|portal-brand)[^"]*" href="([^"]+)"', html).group(1)
        assert brand == start, (roles, brand)
        links = _menu_links(html)
        assert len(links) >= 4, links  # brand, the role's pages, profile, tokens, public figures
        for link in sorted(set(links)):
            assert client.get(link).status_code == 200, (roles, link)
        # The language switch without a page to return to leads to the start page too (it led to the inbox).
        assert client.get("/lang/en").headers["Location"] == "/"


def test_the_sites_address_asks_anonymous_visitors_to_sign_in(ctx):
    with fresh_client() as anonymous:
        response = anonymous.get("/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_facilitators_and_auditors_see_only_their_pages(ctx):
    for username, roles in (("m_fac", ["facilitator"]), ("m_aud", ["auditor"])):
        create_officer(db.session, username, username, roles, None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as facilitator:
        login(facilitator, "m_fac")
        fac_links = _menu_links(facilitator.get("/assist/").get_data(as_text=True))
    with fresh_client() as auditor:
        login(auditor, "m_aud")
        aud_links = _menu_links(auditor.get("/audit").get_data(as_text=True))
    assert "/assist/" in fac_links and "/commitments" in fac_links and "/graduation" in fac_links
    assert not {"/inbox", "/", "/audit", "/cycles", "/desk"} & set(fac_links)
    assert "/audit" in aud_links and "/cycles" in aud_links and "/reports/programme" in aud_links
    assert not {"/inbox", "/", "/assist/", "/desk", "/admin/officers", "/graduation"} & set(aud_links)


def test_403_and_404_pages_lead_back_to_the_roles_start_page(ctx):
    create_officer(db.session, "m_fac2", "Fac", ["facilitator"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        login(client, "m_fac2")
        for path, code in (("/inbox", 403), ("/no-such-page", 404)):
            response = client.get(path)
            html = response.get_data(as_text=True)
            assert response.status_code == code
            assert '<a class="btn btn-outline-success error-back" href="/assist/">Kembali ke halaman awal</a>' in html
    with fresh_client() as anonymous:
        html = anonymous.get("/no-such-page").get_data(as_text=True)
        assert 'error-back" href="/login"' in html
