"""The portal's case page on a 360 px phone: every status badge wraps, nothing scrolls sideways."""

from engine.db import db
from tests.helpers import case, submit
from web.portal.texts import STATUS_TEXTS

from .test_portal_journey import portal_sign_in


def test_every_status_badge_wraps_on_a_360_px_screen(live, browser, svc, personas):
    nik = personas["eligible_head_without_photo"]
    number = submit(svc, nik).case_number
    page = browser.new_page(viewport={"width": 360, "height": 740})
    portal_sign_in(page, live, nik)
    app = case(number)
    for language in ("id", "en"):
        page.goto(f"{live}/lang/{language}?next=/portal/home")
        for status in STATUS_TEXTS:
            # Each status the case can show (the page reads it from the case row; the texts are what is measured).
            app.status = status
            db.session.commit()
            page.goto(f"{live}/portal/cases/{number}")
            badge = page.locator(".status-badge")
            assert badge.get_attribute("data-status") == status
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, (language, status, badge.inner_text(), width)
            box = badge.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 360, (language, status, box)
            if status == "ENROLLED":
                page.screenshot(path=f"/tmp/search_shots/portal-360-{language}.png", full_page=True)
