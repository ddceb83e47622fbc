"""End to end in headless Chromium: sign in, claim a review, complete it, approve as a second officer."""

from cases.operations import create_officer
from engine.db import db
from tests.helpers import case, submit

from .conftest import PASSWORD, sign_in


def test_review_then_approval_by_a_second_officer(live, browser, svc, personas):
    create_officer(db.session, "e2e_cw", "E2E Caseworker", ["caseworker"], None, password=PASSWORD)
    create_officer(db.session, "e2e_sup", "E2E Supervisor", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    number = submit(svc, personas["eligible_head_without_photo"]).case_number

    page = browser.new_page()
    refused = []
    page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
    sign_in(page, live, "e2e_cw")
    assert page.locator("h1").inner_text() == "Kotak tugas"
    row = page.locator("tr", has_text=number)
    row.get_by_role("button", name="Ambil").click()
    page.wait_for_url(f"**/cases/{number}")
    # The diagram shows where the case stands: the review task is the current step.
    page.wait_for_selector("#diagram[data-ready=true]")
    assert page.locator('#diagram .djs-element.current[data-element-id="review"]').count() == 1
    assert page.locator('#diagram .djs-element.done[data-element-id="verify_identity"]').count() == 1
    page.select_option("select[name=review_decision]", "approve")
    page.fill("textarea[name=review_notes]", "Verified at the village office")
    page.get_by_role("button", name="Selesaikan tugas").click()
    page.wait_for_selector(".alert-success")
    assert "Menunggu persetujuan" in page.locator(".badge.bg-primary").inner_text()
    # The reviewer's inbox has no approval task: it is the supervisors' queue.
    page.goto(f"{live}/inbox")
    assert page.locator("tr", has_text=number).count() == 0
    page.locator(".user-menu .dropdown-toggle").click()  # sign-out sits in the officer's own menu
    page.get_by_role("button", name="Keluar").click()

    sign_in(page, live, "e2e_sup")
    page.locator("tr", has_text=number).get_by_role("button", name="Ambil").click()
    page.wait_for_url(f"**/cases/{number}")
    page.select_option("select[name=approval_decision]", "approve")
    page.get_by_role("button", name="Selesaikan tugas").click()
    page.wait_for_selector(".alert-success")
    assert "Terdaftar sebagai penerima" in page.locator(".badge.bg-primary").inner_text()
    assert case(number).status == "ENROLLED"
    assert refused == [], refused


def test_edit_a_diagram_deploy_it_and_a_new_application_uses_the_new_version(live, browser, svc, personas):
    from sqlalchemy import select

    from engine.models import ProcessInstance, ProcessVersion
    from tests.helpers import open_task

    create_officer(db.session, "e2e_admin", "E2E Admin", ["administrator"], None, password=PASSWORD)
    db.session.commit()
    old = db.session.scalars(select(ProcessVersion.id).where(ProcessVersion.process_id == "application")).one()
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    refused, errors = [], []
    page.on(
        "console",
        lambda msg: refused.append((page.url, msg.text[:60])) if "Content Security Policy" in msg.text else None,
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live, "e2e_admin")
    page.get_by_role("button", name="Administrasi", exact=True).click()  # the menu's group (web/menu.py)
    page.get_by_role("link", name="Proses dan aturan").first.click()
    page.locator('tr[data-file="application.bpmn"]').get_by_role("link", name="Ubah").click()
    page.wait_for_selector("#canvas[data-ready=true]")

    # Take the form away from the review task: the engine's check marks the element.
    page.select_option("#jump", "review")
    page.wait_for_selector("#props:not([hidden])")
    assert page.locator("#prop-id").inner_text() == "review"
    page.select_option("#prop-formName", "")
    page.click("#save")
    page.wait_for_selector("#status.alert-warning")
    page.wait_for_selector('#canvas .djs-element.tepat-error[data-element-id="review"]', state="attached")
    assert "tidak punya formulir" in page.locator("#problems").inner_text()

    # Put a form back, rename the task and raise its priority; now the check passes.
    page.select_option("#prop-formName", "case_review")
    page.fill("#prop-name", "Tinjau ulang / Re-check")
    page.press("#prop-name", "Tab")
    page.fill("#prop-priority", "70")
    page.press("#prop-priority", "Tab")
    page.click("#save")
    page.wait_for_selector("#status.alert-success")
    assert page.locator("#canvas .djs-element.tepat-error").count() == 0

    page.goto(f"{live}/admin/processes")
    page.get_by_role("button", name="Pasang draf sebagai versi baru").click()
    page.wait_for_selector(".alert-success")
    db.session.expire_all()
    new = db.session.scalars(
        select(ProcessVersion.id).where(ProcessVersion.process_id == "application").order_by(ProcessVersion.id.desc())
    ).first()
    assert new != old

    number = submit(svc, personas["not_in_dtsen"]).case_number
    assert db.session.get(ProcessInstance, case(number).instance_id).version_id == new
    task = open_task(number, "review")
    assert task.name == "Tinjau ulang / Re-check" and task.priority == 70 and task.form_name == "case_review"

    # The visual diff marks the renamed task on both sides.
    page.goto(f"{live}/admin/processes/application/diff?old={old}&new={new}")
    page.wait_for_selector('.diff-view[data-side="new"][data-ready=true]')
    assert page.locator('.diff-view[data-side="new"] .djs-element.diff-changed[data-element-id="review"]').count() == 1
    # The rule tables open in the DMN modeler.
    page.goto(f"{live}/admin/processes/files/eligibility.dmn")
    page.wait_for_selector("#canvas[data-ready=true]")
    assert refused == [], refused
    assert errors == [], errors
