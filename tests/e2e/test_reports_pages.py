"""In headless Chromium: the programme reports render (Indonesian first), without CSP refusals.

Set TEPAT_SCREENSHOTS=/some/dir to keep screenshots of the pages."""

import os

import pytest

from cases.operations import create_officer
from engine.db import db
from tests.integration.test_programme_dashboard import cycles, enrolments  # noqa: F401 (fixture)
from tests.integration.test_targeting_report import world  # noqa: F401 (fixture)

from .conftest import CHROMIUM, PASSWORD, axe_violations, sign_in

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def _shot(page, name):
    folder = os.environ.get("TEPAT_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name), full_page=True)


def _watch(page):
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def test_targeting_report_in_the_browser(live, browser, world):  # noqa: F811
    create_officer(db.session, "e2e_aud", "Lina Auditor", ["auditor"], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = _watch(page)
    sign_in(page, live, "e2e_aud")
    page.get_by_role("button", name="Laporan", exact=True).click()  # the menu's group (web/menu.py)
    page.get_by_role("link", name="Dasbor program").click()
    page.wait_for_selector("#pay-panel")
    _shot(page, "programme-empty.png")
    page.get_by_role("link", name="Laporan penargetan").click()
    assert page.locator("h1").inner_text() == "Laporan penargetan"
    assert page.locator("#total-excluded-families").inner_text() == "5"
    assert "Cara menghitung" in page.content()
    _shot(page, "targeting.png")
    assert axe_violations(page, live) == []
    assert problems == []


def test_programme_dashboard_charts_draw(live, browser, enrolments, cycles):  # noqa: F811
    create_officer(db.session, "e2e_sup", "Sup", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = _watch(page)
    sign_in(page, live, "e2e_sup")
    page.goto(f"{live}/reports/programme")
    page.wait_for_selector("#chart-quarters[data-ready=true]")
    page.wait_for_selector("#chart-prog-districts[data-ready=true]")
    assert page.locator("#chart-quarters").bounding_box()["height"] > 100
    for chart in ("pay-quarters", "pay-districts", "com-quarters", "com-districts"):
        page.wait_for_selector(f"#chart-{chart}[data-ready=true]")
    assert "Pembayaran per triwulan dan kecamatan" in page.locator("#pay-panel").inner_text()
    assert page.locator("#com-quarters-2026-Q3").inner_text().split()[1:] == ["3", "1", "1", "0"]
    _shot(page, "programme.png")
    assert axe_violations(page, live) == []
    assert problems == []
