"""What the applicant reads is separate from what officers note: reason codes from the catalogue and a
message labelled for the applicant reach the portal and notices; internal notes (even old ones stored
as reasons) never do. Officers decide with the appeal and the earlier decisions beside the task form."""

import json
import re

from flask import current_app
from sqlalchemy import select

from cases.models import Officer
from cases.operations import actor_for, case_or_404, file_appeal, recheck_enrolment
from engine.db import db
from engine.humantasks import claim_task
from tests.helpers import case, fresh_client, open_task, submit, work
from tests.integration.portal_helpers import (  # noqa: F401  (fixtures)
    csrf_of,
    officer_login,
    officer_logins,
    portal,
    post_multipart,
    sign_in_applicant,
)
from tests.integration.test_explanation import _enrol, dtsen_update  # noqa: F401  (fixture)

OTHER_CASE = "TPT-2026-0000777"
NOTE = f"Sama seperti {OTHER_CASE} milik Budi Santoso, tetangganya; jangan disetujui."
MESSAGE = "Silakan perbarui data DTSEN di kantor desa, lalu ajukan lagi."
APPEAL_REASON = "Suami saya sudah pensiun sejak 2015 dan tidak menerima pensiun; data di register sudah lama."
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _officer(username):
    return actor_for(db.session.execute(select(Officer).where(Officer.username == username)).scalar_one())


def _claim(svc, number, bpmn_id, username):
    row = open_task(number, bpmn_id)
    claim_task(svc.engine, row.id, _officer(username))
    db.session.commit()
    return row


def _post_task(client, number, task_id, fields):
    page = client.get(f"/cases/{number}").get_data(as_text=True)
    stamp = re.search(r'name="claim_stamp" value="([^"]*)"', page).group(1)
    return client.post(
        f"/cases/{number}/tasks/{task_id}", data={"csrf_token": csrf_of(page), "claim_stamp": stamp, **fields}
    )


def _panel(page):
    """The task-context panels of a case page, as one string."""
    return "".join(re.findall(r'<section class="task-context.*?</section>', page, re.S))


def _outbox_text(nik):
    return json.dumps(current_app.extensions["tepat"].integrations.notifier.outbox(nik), default=str)


def test_officer_rejection_shows_codes_and_message_never_the_internal_note(svc, personas, officer_logins, portal):
    nik = personas["not_in_dtsen"]
    number = submit(svc, nik).case_number
    review = _claim(svc, number, "review", officer_logins["caseworker"])
    with fresh_client() as officer:
        officer_login(officer, officer_logins["caseworker"])
        page = officer.get(f"/cases/{number}").get_data(as_text=True)
        # The form says who reads what; the reasons are the catalogue's, in Indonesian.
        assert "Pesan untuk pemohon (terlihat oleh pemohon)" in page and "Catatan internal (hanya petugas)" in page
        assert 'type="checkbox" name="review_reason_codes" value="DECILE_ABOVE_CUTOFF"' in page
        assert "Peringkat kesejahteraan (desil) keluarga di DTSEN berada di atas batas program." in page

        refused = _post_task(officer, number, review.id, {"review_decision": "reject", "review_notes": NOTE})
        assert refused.status_code == 422
        assert "Pilih paling sedikit satu alasan yang akan dilihat pemohon." in refused.get_data(as_text=True)
        refused = _post_task(
            officer, number, review.id, {"review_decision": "reject", "review_reason_codes": "NOT_A_CODE"}
        )
        assert refused.status_code == 422 and "Pilih alasan dari daftar saja." in refused.get_data(as_text=True)
        refused = _post_task(
            officer, number, review.id, {"review_decision": "reject", "review_reason_codes": ["OTHER"]}
        )
        assert refused.status_code == 422 and "tulis pesan untuk pemohon" in refused.get_data(as_text=True)
        assert case(number).status == "IN_REVIEW"

        done = _post_task(
            officer,
            number,
            review.id,
            {
                "review_decision": "reject",
                "review_reason_codes": ["DECILE_ABOVE_CUTOFF", "OTHER"],
                "review_message": MESSAGE,
                "review_notes": NOTE,
            },
        )
        assert done.status_code == 302
    app = case(number)
    assert app.status == "REJECTED" and [r["code"] for r in app.reasons] == ["DECILE_ABOVE_CUTOFF", "OTHER"]
    assert NOTE not in json.dumps(app.reasons)

    sign_in_applicant(portal, nik)
    shown = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "Peringkat kesejahteraan (desil) keluarga di DTSEN berada di atas batas program." in shown
    assert "Alasan lain, dijelaskan dalam pesan petugas." in shown
    assert "Pesan dari petugas" in shown and MESSAGE in shown
    assert OTHER_CASE not in shown and "Budi Santoso" not in shown
    sent = _outbox_text(nik)  # the SMS and portal notices carry the codes' texts and the message only
    assert "decision_rejected" in sent and MESSAGE in sent and OTHER_CASE not in sent


