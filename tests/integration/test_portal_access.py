"""The portal's authorization matrix: every portal route x anonymous, every officer role, an applicant."""
import pytest

from tests.helpers import submit
from tests.integration.portal_helpers import (  # noqa: F401  (fixtures)
    ROLES, csrf_of, officer_login, officer_logins, portal, sign_in_applicant)

# Endpoints this module's matrix checks (tests/integration/test_route_coverage.py requires every route in one).
COVERED_ENDPOINTS = {"portal.home", "portal.signout"}
# Open to anyone by design: the portal's front page and sign-in, and the sandbox digital-ID provider
# (its own pages and OpenID Connect endpoints; the token endpoint authenticates the client itself).
PUBLIC_ENDPOINTS = {"portal.index", "portal.signin", "portal.callback", "idp.discovery", "idp.jwks", "idp.token",
                    "idp.authorize", "idp.identify", "idp.verify", "idp.check_code", "idp.cancel"}

APPLICANT = "applicant"


def expected(who, route):
    """What each kind of visitor gets on each route."""
    kind = route["for"]
    if kind == "applicant":
        if who == APPLICANT:
            return route["ok"]
        return {302} if route["method"] == "GET" else {302, 400}
    raise AssertionError(kind)


def routes(context):
    return [
        {"name": "home", "method": "GET", "path": "/portal/home", "for": "applicant", "ok": {200}},
        {"name": "signout", "method": "POST", "path": "/portal/signout", "for": "applicant", "ok": {302}},
    ]


@pytest.mark.parametrize("who", [None, *ROLES, APPLICANT])
def test_authorization_matrix(portal, svc, personas, officer_logins, who):
    mine = personas["civil_servant"]
    context = {"number": submit(svc, mine).case_number}
    if who == APPLICANT:
        sign_in_applicant(portal, mine)
    elif who is not None:
        assert officer_login(portal, officer_logins[who]).status_code == 302
    for route in routes(context):
        if route["method"] == "GET":
            status = portal.get(route["path"]).status_code
        else:
            token = csrf_of(portal.get("/login").get_data(as_text=True)) if who is not None else None
            status = portal.post(route["path"], data={"csrf_token": token} if token else {}).status_code
        assert status in expected(who, route), (who, route["name"], status)
        if route["name"] == "signout" and who == APPLICANT:
            sign_in_applicant(portal, mine)
