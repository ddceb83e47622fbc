"""End to end in headless Chromium: sign in, claim a review, complete it, approve as a second officer."""
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from cases.operations import create_officer
from engine.db import db
from tests.helpers import case, submit

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "e2e-password-123"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture
def live(ctx):
    """The app served on a loopback port for the browser."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    server = make_server("127.0.0.1", 0, ctx, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


def sign_in(page, base, username):
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit], form button.btn-success")


def test_review_then_approval_by_a_second_officer(live, browser, svc, personas):
    create_officer(db.session, "e2e_cw", "E2E Caseworker", ["caseworker"], None, password=PASSWORD)
    create_officer(db.session, "e2e_sup", "E2E Supervisor", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    number = submit(svc, personas["not_in_dtsen"]).case_number

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
