"""In headless Chromium: the API documentation (Swagger UI) works under the strict CSP, "Try it out" uses the
signed-in session (with its CSRF token for a claim), and a token created on the page works for curl-like calls."""

import re

from cases.operations import create_officer
from engine.db import db
from tests.helpers import open_task, submit

from .conftest import PASSWORD, sign_in, watch


def _execute(page, operation_id):
    block = page.locator(f"#operations-{operation_id}")
    block.locator(".opblock-summary").first.click()
    block.get_by_role("button", name="Try it out").click()
    return block


def test_swagger_ui_renders_and_tries_calls_with_the_session(live, browser, svc, personas):
    create_officer(db.session, "e2e_api", "API Caseworker", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = watch(page)
    sign_in(page, live, "e2e_api")
    page.goto(f"{live}/api/v1/docs")
    page.wait_for_selector("#swagger-ui[data-ready=true]")
    assert page.locator(".opblock").count() >= 12
    assert "Tepat API" in page.locator(".swagger-ui .info .title").inner_text()

    block = _execute(page, "api_cases-get_api_v1_cases")
    block.get_by_role("button", name="Execute").click()
    block.locator(".live-responses-table tbody .response-col_status").first.wait_for()
    assert block.locator(".live-responses-table tbody .response-col_status").first.inner_text().strip() == "200"
    assert number in block.locator(".live-responses-table .microlight").first.inner_text()

    block = _execute(page, "api_tasks-post_api_v1_tasks__task_id__claim")
    block.locator('input[placeholder="task_id"]').fill(str(task.id))
    block.get_by_role("button", name="Execute").click()
    block.locator(".live-responses-table tbody .response-col_status").first.wait_for()
    assert block.locator(".live-responses-table tbody .response-col_status").first.inner_text().strip() == "200"
    db.session.expire_all()
    assert open_task(number, "review").assignee == "e2e_api"  # the CSRF header went along
    assert problems == [], problems


def test_a_token_created_on_the_page_is_shown_once_and_works(live, browser, svc, personas):
    create_officer(db.session, "e2e_tok", "Token Supervisor", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page()
    problems = watch(page)
    sign_in(page, live, "e2e_tok")
    page.locator(".user-menu .dropdown-toggle").click()  # the tokens sit in the officer's own menu
    page.get_by_role("link", name="Token API saya").click()
    page.fill("#token-name", "dashboard")
    page.select_option("#token-days", "7")
    page.get_by_role("button", name="Buat token baru").click()
    secret = page.locator("#new-token").inner_text().strip()
    assert re.fullmatch(r"tpt_[A-Za-z0-9_-]{43}", secret)
    page.goto(f"{live}/tokens")
    assert secret not in page.content() and secret[:12] in page.content()
    response = page.request.get(f"{live}/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"})
    assert response.status == 200 and "items" in response.json()
    page.get_by_role("button", name="Cabut").click()
    page.wait_for_selector(".alert-success")
    response = page.request.get(f"{live}/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"})
    assert response.status == 401 and response.json()["error"] == "TOKEN_REVOKED"
    assert problems == [], problems
