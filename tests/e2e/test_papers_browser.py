"""In Chromium: an applicant downloads their decision letter from the portal on a phone (360 px), and a
facilitator prints the receipt from the confirmation of an assisted registration."""

import io
from pathlib import Path

from pypdf import PdfReader

from cases.operations import create_officer
from engine.db import db
from tests.helpers import case, submit, work

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_portal_journey import portal_sign_in

SHOTS = Path("/tmp/papers_shots")
NOTE = "Internal: the neighbour says he works at the sugar mill"


def pdf_text(data):
    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(data)).pages)


def test_an_applicant_downloads_the_decision_letter_on_a_phone(live, browser, svc, personas, officers):
    SHOTS.mkdir(exist_ok=True)
    number = submit(svc, personas["not_in_dtsen"]).case_number
    work(
        svc,
        number,
        "review",
        officers["cw1"],
        {
            "review_decision": "reject",
            "review_reason_codes": ["DECILE_ABOVE_CUTOFF"],
            "review_message": "Silakan perbarui data DTSEN di kantor desa.",
            "review_notes": NOTE,
        },
    )
    app = case(number)
    assert app.status == "REJECTED"
    page = browser.new_page(viewport={"width": 360, "height": 740}, accept_downloads=True)
    problems = watch(page)
    portal_sign_in(page, live, app.nik)
    page.goto(f"{live}/portal/cases/{number}")
    link = page.get_by_role("link", name="Unduh surat keputusan (PDF)")
    assert link.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=str(SHOTS / "portal-letter-360.png"), full_page=True)
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == f"{number}-letter-id.pdf"
    data = Path(download.path()).read_bytes()
    (SHOTS / "letter-id.pdf").write_bytes(data)
    text = pdf_text(data)
    assert "SURAT KEPUTUSAN" in text and number in text and "Silakan perbarui data DTSEN di kantor desa." in text
    assert NOTE not in text and app.nik not in text and "Anda dapat mengajukan banding sampai" in text
    assert axe_violations(page, live) == []
    assert problems == []
    # In English the button and the letter are English.
    page.goto(f"{live}/lang/en?next=/portal/cases/{number}")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the decision letter (PDF)").click()
    english = pdf_text(Path(info.value.path()).read_bytes())
    assert "DECISION LETTER" in english and NOTE not in english


def test_a_facilitator_prints_the_receipt_after_an_assisted_registration(live, browser, svc, personas):
    SHOTS.mkdir(exist_ok=True)
    nik = personas["civil_servant"]
    create_officer(db.session, "e2e_fac", "Dewi Pendamping", ["facilitator"], [nik[4:6]], password=PASSWORD)
    db.session.commit()
    number = submit(svc, nik, channel="facilitator", facilitator_id="e2e_fac").case_number
    page = browser.new_page(viewport={"width": 412, "height": 915})
    problems = watch(page)
    sign_in(page, live, "e2e_fac")
    page.wait_for_url("**/assist/")
    # Where the assisted registration lands once sent (tests/e2e/test_portal_journey.py walks the steps).
    page.goto(f"{live}/assist/?registered={number}")
    card = page.locator("#receipt-card")
    assert card.is_visible() and number in card.inner_text()
    button = page.get_by_role("link", name="Cetak atau bagikan tanda terima (PDF)")
    assert button.get_attribute("target") == "_blank"
    page.screenshot(path=str(SHOTS / "assist-receipt.png"), full_page=True)
    with page.context.expect_page() as opened:
        button.click()
    tab = opened.value
    tab.wait_for_load_state()
    # The tab shows the PDF (Chromium's viewer); its bytes, fetched with the same session, are the receipt.
    response = page.request.get(f"{live}/assist/cases/{number}/receipt.pdf")
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    (SHOTS / "receipt-id.pdf").write_bytes(response.body())
    text = pdf_text(response.body())
    assert "TANDA TERIMA PENDAFTARAN" in text and number in text and "Dewi Pendamping" in text and nik not in text
    # Each row of the list links its own receipt too.
    assert page.locator(f"a[href='/assist/cases/{number}/receipt.pdf']").count() == 2
    assert axe_violations(page, live) == []
    assert problems == []
