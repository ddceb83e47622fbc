"""My case: status in plain language, reasons from the explanation, benefits, messages; and isolation:
an applicant never sees another's case, files or drafts."""

from html import unescape as html_text

from sqlalchemy import select

from cases.audit import AuditEntry
from cases.models import Application
from cases.portal.files import attach_evidence
from engine.db import db
from tests.conftest import faces_or_skip
from tests.helpers import case, submit
from tests.integration.portal_helpers import other_photo_of, portal, post_form, post_multipart, sign_in_applicant  # noqa: F401  (fixtures)
from web.portal.wiring import portal_services

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def audit_actions():
    db.session.expire_all()
    return [(e.action, e.target_id) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_a_rejected_case_in_plain_language_with_every_reason_and_the_appeal_deadline(portal, svc, personas):
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    app = case(number)
    assert app.status == "REJECTED"
    sign_in_applicant(portal, nik)
    home = portal.get("/portal/home").get_data(as_text=True)
    assert number in home and "Tidak disetujui" in home
    page = portal.get(f"/portal/cases/{number}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Tidak disetujui" in html
    for reason in app.reasons:
        assert reason["id"] in html
    failed = [e for e in app.explanation if e["outcome"] == "fail"]
    assert failed and all(e["text_id"] in html for e in failed)
    assert f"Tampilkan semua {len(app.explanation)} pemeriksaan" in html
    assert "Anda dapat mengajukan banding sampai" in html and f"/portal/cases/{number}/appeal" in html
    assert "Permohonan dikirim" in html  # the timeline
    assert nik not in html
    assert ("case.view", number) in audit_actions()
    portal.get("/lang/en")
    english = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "Not approved" in english and all(r["en"] in html_text(english) for r in app.reasons)
    assert "You can appeal until" in english


def test_portal_messages_and_sms_come_through_the_notifier(portal, svc, personas):
    from integrations.sandbox.tables import outbox

    nik = personas["high_wage"]
    number = submit(svc, nik).case_number
    channels = (
        db.session.execute(
            select(outbox.c.channel).where(outbox.c.recipient_nik == nik, outbox.c.template == "decision_rejected")
        )
        .scalars()
        .all()
    )
    assert sorted(channels) == ["PORTAL", "SMS"]
    sign_in_applicant(portal, nik)
    html = portal.get("/portal/messages").get_data(as_text=True)
    assert f"Permohonan Anda {number} tidak disetujui" in html
    assert "signin_code" not in html and "kode" not in html.lower().split("</nav>")[-1]


def test_an_enrolled_case_shows_its_benefits_in_rupiah(portal, svc, population):
    faces = faces_or_skip()
    nik = population["personas"]["eligible_head_with_photo"]
    selfie = other_photo_of(faces, population["photo_holders"][nik]).read_bytes()
    number = submit(svc, nik, selfie=selfie).case_number
    app = case(number)
    assert app.status == "ENROLLED"
    sign_in_applicant(portal, nik)
    html = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "Disetujui: keluarga Anda menerima bantuan" in html
    total = app.benefits["annual_cash_total"]
    assert f"Rp {total:,}".replace(",", ".") in html
    assert f"Permohonan Anda {number} disetujui." in portal.get("/portal/messages").get_data(as_text=True)
    portal.get("/lang/en")
    assert f"Rp {total:,}" in portal.get(f"/portal/cases/{number}").get_data(as_text=True)


def test_an_applicant_never_sees_another_applicants_case_files_or_draft(portal, svc, personas, app):
    mine, theirs = personas["civil_servant"], personas["high_wage"]
    my_number = submit(svc, mine).case_number
    their_number = submit(svc, theirs).case_number
    their_case = case(their_number)
    their_file = attach_evidence(
        db.session, portal_services().evidence, their_case, "letter.pdf", PDF, f"applicant:{theirs}", 5 * 1024 * 1024, 5
    )
    db.session.commit()
    # The other applicant has a draft with a photo, too.
    from tests.integration.portal_helpers import FreshContextClient

    app.test_client_class = FreshContextClient
    other = app.test_client()
    sign_in_applicant(other, personas["rich_decile"])
    other.get("/portal/apply")

    sign_in_applicant(portal, mine)
    assert portal.get(f"/portal/cases/{my_number}").status_code == 200
    for path in (
        f"/portal/cases/{their_number}",
        f"/portal/cases/{their_number}/appeal",
        f"/portal/cases/{their_number}/files/{their_file.key}",
        f"/portal/cases/{my_number}/files/{their_file.key}",
        "/portal/cases/TPT-2026-9999999",
        "/portal/cases/1",
        f"/portal/cases/{their_case.id}",
    ):
        assert portal.get(path).status_code == 404, path
    sent = post_multipart(
        portal,
        f"/portal/cases/{their_number}/appeal",
        {"reason": "Not my case but let me try."},
        [],
        page=f"/portal/cases/{my_number}",
    )
    assert sent.status_code == 404
    # Guessing the next case number is no better than any other.
    guessed = f"TPT-2026-{their_case.id + 1:07d}"
    assert portal.get(f"/portal/cases/{guessed}").status_code == 404
    # Drafts are found by the signed-in NIK only: nothing in a URL names another person's draft.
    assert portal.get("/portal/apply/selfie").status_code == 404
    refused = [t for a, t in audit_actions() if a == "case.view_refused"]
    assert their_number in refused
    db.session.expire_all()
    assert (
        db.session.execute(select(Application.status).where(Application.case_number == their_number)).scalar_one()
        == "REJECTED"
    )
