"""In headless Chromium: a family declares graduation on a 360 px phone (with the confirmation box); the
officers' graduation page. Set TEPAT_SCREENSHOTS=/some/dir to keep screenshots."""

import os

import pytest

from cases.operations import create_officer
from engine.db import db
from tests.helpers import case
from tests.integration.test_graduation import enrol

from .conftest import CHROMIUM, PASSWORD, axe_violations, sign_in, watch
from .test_portal_journey import portal_sign_in

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def _shot(page, name):
    folder = os.environ.get("TEPAT_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name), full_page=True)


def test_a_family_declares_graduation_on_a_phone(live, browser, svc, personas, officers):
    nik = personas["eligible_head_without_photo"]
    number = enrol(svc, officers, nik)
    page = browser.new_page(viewport={"width": 360, "height": 740})
    problems = watch(page)
    portal_sign_in(page, live, nik)
    page.goto(f"{live}/portal/cases/{number}")
    page.click("#graduate-link")
    assert page.locator("h1").inner_text() == "Nyatakan bahwa keluarga Anda sudah mandiri"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert axe_violations(page, live) == []
    _shot(page, "portal-graduate-360.png")
    page.check("#confirm")
    page.get_by_role("button", name="Konfirmasi graduasi").click()
    page.wait_for_url(f"**/portal/cases/{number}")
    assert case(number).status == "GRADUATED"
    assert page.locator(".status-badge").get_attribute("data-status") == "GRADUATED"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    _shot(page, "portal-graduated-360.png")
    page.goto(f"{live}/portal/messages")
    assert "Terima kasih" in page.content()
    _shot(page, "portal-messages-360.png")
    assert problems == []


def test_the_officers_graduation_page(live, browser, svc, personas, officers):
    create_officer(db.session, "e2e_fac", "Pendamping", ["facilitator"], None, password=PASSWORD)
    db.session.commit()
    number = enrol(svc, officers, personas["eligible_head_without_photo"])
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems = watch(page)
    sign_in(page, live, "e2e_fac")
    page.get_by_role("link", name="Graduasi", exact=True).click()
    assert page.locator("h1").inner_text() == "Graduasi"
    assert axe_violations(page, live) == []
    page.fill("#case_number", number)
    page.check("#confirm")
    _shot(page, "officer-graduation.png")
    page.get_by_role("button", name="Catat pernyataan").click()
    page.wait_for_selector(".alert-success")
    assert case(number).status == "GRADUATED"
    assert problems == []
