"""The portal's authorization matrix: every portal route x anonymous, every officer role, an applicant."""

import pytest

from cases.portal.drafts import start_draft
from cases.portal.files import attach_evidence
from engine.db import db
from tests.helpers import case, submit
from tests.integration.portal_helpers import (  # noqa: F401  (fixtures)
    ROLES,
    csrf_of,
    officer_login,
    officer_logins,
    portal,
    post_multipart,
    sign_in_applicant,
)
from web.portal.wiring import portal_services

# Endpoints this module's matrix checks (tests/integration/test_route_coverage.py requires every route in one).
COVERED_ENDPOINTS = {
    "portal.home",
    "portal.signout",
    "portal.apply",
    "portal.apply_step",
    "portal.apply_photo",
    "portal.apply_photo_check",
    "portal.apply_selfie",
    "portal.apply_submit",
    "portal.messages",
    "portal.case",
    "portal.appeal",
    "portal.appeal_send",
    "portal.evidence_file",
    "evidence.officer_file",
    "assist.index",
    "assist.start",
    "assist.step",
    "assist.photo",
    "assist.photo_check",
    "assist.submit",
    "assist.discard",
}
# Open to anyone by design: the portal's front page and sign-in, and the sandbox digital-ID provider
# (its own pages and OpenID Connect endpoints; the token endpoint authenticates the client itself).
PUBLIC_ENDPOINTS = {
    "portal.index",
    "portal.signin",
    "portal.callback",
    "idp.discovery",
    "idp.jwks",
    "idp.token",
    "idp.authorize",
    "idp.identify",
    "idp.verify",
    "idp.check_code",
    "idp.cancel",
}

APPLICANT = "applicant"
READERS = {"caseworker", "supervisor", "appeals_officer", "administrator", "auditor"}
PDF = b"%PDF-1.4\n%%EOF\n"


def expected(who, route):
    """What each kind of visitor gets on each route."""
    if route["for"] == "applicant":
        if who == APPLICANT:
            return route["ok"]
        # Not an applicant: to the portal's sign-in. An anonymous form post without a token is
        # refused by the CSRF check first (upload views check their token after the sign-in).
        if who is None and route["method"] == "POST" and not route.get("upload"):
            return {400}
        return {302}
    if route["for"] == "facilitators":
        if who is None or who == APPLICANT:
            # To the officers' sign-in; an anonymous form post without a token is refused by the CSRF check.
            return {400} if who is None and route["method"] == "POST" and not route.get("upload") else {302}
        return route["ok"] if who == "facilitator" else {403}
    if route["for"] == "case readers":
        if who is None or who == APPLICANT:
            return {302}  # to the officers' sign-in
        return route["ok"] if who in READERS else {403}
    raise AssertionError(route["for"])


