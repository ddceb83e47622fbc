"""In Chromium: the appeal beside the appeal task, the earlier decisions beside the approval, and the
portal (on a 360 px phone) showing the reasons and the message, never an officer's internal note.
Every page passes axe and the strict CSP. Set TEPAT_SCREENSHOTS=DIR to keep screenshots of the pages."""

import os

from flask import current_app

from cases.operations import actor_for, case_or_404, create_officer
from cases.portal.appeals import file_portal_appeal
from cases.portal.files import attach_evidence
from engine.db import db
from engine.humantasks import claim_task
from tests.helpers import case, open_task, submit, work
from web.portal.wiring import portal_services

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_portal_journey import portal_sign_in

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
REASON = "Suami saya sudah pensiun sejak 2015 dan tidak menerima pensiun; data BKN sudah lama."
NOTE = "Mirip kasus TPT-2026-0000777 (Budi Santoso); cek ulang ke desa."
MESSAGE = "Silakan perbarui data DTSEN di kantor desa, lalu ajukan lagi."


def shot(page, name):
    folder = os.environ.get("TEPAT_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def claim(svc, number, bpmn_id, username):
    officer = create_officer(
        db.session,
        username,
        username.replace("_", " ").title(),
        ["appeals_officer" if bpmn_id == "appeal_review" else "supervisor"],
        None,
        password=PASSWORD,
    )
    claim_task(svc.engine, open_task(number, bpmn_id).id, actor_for(officer))
    db.session.commit()


def test_officers_decide_with_the_appeal_and_earlier_decisions_beside_the_form(live, browser, svc, personas):
    number = submit(svc, personas["civil_servant"]).case_number
    app = case_or_404(db.session, number)
    config = current_app.config
    attach_evidence(
        db.session,
        portal_services().evidence,
        app,
        "surat_pensiun.pdf",
        PDF,
        "applicant",
        config["BANSOS_EVIDENCE_MAX_BYTES"],
        config["BANSOS_EVIDENCE_MAX_FILES"],
    )
    file_portal_appeal(svc.engine, app, REASON, config["BANSOS_APPEAL_WINDOW"], actor="applicant")
    db.session.commit()
    claim(svc, number, "appeal_review", "e2e_appeals")

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch(page)
    sign_in(page, live, "e2e_appeals")
    page.goto(f"{live}/cases/{number}")
    panel = page.locator(".task-context")
    assert REASON in panel.inner_text() and panel.get_by_role("link", name="surat_pensiun.pdf").is_visible()
    assert axe_violations(page, live) == []
    shot(page, "officer-appeal-task")
    page.select_option("select[name=appeal_outcome]", "overturn")
    page.fill("textarea[name=appeal_message]", MESSAGE)
    page.fill("textarea[name=appeal_notes]", NOTE)
    page.get_by_role("button", name="Selesaikan tugas").click()
    page.wait_for_selector(".alert-success")
    assert problems == [], problems
    page.close()
    assert case(number).status == "AWAITING_APPROVAL"

    claim(svc, number, "approve", "e2e_sup")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch(page)
    sign_in(page, live, "e2e_sup")
    page.goto(f"{live}/cases/{number}")
    text = " ".join(page.locator(".task-context").all_inner_texts())
    assert REASON in text  # the appeal the decision is about, too
    assert "Keputusan sebelumnya pada kasus ini" in text and NOTE in text and MESSAGE in text
    assert axe_violations(page, live) == []
    shot(page, "officer-approval-task")
    page.set_viewport_size({"width": 390, "height": 900})
    shot(page, "officer-approval-task-narrow")
    assert problems == [], problems
    page.close()


def test_the_phone_shows_reasons_and_message_but_no_internal_note(live, browser, svc, personas, officers):
    nik = personas["not_in_dtsen"]
    number = submit(svc, nik).case_number
    work(
        svc,
        number,
        "review",
        officers["cw1"],
        {
            "review_decision": "reject",
            "review_reason_codes": ["DECILE_ABOVE_CUTOFF", "OTHER"],
            "review_message": MESSAGE,
            "review_notes": NOTE,
        },
    )
    page = browser.new_page(viewport={"width": 360, "height": 780})
    problems = watch(page)
    portal_sign_in(page, live, nik)
    page.goto(f"{live}/portal/cases/{number}")
    body = page.locator("main").inner_text()
    assert MESSAGE in body and "Peringkat kesejahteraan (desil)" in body
    assert "TPT-2026-0000777" not in page.content() and "Budi Santoso" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    assert axe_violations(page, live) == []
    shot(page, "portal-case-360")
    assert problems == [], problems
    page.close()
