"""In Chromium: the officer's case page reads the sources' answers as labelled fields per household member
(the raw answer one click away), in Indonesian and in English; the header fits on one line at 1366 px
and at most two at 360 px for each role; every menu link opens; a 403 page leads back to the role's
start page. Set TEPAT_SCREENSHOTS=DIR to keep screenshots of the pages."""

import os

import pytest

from cases.operations import create_officer
from engine.db import db
from tests.helpers import submit

from .conftest import PASSWORD, axe_violations, sign_in, watch

# Rows of the header: the visible pieces grouped by overlapping vertical ranges (a wrapped item starts a row).
HEADER_ROWS = """() => {
  const nav = document.querySelector('nav.navbar > .container-fluid');
  const pieces = [...nav.querySelectorAll(':scope > *, :scope > .navbar-collapse > *, .main-menu > li')]
    .filter(e => !e.classList.contains('navbar-collapse') && !e.classList.contains('main-menu'))
    .map(e => e.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0)
    .sort((a, b) => a.top - b.top);
  const rows = [];
  for (const r of pieces) {
    const row = rows.find(x => r.top < x.bottom - 4 && r.bottom > x.top + 4);
    if (row) { row.top = Math.min(row.top, r.top); row.bottom = Math.max(row.bottom, r.bottom); }
    else rows.push({top: r.top, bottom: r.bottom});
  }
  return {rows: rows.length, height: document.querySelector('nav.navbar').getBoundingClientRect().height};
}"""


# What sticks out to the right of the viewport (named in the failure message).
WIDER = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 2).slice(0, 8)
  .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def shot(page, name):
    folder = os.environ.get("TEPAT_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_the_case_page_reads_the_evidence_per_household_member(live, browser, svc, personas):
    create_officer(db.session, "e2e_cw13", "Siti Caseworker", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    number = submit(svc, personas["civil_servant"], phone="081234567890").case_number
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watch(page)
    sign_in(page, live, "e2e_cw13")
    page.goto(f"{live}/cases/{number}")
    members = page.locator(".evidence-member")
    assert members.count() == 2
    assert "Wahyu" in members.nth(0).locator(".member-name").inner_text()
    assert "Kepala keluarga" in members.nth(0).locator(".member-name").inner_text()
    assert "Istri" in members.nth(1).locator(".member-name").inner_text()
    wife = members.nth(1).inner_text()
    assert (
        "Kategori kepegawaian" in wife
        and "aparatur sipil negara (ASN)" in wife
        and "{" not in wife.split("Jawaban asli")[0]
    )
    dtsen = page.locator('.evidence-card[data-source="dtsen"]')
    assert "Desil kesejahteraan" in dtsen.inner_text()
    raw = dtsen.locator("details.raw-answer pre")
    assert not raw.is_visible()  # the raw answer is one click away
    dtsen.get_by_text("Jawaban asli (untuk spesialis)").click()
    assert raw.is_visible() and '"decile": 10' in raw.inner_text()
    assert "081234567890" in page.locator(".case-phone").inner_text()
    assert "Rt" not in page.locator(".case-address").inner_text()  # RT/RW kept in capitals
    page.locator("details.criteria summary").click()
    unused = page.locator("tr.criterion-review_unused")
    assert unused.count() == 1 and "tidak dipakai" in unused.inner_text()
    assert axe_violations(page, live) == []
    shot(page, "case-evidence-id")
    page.get_by_role("link", name="EN").click()
    page.wait_for_url(f"**/cases/{number}")
    assert "Welfare decile" in page.locator('.evidence-card[data-source="dtsen"]').inner_text()
    assert "Wife" in members.nth(1).locator(".member-name").inner_text()
    shot(page, "case-evidence-en")
    page.set_viewport_size({"width": 360, "height": 800})
    page.get_by_role("link", name="ID").click()
    # Measured once the Indonesian page has loaded with its style sheets (measured mid-navigation, a
    # table whose scrolling wrapper is not styled yet widened the page on a loaded machine).
    page.wait_for_url(f"**/cases/{number}")
    page.wait_for_load_state("load")
    shot(page, "case-evidence-360")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 362, page.evaluate(WIDER)
    assert problems == [], problems


ROLE_SETS = {
    "caseworker": ["caseworker"],
    "admin": ["administrator", "supervisor", "caseworker", "auditor"],  # the widest menu
    "facilitator": ["facilitator"],
    "auditor": ["auditor"],
    "finance": ["finance_officer"],
}
START_PAGES = {
    "caseworker": "/inbox",
    "admin": "/inbox",
    "facilitator": "/assist/",
    "auditor": "/audit/entries",
    "finance": "/cycles",
}


@pytest.mark.parametrize("who", sorted(ROLE_SETS))
def test_the_header_fits_and_every_menu_link_opens(live, browser, who):
    username = f"e2e_menu_{who}"
    create_officer(db.session, username, "Nur Hidayati Rahmawati", ROLE_SETS[who], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    problems = watch(page)
    sign_in(page, live, username)
    page.wait_for_load_state()
    # The site's address leads every role to its own start page (it answered 403 to facilitators and auditors).
    response = page.goto(f"{live}/")
    assert response.status == 200 and page.url == f"{live}{START_PAGES[who]}", (response.status, page.url)
    shot(page, f"start-{who}")
    brand = page.locator(".navbar-brand, .portal-brand").first
    assert brand.get_attribute("href") == START_PAGES[who]
    if who == "facilitator":  # the assisted-registration pages have the portal's header; use a full page
        page.goto(f"{live}/graduation")
    measured = page.evaluate(HEADER_ROWS)
    shot(page, f"menu-{who}-1366")
    assert measured["rows"] == 1, measured
    # Every link of the menu, dropdowns included, opens for this role.
    links = page.eval_on_selector_all("nav.navbar a[href]", "as => as.map(a => a.getAttribute('href'))")
    links = sorted({link for link in links if not link.startswith(("/lang/", "#"))})
    assert len(links) >= 3, links
    for link in links:
        assert page.request.get(f"{live}{link}").status == 200, link
    groups = page.locator(".main-menu .dropdown-toggle")
    if groups.count():  # a dropdown opens and its items are links
        groups.first.click()
        menu = page.locator(".main-menu .dropdown-menu.show")
        menu.wait_for()
        shot(page, f"menu-{who}-open")
        first = menu.locator("a").first
        target = first.get_attribute("href")
        first.click()
        page.wait_for_url(f"**{target}")
    page.set_viewport_size({"width": 360, "height": 740})
    measured = page.evaluate(HEADER_ROWS)
    shot(page, f"menu-{who}-360")
    assert measured["rows"] <= 2, measured
    page.get_by_role("button", name="Buka menu").click()
    page.locator("#main-nav.show").wait_for()
    shot(page, f"menu-{who}-360-open")
    assert problems == [], problems


def test_a_403_page_leads_back_to_the_roles_start_page(live, browser):
    create_officer(db.session, "e2e_fac13", "Fasilitator", ["facilitator"], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page(viewport={"width": 360, "height": 740})
    sign_in(page, live, "e2e_fac13")
    response = page.goto(f"{live}/inbox")
    assert response.status == 403
    shot(page, "error-403-back")
    page.get_by_role("link", name="Kembali ke halaman awal").click()
    page.wait_for_url("**/assist/")