def test_a_note_stored_as_a_reason_before_codes_is_never_shown_to_the_applicant(svc, personas, portal):
    nik = personas["high_wage"]
    number = submit(svc, nik).case_number
    app = case_or_404(db.session, number)
    # What the old review script stored: the caseworker's free-text note as the reason's texts.
    app.reasons = [
        {"code": "WAGE_ABOVE_MINIMUM", "effect": "reject", "id": NOTE, "en": NOTE},
        {"code": "OTHER", "effect": "reject", "id": f"Lihat {OTHER_CASE}", "en": f"Lihat {OTHER_CASE}"},
    ]
    app.decided_by = "officer"
    db.session.commit()

    sign_in_applicant(portal, nik)
    shown = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert OTHER_CASE not in shown and "Budi Santoso" not in shown
    assert "Ada anggota keluarga yang berpenghasilan di atas upah minimum kabupaten/kota." in shown
    assert "Petugas memutuskan setelah memeriksa permohonan Anda." in shown  # "other" with a note: generic text
    portal.get("/lang/en")
    shown = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert OTHER_CASE not in shown and "Budi Santoso" not in shown
    assert "A household member earns more than the regional minimum wage." in shown


def test_appeal_task_shows_the_appeal_and_approval_shows_the_earlier_decisions(svc, personas, officer_logins, portal):
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    sent = post_multipart(
        portal,
        f"/portal/cases/{number}/appeal",
        {"reason": APPEAL_REASON},
        [("evidence", "surat pensiun.pdf", PDF)],
        page=f"/portal/cases/{number}/appeal",
    )
    assert sent.status_code == 302 and case(number).status == "APPEAL_REVIEW"
    task = _claim(svc, number, "appeal_review", officer_logins["appeals_officer"])

    with fresh_client() as officer:
        officer_login(officer, officer_logins["appeals_officer"])
        page = officer.get(f"/cases/{number}").get_data(as_text=True)
        panel = _panel(page)
        assert "Banding pemohon" in panel and APPEAL_REASON in panel
        assert "surat_pensiun.pdf" in panel and f"/cases/{number}/evidence-files/" in panel
        assert page.index(APPEAL_REASON) < page.index('name="appeal_outcome"')  # above the form
        done = _post_task(
            officer, number, task.id, {"appeal_outcome": "overturn", "appeal_notes": NOTE, "appeal_message": MESSAGE}
        )
        assert done.status_code == 302
    assert case(number).status == "AWAITING_APPROVAL"

    approval = _claim(svc, number, "approve", officer_logins["supervisor"])
    with fresh_client() as supervisor:
        officer_login(supervisor, officer_logins["supervisor"])
        page = supervisor.get(f"/cases/{number}").get_data(as_text=True)
        panel = _panel(page)
        assert "Keputusan sebelumnya pada kasus ini" in panel
        assert "Batalkan keputusan" in panel and officer_logins["appeals_officer"] in panel and "WIB" in panel
        assert NOTE in panel and MESSAGE in panel
        assert page.index("Keputusan sebelumnya pada kasus ini") < page.index('name="approval_decision"')
        shown = supervisor.get(f"/api/v1/cases/{number}").get_json()
        assert shown["appeals"][0]["reason"] == APPEAL_REASON
        assert shown["appeals"][0]["files"][0]["filename"] == "surat_pensiun.pdf"
        assert [(d["form_name"], d["decision"], d["notes"], d["message"]) for d in shown["decisions"]] == [
            ("appeal_review", "overturn", NOTE, MESSAGE)
        ]
    assert approval.form_name == "approval"

    out = current_app.test_cli_runner().invoke(args=["case", "show", number], catch_exceptions=False).output
    assert APPEAL_REASON in out and "surat_pensiun.pdf" in out and NOTE in out

    # The applicant sees the message written for them, never the note.
    shown = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert OTHER_CASE not in shown


