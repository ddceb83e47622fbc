"""In Chromium: a family exited by a re-check appeals from its phone (360 px), an appeals officer who took no
part overturns it, and the next cycle pays the missed stage as arrears (rapel), seen in the portal and by the
finance officers on the cycle page."""

from sqlalchemy import select

from cases.models import Enrolment
from cases.operations import create_officer, recheck_enrolment
from engine.db import db
from payments.cycles import open_cycle
from tests.helpers import case, open_task, submit, work
from tests.integration.payment_support import family
from tests.integration.test_appeal_arrears import arrears_schedule
from tests.integration.test_explanation import dtsen_update  # noqa: F401  (fixture)
from tests.integration.test_payment_cycles import do

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_portal_journey import officer_completes, portal_sign_in

SHOTS = "/tmp/appeals_shots"


def test_an_exited_family_appeals_on_a_phone_is_reinstated_and_paid_arrears(
    live, browser, svc, personas, officers, dtsen_update
):  # noqa: F811
    from cases.operations import actor_for

    nik = personas["eligible_family_with_children"]
    number = submit(svc, nik).case_number
    work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "checked"})
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    create_officer(db.session, "e2e_appeals", "E2E Appeals", ["appeals_officer"], None, password=PASSWORD)
    fin = {
        u: actor_for(create_officer(db.session, u, u.upper(), ["finance_officer"], None, password=PASSWORD))
        for u in ("fin1", "fin2")
    }
    db.session.commit()
    dtsen_update(app.kk_number, 9)
    recheck_enrolment(svc.engine, number)
    db.session.commit()
    work(svc, number, "removal_review", officers["cw2"], {"removal_decision": "remove", "removal_notes": "decile 9"})
    assert work(svc, number, "approve_removal", officers["sup2"], {"approval_decision": "approve"}).status == "REMOVED"
    schedule = arrears_schedule()
    # The family enrolled in December was paid that stage (T1) at its enrolment; it misses T2 while removed.
    family([("PKH", "SD", 1)])  # someone on the stage the removed family misses
    db.session.commit()
    open_cycle(svc.engine, schedule, "PKH-TEST-T2", fin["fin1"])
    db.session.commit()

    page = browser.new_page(viewport={"width": 360, "height": 740})
    problems = watch(page)
    portal_sign_in(page, live, nik)
    page.goto(f"{live}/portal/cases/{number}")
    assert page.locator("[data-status]").get_attribute("data-status") == "REMOVED"
    page.screenshot(path=f"{SHOTS}/portal-removed-360.png", full_page=True)
    with page.expect_navigation():
        page.get_by_role("link", name="Ajukan banding").first.click()
    page.fill("#reason", "Suami saya kehilangan pekerjaan bulan Oktober; data DTSEN belum diperbarui.")
    page.get_by_role("button", name="Kirim banding").click()
    page.wait_for_url(f"**/portal/cases/{number}")
    assert page.locator("[data-status]").get_attribute("data-status") == "APPEAL_REVIEW"
    assert open_task(number, "appeal_review").queue == "appeals_officer"

    officer_completes(
        browser,
        live,
        "e2e_appeals",
        number,
        "appeal_review",
        {"appeal_outcome": "overturn"},
        {"appeal_notes": "Surat PHK sah; catatan internal."},
    )
    assert case(number).status == "ENROLLED"
    enrolment = db.session.scalars(select(Enrolment).where(Enrolment.application_id == app.id)).one()
    assert enrolment.ended_at is None and enrolment.arrears_from is not None

    open_cycle(svc.engine, schedule, "PKH-TEST-T3", fin["fin1"])
    db.session.commit()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"}, code="PKH-TEST-T3")
    officer = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(officer, live, "fin2")
    officer.goto(f"{live}/cycles/PKH-TEST-T3")
    assert officer.locator("#arrears-table").count() == 1
    officer.screenshot(path=f"{SHOTS}/cycle-arrears.png", full_page=True)
    officer.close()
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"}, code="PKH-TEST-T3")
    do(svc, "dispatch_batches", fin["fin1"], {"sp2d_number": "SP2D-1", "sp2d_date": "2026-12-01"}, code="PKH-TEST-T3")

    page.goto(f"{live}/portal/cases/{number}")
    assert page.locator("[data-status]").get_attribute("data-status") == "ENROLLED"
    assert page.locator(".payment-arrears").count() == 1 and "rapel" in page.locator(".payment-arrears").inner_text()
    assert "catatan internal" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=f"{SHOTS}/portal-reinstated-360.png", full_page=True)
    assert axe_violations(page, live) == []
    assert problems == [], problems
