"""What officers read is Indonesian first: inbox rows, statuses, timeline, task names, form errors; an
applicant's appeal (banding) and a community objection (sanggahan) are never called the same."""

import re
from datetime import timedelta

from babel.messages.pofile import read_po

from cases.models import CaseEvent
from cases.officers import district_name
from cases.operations import create_officer, file_appeal
from engine.db import db, utcnow
from tests.conftest import ROOT
from tests.helpers import case, open_task, submit
from tests.integration.test_web import PASSWORD, login, post, web  # noqa: F401  (the `web` fixture)


def _row(html, task_id):
    return re.search(rf'<tr[^>]*id="task-{task_id}".*?</tr>', html, re.S).group(0)


def _timeline(html):
    return re.search(r'<ol class="list-unstyled small timeline">(.*?)</ol>', html, re.S).group(1)


def _badge(html):
    return re.search(r'<span class="badge bg-primary fs-6[^"]*">([^<]*)</span>', html).group(1)


def test_inbox_rows_name_the_applicant_village_and_district(web, svc, personas):
    app = case(submit(svc, personas["not_in_dtsen"]).case_number)
    task = open_task(app.case_number, "review")
    login(web, "w_caseworker")
    html = web.get("/inbox").get_data(as_text=True)
    row = _row(html, task.id)
    name = district_name(app.district_code)
    assert app.applicant_name in row and app.village.title() in row and name in row
    assert "Tinjau kasus" in row and "Review case" not in row
    # The district filter is a pick-list of names, from the regions data.
    select_html = re.search(r'<select[^>]*id="f-district".*?</select>', html, re.S).group(0)
    assert f'<option value="{app.district_code}" >{name}</option>' in select_html
    assert select_html.count("<option") == 26  # "all my districts" and Banyuwangi's 25
    assert "Tinjau kasus" in _row(web.get(f"/inbox?district={app.district_code}").get_data(as_text=True), task.id)


def test_a_district_limited_officer_picks_only_among_their_districts(web, svc, personas):
    login(web, "w_far")  # a caseworker of district 25
    html = web.get("/inbox").get_data(as_text=True)
    select_html = re.search(r'<select[^>]*id="f-district".*?</select>', html, re.S).group(0)
    assert re.findall(r'<option value="(\d\d)"', select_html) == ["25"]
    assert district_name("25") in select_html