def test_approval_after_review_shows_the_reviewers_decision(svc, personas, officer_logins):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    work(
        svc,
        number,
        "review",
        _officer(officer_logins["caseworker"]),
        {"review_decision": "approve", "review_notes": NOTE},
    )
    _claim(svc, number, "approve", officer_logins["supervisor"])
    with fresh_client() as supervisor:
        officer_login(supervisor, officer_logins["supervisor"])
        panel = _panel(supervisor.get(f"/cases/{number}").get_data(as_text=True))
    assert "Keputusan sebelumnya pada kasus ini" in panel and "Setujui" in panel and NOTE in panel
    assert officer_logins["caseworker"] in panel


def test_appeal_upheld_reasons_reach_the_applicant_as_codes(svc, personas, officers, portal):
    nik = personas["high_wage"]
    number = submit(svc, nik).case_number
    file_appeal(svc.engine, number, {"reason": "The wage on record belongs to a job I lost in May."})
    db.session.commit()
    app = work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {"appeal_outcome": "uphold", "appeal_reason_codes": ["APPEAL_EVIDENCE_INSUFFICIENT"], "appeal_notes": NOTE},
    )
    assert app.status == "CLOSED_REJECTED"
    sent = _outbox_text(nik)
    assert "decision_appeal_upheld" in sent and "APPEAL_EVIDENCE_INSUFFICIENT" in sent and OTHER_CASE not in sent
    sign_in_applicant(portal, nik)
    shown = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "Bukti yang dikirim tidak menunjukkan bahwa alasan keputusan sudah tidak berlaku." in shown
    assert OTHER_CASE not in shown


def test_removal_approval_shows_the_review_and_the_family_reads_the_message_only(
    svc, personas, officers, officer_logins, portal, dtsen_update
):
    app = _enrol(svc, personas, officers)
    dtsen_update(app.kk_number, 8)
    recheck_enrolment(svc.engine, app.case_number)
    db.session.commit()
    number = app.case_number
    work(
        svc,
        number,
        "removal_review",
        _officer(officer_logins["caseworker"]),
        {"removal_decision": "remove", "removal_message": MESSAGE, "removal_notes": NOTE},
    )
    _claim(svc, number, "approve_removal", officer_logins["supervisor"])
    with fresh_client() as supervisor:
        officer_login(supervisor, officer_logins["supervisor"])
        panel = _panel(supervisor.get(f"/cases/{number}").get_data(as_text=True))
    assert "Hapus dari program" in panel and NOTE in panel and MESSAGE in panel
    assert officer_logins["caseworker"] in panel
    app = work(svc, number, "approve_removal", _officer(officer_logins["supervisor"]), {"approval_decision": "approve"})
    assert app.status == "REMOVED"
    sign_in_applicant(portal, app.nik)
    shown = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert MESSAGE in shown and OTHER_CASE not in shown and "Budi Santoso" not in shown
    assert MESSAGE in _outbox_text(app.nik) and OTHER_CASE not in _outbox_text(app.nik)


def test_could_not_decide_explains_the_wait_but_is_never_a_reason_for_the_decision(
    svc, personas, officer_logins, portal
):
    """While officers check the case the portal says what they verify; once an officer rejects it, only the
    decision's reasons are listed, never "perlu verifikasi petugas"."""
    nik = personas["not_in_dtsen"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)

    def reasons_section():
        page = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
        found = re.search(r'<section[^>]*aria-labelledby="reasons-title".*?</section>', page, re.S)
        return found.group(0) if found else ""

    assert "perlu verifikasi petugas" in reasons_section()
    work(
        svc,
        number,
        "review",
        _officer(officer_logins["caseworker"]),
        {"review_decision": "reject", "review_reason_codes": ["DECILE_ABOVE_CUTOFF"]},
    )
    assert case(number).status == "REJECTED"
    shown = reasons_section()
    assert "DTSEN" in shown and "perlu verifikasi petugas" not in shown
