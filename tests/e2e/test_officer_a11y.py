"""Accessibility basics on the officers' main pages: axe-core finds no violations (labels, contrast, roles)."""

from cases.operations import create_officer
from engine.db import db
from tests.helpers import open_task, submit

from .conftest import PASSWORD, axe_violations, sign_in, watch


def test_officer_pages_pass_axe(live, browser, svc, personas):
    create_officer(
        db.session,
        "e2e_a11y",
        "A11y Admin",
        ["administrator", "supervisor", "caseworker", "auditor"],
        None,
        password=PASSWORD,
    )
    db.session.commit()
    number = submit(svc, personas["not_in_dtsen"]).case_number
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = watch(page)
    sign_in(page, live, "e2e_a11y")
    found = {}
    for path in (
        "/inbox",
        f"/cases/{number}",
        "/desk",
        "/desk/approvals",
        "/audit",
        "/admin/officers",
        "/admin/regions",
        "/admin/processes",
        "/admin/processes/application/versions",
        "/tokens",
        "/profile",
        f"/search?q={number}",
        "/search?q=zz",
    ):
        page.goto(f"{live}{path}")
        violations = axe_violations(page, live)
        if violations:
            found[path] = violations
    assert open_task(number, "review") is not None
    assert found == {}, found
    assert problems == [], problems