def test_case_page_status_timeline_and_tasks_are_indonesian(web, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    login(web, "w_caseworker")
    post(web, f"/tasks/{task.id}/claim")
    html = web.get(f"/cases/{number}").get_data(as_text=True)
    assert _badge(html) == "Dalam peninjauan"
    timeline = _timeline(html)
    for text in (
        "Permohonan diajukan (mandiri)",
        "Status: Dalam peninjauan",
        "Tugas dibuat: Tinjau kasus",
        "Tugas Tinjau kasus: diambil",
    ):
        assert text in timeline, text
    for english in ("Application submitted", "Status IN_REVIEW", "IN_REVIEW", "Task created", "claim (", "Review case"):
        assert english not in timeline, english
    assert "Dukcapil" in html  # the evidence source, named
    web.get("/lang/en")
    html = web.get(f"/cases/{number}").get_data(as_text=True)
    assert _badge(html) == "In review"
    assert "Application submitted (self-service)" in _timeline(html) and "Task created: Review case" in _timeline(html)


def test_timeline_rows_stored_before_codes_were_kept_stay_readable(web, svc, personas):
    app = case(submit(svc, personas["not_in_dtsen"]).case_number)
    at = utcnow() + timedelta(minutes=1)
    old = [  # as the previous code wrote them: English text, fewer parameters
        (
            "task_claim",
            "Task Tinjau kasus / Review case: claim (w_caseworker)",
            {"task_id": 1, "target": "w_caseworker"},
        ),
        (
            "task_reassign",
            "Task Setujui kasus / Approve case: reassign (w_supervisor)",
            {"task_id": 2, "target": "w_supervisor"},
        ),
        ("recheck", "Re-check: exclude, 2 change(s)", {"changes": []}),
        (
            "retry_scheduled",
            "dtsen.lookup unavailable (attempt 2), retry at 2026-12-06T10:00:00+00:00",
            {"operator": "dtsen.lookup", "attempts": 2},
        ),
        ("something_new", "Something the renderer does not know", None),
    ]
    for i, (kind, summary, detail) in enumerate(old):
        db.session.add(
            CaseEvent(application_id=app.id, kind=kind, summary=summary, detail=detail, at=at + timedelta(seconds=i))
        )
    db.session.commit()
    login(web, "w_caseworker")
    timeline = _timeline(web.get(f"/cases/{app.case_number}").get_data(as_text=True))
    assert "Tugas Tinjau kasus: diambil" in timeline
    assert "Tugas Setujui kasus dialihkan ke w_supervisor" in timeline
    assert "Pemeriksaan ulang: tidak lagi layak menurut aturan, 2 perubahan" in timeline
    assert "data kesejahteraan DTSEN tidak tersedia (percobaan ke-2); dicoba lagi pada 6/12/26" in timeline
    assert "Something the renderer does not know" in timeline  # unknown kinds keep their stored text
    assert "Re-check:" not in timeline and "unavailable" not in timeline and ": claim" not in timeline


def test_form_validation_errors_are_indonesian(web, svc, personas):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    task = open_task(number, "review")
    login(web, "w_caseworker")
    post(web, f"/tasks/{task.id}/claim")
    stamp = re.search(r'name="claim_stamp" value="([^"]*)"', web.get(f"/cases/{number}").get_data(as_text=True)).group(
        1
    )

    def complete(data):
        response = post(web, f"/cases/{number}/tasks/{task.id}", {"claim_stamp": stamp, **data})
        assert response.status_code == 422
        return " ".join(
            re.findall(r'<div class="invalid-feedback[^"]*"[^>]*>([^<]*)</div>', response.get_data(as_text=True))
        )

    errors = complete({"review_decision": "reject"})
    assert "Pilih paling sedikit satu alasan yang akan dilihat pemohon." in errors and "Choose" not in errors
    errors = complete({"review_notes": "x" * 2001})
    assert "Kolom ini wajib diisi." in errors and "Tulis paling banyak 2000 karakter." in errors
    assert "Missing data" not in errors and "Longer than" not in errors
    errors = complete({"review_decision": "maybe"})
    assert errors == "Pilih salah satu pilihan."


def _catalogue():
    with open(ROOT / "web" / "translations" / "id" / "LC_MESSAGES" / "messages.po", "rb") as f:
        return [
            (m.id if isinstance(m.id, str) else m.id[0], m.string if isinstance(m.string, str) else m.string[0])
            for m in read_po(f)
            if m.id
        ]


def test_an_appeal_is_banding_and_a_community_objection_is_sanggahan():
    catalogue = _catalogue()
    appeals = [(i, s) for i, s in catalogue if "appeal" in i.lower() and "objection" not in i.lower()]
    objections = [(i, s) for i, s in catalogue if "objection" in i.lower() and "appeal" not in i.lower()]
    assert len(appeals) > 20 and len(objections) > 10
    assert [i for i, s in appeals if "sanggah" in s.lower()] == []
    assert [i for i, s in objections if "banding" in s.lower()] == []
    words = dict(catalogue)
    assert words["Appeal"] == "Banding" and words["Community objection"] == "Sanggahan masyarakat"
    assert words["appeals_officer"] == "petugas banding" and words["Appeal under review"] == "Banding sedang ditinjau"
    assert "sanggah" not in words["Rejected (appeal window open)"].lower()
    diagram = (ROOT / "processes" / "application.bpmn").read_text(encoding="utf-8")
    assert "sanggah" not in diagram.lower() and "Tinjau banding / Review appeal" in diagram


def test_the_appeals_officer_reads_banding_and_community_objections_stay_sanggahan(web, svc, personas):
    number = submit(svc, personas["civil_servant"]).case_number
    assert case(number).status == "REJECTED"
    file_appeal(svc.engine, number, {"reason": "My husband retired years ago and gets no pension now."})
    db.session.commit()
    task = open_task(number, "appeal_review")
    login(web, "w_appeals_officer")
    html = web.get("/inbox").get_data(as_text=True)
    assert "petugas banding" in html and "Tinjau banding" in _row(html, task.id)
    flags = re.search(r'<select[^>]*id="f-flag".*?</select>', html, re.S).group(0)
    assert "Sanggahan masyarakat" in flags
    page = web.get(f"/cases/{number}").get_data(as_text=True)
    assert _badge(page) == "Banding sedang ditinjau"
    assert "Banding diajukan" in _timeline(page) and "sanggah" not in page.lower()


def test_the_api_timeline_speaks_the_callers_language(svc, personas):
    """The API's case timeline carries each entry worded for people, in the Accept-Language asked for."""
    from flask import current_app

    from cases.tokens import issue_token

    number = submit(svc, personas["not_in_dtsen"]).case_number
    officer = create_officer(db.session, "w_api_words", "Words", ["caseworker"], None, password="a-long-password")
    secret = issue_token(db.session, officer, "words", 1)[1]
    db.session.commit()
    with current_app.test_client() as client:
        texts = {}
        for language in ("id", "en"):
            body = client.get(
                f"/api/v1/cases/{number}", headers={"Authorization": f"Bearer {secret}", "Accept-Language": language}
            ).get_json()
            texts[language] = [e["text"] for e in body["timeline"]]
    assert "Proses dimulai" in texts["id"] and "Process started" in texts["en"]
    assert all(e for e in texts["id"])
