"""The citizen's whole journey in headless Chromium: sign in with the digital ID, register, auto-reject,
appeal with evidence, overturn by an appeals officer, approval by a supervisor, enrolled, seen in the portal;
and a facilitator's assisted registration. Every portal page passes axe and the strict CSP."""

import pytest

from cases.operations import create_officer
from engine.db import db
from integrations.nik import mask_nik
from tests.conftest import faces_or_skip
from tests.helpers import case, civil_servant_in_poor_family, open_task
from tests.integration.portal_helpers import birth_date_of, latest_code

from .conftest import PASSWORD, axe_violations, sign_in, watch

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def check_page(page, live, problems, seen):
    """No axe violations on this portal page (each page once), no CSP refusals or errors so far."""
    path = page.url.split("?")[0]
    if path not in seen:
        seen.add(path)
        assert axe_violations(page, live) == [], path
    assert problems == [], problems


def portal_sign_in(page, live, nik):
    page.goto(f"{live}/portal/")
    page.get_by_role("link", name="Masuk dengan identitas digital Anda").click()
    page.fill("#nik", nik)
    page.fill("#birth_date", birth_date_of(nik))
    page.get_by_role("button", name="Kirim kode lewat SMS").click()
    page.wait_for_selector("#code")
    page.fill("#code", latest_code(nik))
    page.get_by_role("button", name="Masuk", exact=True).click()
    page.wait_for_url("**/portal/home")


def officer_completes(browser, live, username, number, bpmn_id, choose, notes=None):
    page = browser.new_page()
    problems = watch(page)
    sign_in(page, live, username)
    page.locator("tr", has_text=number).get_by_role("button", name="Ambil").click()
    page.wait_for_url(f"**/cases/{number}")
    for name, value in choose.items():
        page.select_option(f"select[name={name}]", value)
    for name, value in (notes or {}).items():
        page.fill(f"textarea[name={name}]", value)
    page.get_by_role("button", name="Selesaikan tugas").click()
    page.wait_for_selector(".alert-success")
    assert problems == [], problems
    page.close()


@pytest.fixture
def poor_civil_servant(svc, personas):
    """A family rejected on the civil-service ground alone, so an overturn can enrol it."""
    with civil_servant_in_poor_family(personas["eligible_head_without_photo"]) as nik:
        yield nik


def test_register_reject_appeal_overturn_approve_enrolled(live, browser, svc, poor_civil_servant, tmp_path):
    faces = faces_or_skip()
    nik = poor_civil_servant
    create_officer(db.session, "e2e_appeals", "E2E Appeals", ["appeals_officer"], None, password=PASSWORD)
    create_officer(db.session, "e2e_sup", "E2E Supervisor", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page(viewport={"width": 412, "height": 915})  # a phone
    problems, seen = watch(page), set()

    portal_sign_in(page, live, nik)
    check_page(page, live, problems, seen)
    with page.expect_navigation():
        page.get_by_role("link", name="Mulai permohonan").click()
    check_page(page, live, problems, seen)
    page.check("#agree")
    with page.expect_navigation():
        page.get_by_role("button", name="Setuju dan lanjutkan").click()
    check_page(page, live, problems, seen)
    page.check("#confirmed")
    with page.expect_navigation():
        page.get_by_role("button", name="Lanjutkan").click()
    check_page(page, live, problems, seen)
    page.check("#pay-BRI")
    page.fill("#bank_account", "0012345678")
    with page.expect_navigation():
        page.get_by_role("button", name="Lanjutkan").click()
    check_page(page, live, problems, seen)
    page.set_input_files("#selfie", str(faces / "obama2.jpg"))
    with page.expect_navigation():
        page.get_by_role("button", name="Gunakan foto ini").click()
    check_page(page, live, problems, seen)
    page.get_by_role("button", name="Kirim permohonan").click()
    page.wait_for_url("**/portal/cases/*")
    number = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert page.locator("[data-status]").get_attribute("data-status") == "REJECTED"
    reasons = case(number).reasons
    assert "CIVIL_SERVANT_HOUSEHOLD" in {r["code"] for r in reasons}
    assert next(r["id"] for r in reasons if r["code"] == "CIVIL_SERVANT_HOUSEHOLD") in page.content()
    check_page(page, live, problems, seen)

    evidence = tmp_path / "surat pensiun.pdf"
    evidence.write_bytes(PDF)
    with page.expect_navigation():
        page.get_by_role("link", name="Ajukan banding").first.click()
    check_page(page, live, problems, seen)
    page.fill("#reason", "Suami saya sudah pensiun sejak 2015; data kepegawaian belum diperbarui.")
    page.set_input_files("#evidence", str(evidence))
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
        {"appeal_notes": "Bukti pensiun sah; data BKN sudah usang."},
    )
    assert case(number).status == "AWAITING_APPROVAL"
    officer_completes(browser, live, "e2e_sup", number, "approve", {"approval_decision": "approve"})
    assert case(number).status == "ENROLLED"

    page.reload()
    assert page.locator("[data-status]").get_attribute("data-status") == "ENROLLED"
    html = page.content()
    assert "Rp" in html  # the benefit amounts
    check_page(page, live, problems, seen)


