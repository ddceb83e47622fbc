"""In Chromium: the process editor for administrators. A long diagram opens at a readable scale (not a
strip); the case status, the lane's role and the four-eyes tasks are pick-lists of what exists; a choice
is saved into the draft; nothing goes to the console. Set TEPAT_SCREENSHOTS=DIR to keep screenshots."""

from cases.operations import create_officer
from engine import editing
from engine.db import db

from .conftest import PASSWORD, sign_in
from .test_decision_context import shot


def _selected(page, selector):
    return page.eval_on_selector(selector, "el => [...el.selectedOptions].map(o => o.value)")


def test_the_editor_opens_readably_with_pick_lists(live, browser, svc):
    create_officer(db.session, "e2e_editor", "Editor Admin", ["administrator"], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    console, errors = [], []
    page.on("console", lambda msg: console.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, live, "e2e_editor")
    page.goto(f"{live}/admin/processes/files/application.bpmn")
    page.wait_for_selector("#canvas[data-ready=true]")
    # Readable: a task is drawn at least 60 px wide (100 units at a zoom of 0.6 or more), not a thin strip.
    width = page.eval_on_selector(
        '#canvas [data-element-id="review"] .djs-hit', "el => el.getBoundingClientRect().width"
    )
    assert width >= 60, width
    shot(page, "editor-open")

    page.select_option("#jump", "review")  # a long diagram: find the step by name, the canvas scrolls to it
    page.wait_for_selector("#props:not([hidden])")
    assert page.locator("#prop-id").inner_text() == "review"
    assert _selected(page, "#prop-status") == ["IN_REVIEW"]
    options = page.eval_on_selector("#prop-status", "el => [...el.options].map(o => o.value)")
    assert {"ENROLLED", "REJECTED", "AWAITING_APPROVAL", "APPEAL_REVIEW"} <= set(options)

    page.select_option("#jump", "approve")
    page.wait_for_function("document.getElementById('prop-id').textContent === 'approve'")
    assert sorted(_selected(page, "#prop-exclude")) == ["appeal_review", "review", "review_escalated"]
    choices = page.eval_on_selector("#prop-exclude", "el => [...el.options].map(o => o.value)")
    assert "approve" not in choices and "review" in choices
    page.select_option("#prop-exclude", ["review", "review_escalated"])
    shot(page, "editor-four-eyes")

    assert _selected(page, "#prop-lane") == ["Supervisor"]
    page.select_option("#jump", "review")
    page.wait_for_function("document.getElementById('prop-id').textContent === 'review'")
    assert _selected(page, "#prop-lane") == ["Caseworker"]
    page.select_option("#prop-lane", "Supervisor")  # supervisors now do the first review

    page.click("#save")
    page.wait_for_selector("#status.alert-success, #status.alert-warning")
    db.session.expire_all()
    draft = editing.drafts(db.session)["application.bpmn"]
    assert 'name="excludeActorsOf" value="review,review_escalated"' in draft.xml
    from lxml import etree

    lanes = {
        lane.get("name"): [r.text for r in lane]
        for lane in etree.fromstring(draft.xml.encode()).iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}lane")
    }
    assert "review" in lanes["Supervisor"] and "review" not in lanes["Caseworker"]
    assert errors == [] and console == [], (errors, console)
