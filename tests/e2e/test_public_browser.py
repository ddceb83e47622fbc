"""In headless Chromium: the public figures chart draws under the strict CSP and the page passes axe;
a resident signs in with the sandbox digital ID and files a community objection."""

import re

import pytest
from sqlalchemy import select

from cases.models import Objection
from engine.db import db
from integrations.sandbox.tables import people
from tests.helpers import submit, work

from .conftest import AXE, CHROMIUM, watch

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def test_figures_chart_draws_under_csp_and_the_page_passes_axe(live, browser, svc, personas):
    from cases.figures import cache

    cache.clear()
    for kind in ("civil_servant", "not_in_dtsen", "rich_decile"):
        submit(svc, personas[kind])
    page = browser.new_page()
    problems = watch(page)
    page.goto(f"{live}/figures")
    page.wait_for_selector("#figures-chart[data-ready=true]")
    assert page.locator("#figures-chart").bounding_box()["height"] > 150
    page.locator("details summary").first.click()
    assert "<5" in page.locator("details table").first.inner_text()
    page.add_script_tag(url=f"{live}/static/vendor/axe.min.js")
    assert page.evaluate(AXE) == []
    assert problems == []
    cache.clear()


def test_a_resident_signs_in_and_files_an_objection(live, browser, svc, personas, officers):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "seen"})
    recipient = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    objector, born = db.session.execute(
        select(people.c.nik, people.c.birth_date)
        .where(
            people.c.alive.is_(True),
            people.c.district_code == recipient.district_code,
            people.c.village == recipient.village,
            people.c.kk_number != recipient.kk_number,
        )
        .order_by(people.c.nik)
        .limit(1)
    ).one()

    page = browser.new_page()
    problems = watch(page)
    page.goto(f"{live}/portal/objections/new")
    page.locator("a.btn-success").click()  # sign in with the digital ID
    page.fill("#nik", objector)
    page.fill("#birth_date", born.isoformat())
    page.locator("form button.btn-success").click()
    code = page.locator("[data-testid=demo-otp]").inner_text()
    page.fill("#code", code)
    page.locator("form button.btn-success").click()
    page.wait_for_url("**/portal/objections/new")
    assert recipient.village in page.locator("main").inner_text()
    page.add_script_tag(url=f"{live}/static/vendor/axe.min.js")
    assert page.evaluate(AXE) == []
    page.select_option("#recipient", str(recipient.id))
    page.select_option("#ground", "FOUR_WHEEL_VEHICLE")
    page.fill("#reason", "The family drives a new car to the market every morning.")
    page.get_by_role("button", name="Ajukan sanggahan").click()
    page.wait_for_url("**/portal/objections")
    text = page.locator("main").inner_text()
    filed = re.search(r"SGH-\d{4}-\d{7}", text).group(0)
    assert "Sedang diverifikasi" in text and recipient.nik not in text
    assert db.session.scalars(select(Objection.number)).one() == filed
    assert problems == []