def routes(number, key, draft):
    applicant = "applicant"
    assist = f"/assist/drafts/{draft}"
    return [
        {"name": "assist", "method": "GET", "path": "/assist/", "for": "facilitators", "ok": {200}},
        {
            "name": "assist_start",
            "method": "POST",
            "path": "/assist/start",
            "for": "facilitators",
            "ok": {422},
            "data": {"nik": "123"},
        },
        {"name": "assist_step", "method": "GET", "path": f"{assist}/consent", "for": "facilitators", "ok": {200}},
        {
            "name": "assist_step_post",
            "method": "POST",
            "path": f"{assist}/consent",
            "for": "facilitators",
            "ok": {422},
            "data": {"agree": "yes"},
        },
        {
            "name": "assist_photo",
            "method": "POST",
            "path": f"{assist}/photo",
            "for": "facilitators",
            "ok": {302},
            "upload": True,
        },
        {
            "name": "assist_photo_check",
            "method": "POST",
            "path": f"{assist}/photo/check",
            "for": "facilitators",
            "ok": {200},
            "upload": True,
        },
        {"name": "assist_submit", "method": "POST", "path": f"{assist}/submit", "for": "facilitators", "ok": {302}},
        {"name": "assist_discard", "method": "POST", "path": f"{assist}/discard", "for": "facilitators", "ok": {302}},
        {"name": "home", "method": "GET", "path": "/portal/home", "for": applicant, "ok": {200}},
        {"name": "messages", "method": "GET", "path": "/portal/messages", "for": applicant, "ok": {200}},
        {"name": "case", "method": "GET", "path": f"/portal/cases/{number}", "for": applicant, "ok": {200}},
        {"name": "appeal", "method": "GET", "path": f"/portal/cases/{number}/appeal", "for": applicant, "ok": {200}},
        {
            "name": "appeal_send",
            "method": "POST",
            "path": f"/portal/cases/{number}/appeal",
            "for": applicant,
            "ok": {422},
            "upload": True,
            "data": {"reason": "short"},
        },
        {"name": "file", "method": "GET", "path": f"/portal/cases/{number}/files/{key}", "for": applicant, "ok": {200}},
        # The applicant has an open case: registration pages send them to it.
        {"name": "apply", "method": "GET", "path": "/portal/apply", "for": applicant, "ok": {302}},
        {"name": "apply_step", "method": "GET", "path": "/portal/apply/consent", "for": applicant, "ok": {302}},
        {
            "name": "apply_step_post",
            "method": "POST",
            "path": "/portal/apply/consent",
            "for": applicant,
            "ok": {302},
            "data": {"agree": "yes"},
        },
        {
            "name": "apply_photo",
            "method": "POST",
            "path": "/portal/apply/photo",
            "for": applicant,
            "ok": {302},
            "upload": True,
        },
        {
            "name": "apply_photo_check",
            "method": "POST",
            "path": "/portal/apply/photo/check",
            "for": applicant,
            "ok": {404},
            "upload": True,
        },
        {"name": "apply_selfie", "method": "GET", "path": "/portal/apply/selfie", "for": applicant, "ok": {404}},
        {"name": "apply_submit", "method": "POST", "path": "/portal/apply/submit", "for": applicant, "ok": {302}},
        {
            "name": "officer_file",
            "method": "GET",
            "path": f"/cases/{number}/evidence-files/{key}",
            "for": "case readers",
            "ok": {200},
        },
        {"name": "signout", "method": "POST", "path": "/portal/signout", "for": applicant, "ok": {302}},
    ]


@pytest.mark.parametrize("who", [None, *ROLES, APPLICANT])
def test_authorization_matrix(portal, svc, personas, officer_logins, who):
    mine = personas["civil_servant"]
    number = submit(svc, mine).case_number
    key = attach_evidence(
        db.session, portal_services().evidence, case(number), "a.pdf", PDF, "test", 5 * 1024 * 1024, 5
    ).key
    draft = start_draft(
        db.session, personas["high_wage"], owner=officer_logins["facilitator"], channel="facilitator"
    ).key
    db.session.commit()
    if who == APPLICANT:
        sign_in_applicant(portal, mine)
    elif who is not None:
        assert officer_login(portal, officer_logins[who]).status_code == 302
    for route in routes(number, key, draft):
        if route["method"] == "GET":
            status = portal.get(route["path"]).status_code
        elif who is None:
            status = portal.post(route["path"], data=route.get("data", {})).status_code
        else:
            status = post_multipart(portal, route["path"], route.get("data", {}), [], page="/login").status_code
        assert status in expected(who, route), (who, route["name"], status)


def test_an_applicant_session_opens_nothing_in_the_officers_api(portal, svc, personas):
    mine = submit(svc, personas["civil_servant"]).case_number
    other = submit(svc, personas["not_in_dtsen"]).case_number
    sign_in_applicant(portal, personas["civil_servant"])
    for path in (f"/api/v1/cases/{mine}", f"/api/v1/cases/{other}", "/api/v1/cases", "/api/v1/tasks"):
        response = portal.get(path)
        assert response.status_code == 401 and response.is_json, path
        assert other not in response.get_data(as_text=True)
    # Guessing numbers in the portal itself: another case is "not found", never shown.
    assert portal.get(f"/portal/cases/{other}").status_code == 404
    assert portal.get(f"/portal/cases/{other[:-1]}{(int(other[-1]) + 1) % 10}").status_code == 404