def test_facilitator_registers_a_person_without_a_phone(live, browser, svc, population):
    from sqlalchemy import select

    from integrations.sandbox.tables import people
    from tests.integration.test_lifecycle import other_photo_of

    faces = faces_or_skip()
    nik = population["personas"]["eligible_head_with_photo"]
    name = db.session.execute(select(people.c.name).where(people.c.nik == nik)).scalar_one()
    create_officer(db.session, "e2e_fac", "E2E Facilitator", ["facilitator"], [nik[4:6]], password=PASSWORD)
    db.session.commit()
    page = browser.new_page(viewport={"width": 412, "height": 915})
    problems, seen = watch(page), set()
    sign_in(page, live, "e2e_fac")
    page.wait_for_url("**/assist/")
    check_page(page, live, problems, seen)
    page.fill("#nik", nik)
    with page.expect_navigation():
        page.get_by_role("button", name="Mulai").click()
    page.wait_for_url("**/consent")
    assert nik not in page.url
    check_page(page, live, problems, seen)
    page.check("#agree")
    page.fill("#applicant_name", name)
    with page.expect_navigation():
        page.get_by_role("button", name="Setuju dan lanjutkan").click()
    page.check("#confirmed")
    with page.expect_navigation():
        page.get_by_role("button", name="Lanjutkan").click()
    check_page(page, live, problems, seen)
    page.check("#pay-POS")
    with page.expect_navigation():
        page.get_by_role("button", name="Lanjutkan").click()
    check_page(page, live, problems, seen)
    page.set_input_files("#selfie", str(other_photo_of(faces, population["photo_holders"][nik])))
    with page.expect_navigation():
        page.get_by_role("button", name="Gunakan foto ini").click()
    check_page(page, live, problems, seen)
    page.get_by_role("button", name="Kirim permohonan").click()
    page.wait_for_url("**/assist/?registered=*")
    listing = page.content()
    number = case_of(nik).case_number
    # The confirmation offers the receipt to print or share (tests/e2e/test_papers_browser.py opens it).
    assert page.locator("#receipt-card").is_visible()
    assert page.locator("#receipt-link").get_attribute("href") == f"/assist/cases/{number}/receipt.pdf"
    assert number in listing and nik not in listing and mask_nik(nik) in listing
    assert case(number).status == "ENROLLED" and case(number).channel == "facilitator"
    check_page(page, live, problems, seen)


def case_of(nik):
    from sqlalchemy import select

    from cases.models import Application

    db.session.expire_all()
    return db.session.execute(select(Application).where(Application.nik == nik)).scalar_one()


def tab_to(page, selector, limit=40):
    """Press Tab until the element matching `selector` has the focus; fail if it never does."""
    target = page.locator(selector).first
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{selector} cannot be reached with the keyboard")


def test_the_portal_works_with_the_keyboard_alone(live, browser, svc, personas):
    nik = personas["not_in_dtsen"]
    page = browser.new_page()
    problems = watch(page)
    page.goto(f"{live}/portal/")
    tab_to(page, "a[href*='/portal/signin']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#nik")
    tab_to(page, "#nik")
    page.keyboard.type(nik)
    page.fill("#birth_date", birth_date_of(nik))  # a date picker; typing into it depends on the locale
    tab_to(page, "button.btn-success")
    page.keyboard.press("Enter")
    page.wait_for_selector("#code")
    tab_to(page, "#code")
    page.keyboard.type(latest_code(nik))
    page.keyboard.press("Enter")
    page.wait_for_url("**/portal/home")
    tab_to(page, "a[href*='/portal/apply']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#agree")
    tab_to(page, "#agree")
    page.keyboard.press("Space")
    assert page.locator("#agree").is_checked()
    tab_to(page, "button.btn-success")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirmed")
    assert problems == [], problems
