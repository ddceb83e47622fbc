"""In headless Chromium: the desk's charts draw under the strict CSP; an administrator creates an officer."""

import pytest

from cases.operations import create_officer
from engine.db import db
from tests.helpers import submit

from .conftest import CHROMIUM, PASSWORD, sign_in

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def test_desk_charts_draw_without_csp_refusals(live, browser, svc, personas):
    create_officer(db.session, "e2e_desk", "Desk Supervisor", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    submit(svc, personas["not_in_dtsen"])
    page = browser.new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    sign_in(page, live, "e2e_desk")
    page.goto(f"{live}/desk")
    page.wait_for_selector("#chart-sla[data-ready=true]")
    assert page.locator("#chart-sla").bounding_box()["height"] > 100
    assert problems == []


def test_an_administrator_creates_an_officer_in_the_browser(live, browser, svc):
    create_officer(db.session, "e2e_admin", "E2E Admin", ["administrator"], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page()
    sign_in(page, live, "e2e_admin")
    page.get_by_role("button", name="Administrasi", exact=True).click()  # the menu's group (web/menu.py)
    page.get_by_role("link", name="Petugas", exact=True).click()
    page.get_by_role("link", name="Petugas baru").click()
    page.fill("#username", "e2e_new")
    page.fill("#name", "Sri Wahyuni")
    page.check("#role-caseworker")
    page.check("#scope-some")
    page.check("#region-12")
    page.fill("#password", "gula-jawa-manis")
    page.fill("#password_confirm", "gula-jawa-manis")
    page.get_by_role("button", name="Buat petugas").click()
    page.wait_for_selector(".alert-success")
    assert "e2e_new" in page.locator("h1").inner_text()
    assert page.locator("#region-12").is_checked() and not page.locator("#region-11").is_checked()


def test_the_desk_names_an_incidents_step_and_summarises_its_error(live, browser, svc, personas):
    import os

    from tests.helpers import later, wake_all

    create_officer(db.session, "e2e_desk_inc", "Desk Supervisor", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    nik = personas["civil_servant"]
    svc.integrations.faults.inject("bpjs_health", nik, "timeout", times=3)
    number = submit(svc, nik).case_number
    for day in (1, 2):
        with later(day):
            wake_all(svc)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    sign_in(page, live, "e2e_desk_inc")
    page.goto(f"{live}/desk")
    row = page.locator("tr", has=page.get_by_role("link", name=number))
    cells = row.locator("td")
    assert cells.nth(2).inner_text().startswith("BPJS Kesehatan")  # the diagram's name, not lookup_bpjs_health
    assert "\n" not in cells.nth(3).inner_text() and len(cells.nth(3).inner_text()) <= 160
    if os.environ.get("TEPAT_SCREENSHOTS"):
        row.scroll_into_view_if_needed()
        page.screenshot(path=os.path.join(os.environ["TEPAT_SCREENSHOTS"], "desk-incident.png"), full_page=True)
