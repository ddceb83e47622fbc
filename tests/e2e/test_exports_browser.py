"""In Chromium: officers download their lists as Excel with the filters they chose (inbox, search results,
the desk, the approval queue, payment cycles), and the decision letter from the case page."""

import io
from pathlib import Path

from openpyxl import load_workbook
from pypdf import PdfReader

from cases.operations import create_officer
from engine.db import db
from tests.helpers import case, submit, work

from .conftest import PASSWORD, sign_in, watch

SHOTS = Path("/tmp/papers_shots")


def downloaded_rows(page, click):
    """Click, wait for the download; return (file name, data rows' first cells) of its first sheet."""
    with page.expect_download() as info:
        click()
    download = info.value
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    return download.suggested_filename, [r[0] for r in rows[2:]]


def test_officers_download_their_lists_with_the_filters_they_chose(live, browser, svc, personas, officers):
    SHOTS.mkdir(exist_ok=True)
    a, b = (submit(svc, personas[p]).case_number for p in ("not_in_dtsen", "eligible_head_without_photo"))
    district_b = case(b).district_code
    create_officer(db.session, "e2e_cw", "E2E Caseworker", ["caseworker"], None, password=PASSWORD)
    create_officer(db.session, "e2e_sup", "E2E Supervisor", ["supervisor"], None, password=PASSWORD)
    db.session.commit()
    page = browser.new_page(accept_downloads=True)
    problems = watch(page)
    sign_in(page, live, "e2e_cw")
    page.wait_for_url("**/inbox")
    name, rows = downloaded_rows(page, lambda: page.click("#export-xlsx"))
    assert name.startswith("tepat-inbox-") and sorted(rows) == sorted([a, b])
    # The district chosen in the filter (htmx updates the list) is what the file holds.
    page.select_option("#f-district", district_b)
    page.locator("#tasks tr", has_text=a).wait_for(state="detached")
    assert page.locator("#tasks tr", has_text=b).is_visible()  # the list itself, not a file, was swapped in
    assert f"district={district_b}" in page.locator("#export-xlsx").get_attribute("href")
    page.screenshot(path=str(SHOTS / "inbox-export.png"), full_page=True)
    assert downloaded_rows(page, lambda: page.click("#export-xlsx"))[1] == [b]
    # Search results: the NIK stays masked in the file.
    nik = case(a).nik
    page.goto(f"{live}/search")
    page.fill("#search-q", nik)
    with page.expect_navigation():
        page.locator("#search-form").get_by_role("button", name="Cari").click()
    assert downloaded_rows(page, lambda: page.click("#export-xlsx"))[1] == [a]
    # The decision letter from the case page, once decided.
    work(
        svc,
        a,
        "review",
        officers["cw1"],
        {
            "review_decision": "reject",
            "review_reason_codes": ["DECILE_ABOVE_CUTOFF"],
            "review_message": "Silakan perbarui data DTSEN.",
            "review_notes": "internal",
        },
    )
    page.goto(f"{live}/cases/{a}")
    href = page.get_by_role("link", name="Surat keputusan (PDF)").get_attribute("href")
    letter = page.request.get(f"{live}{href}")
    text = PdfReader(io.BytesIO(letter.body())).pages[0].extract_text()
    assert letter.status == 200 and a in text and "internal" not in text
    assert problems == []

    supervisor = browser.new_page(accept_downloads=True)
    problems = watch(supervisor)
    sign_in(supervisor, live, "e2e_sup")
    work(svc, b, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "ok"})
    supervisor.goto(f"{live}/desk")
    name, rows = downloaded_rows(supervisor, lambda: supervisor.click("#export-xlsx"))
    assert name.startswith("tepat-desk-") and len(rows) >= 1
    supervisor.goto(f"{live}/desk/approvals")
    supervisor.screenshot(path=str(SHOTS / "approvals-export.png"), full_page=True)
    assert downloaded_rows(supervisor, lambda: supervisor.click("#export-xlsx"))[1] == [b]
    supervisor.goto(f"{live}/cycles")
    name, rows = downloaded_rows(supervisor, lambda: supervisor.click("#export-xlsx"))
    assert name.startswith("tepat-cycles-") and rows == []
    assert problems == []
