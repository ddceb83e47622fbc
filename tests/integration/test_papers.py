"""Papers for applicants (web/papers.py): decision letters and registration receipts as PDF, with the
right facts, never an officer's internal note, only for the applicant's own case, the officers of its
district and the facilitator who registered the person; every download audited."""

import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.models import Application
from cases.operations import create_officer
from engine.db import db
from integrations.nik import mask_nik
from tests.helpers import case, fresh_client, submit, work
from tests.integration.portal_helpers import PASSWORD, officer_login, portal, sign_in_applicant  # noqa: F401  (fixtures)
from tests.integration.test_explanation import dtsen_update  # noqa: F401  (fixture)

COVERED_ENDPOINTS = {
    "portal.letter",
    "portal.receipt",
    "papers.letter_for_officer",
    "papers.receipt_for_officer",
    "assist.receipt_of_registration",
}
DISTRICT_SCOPED_ENDPOINTS = {
    "papers.letter_for_officer",
    "papers.receipt_for_officer",
    "assist.receipt_of_registration",
}

NOTE = "Internal: neighbour says he works at the sugar mill"
MESSAGE = "Silakan perbarui data DTSEN di kantor desa."
REJECT = {
    "review_decision": "reject",
    "review_reason_codes": ["DECILE_ABOVE_CUTOFF", "OTHER"],
    "review_message": MESSAGE,
    "review_notes": NOTE,
}


def text_of(response):
    """The text of a PDF response (every page, whitespace made single)."""
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"] == "application/pdf" and response.data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.data))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def audit(action):
    db.session.expire_all()
    return [(e.actor, e.target_id) for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


def rejected_by_officer(svc, personas, officers):
    """A case an officer rejected with reason codes, a message for the applicant and an internal note."""
    number = submit(svc, personas["not_in_dtsen"]).case_number
    work(svc, number, "review", officers["cw1"], REJECT)
    if case(number).status == "AWAITING_APPROVAL":
        work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    assert case(number).status == "REJECTED"
    return number


def test_the_rejection_letter_has_the_reasons_the_message_and_the_appeal_deadline_never_the_note(
    portal, svc, personas, officers
):
    number = rejected_by_officer(svc, personas, officers)
    app = case(number)
    nik = app.nik
    sign_in_applicant(portal, nik)
    page = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert f"/portal/cases/{number}/letter.pdf" in page
    text = text_of(portal.get(f"/portal/cases/{number}/letter.pdf"))
    assert "SURAT KEPUTUSAN" in text and number in text and "tidak disetujui" in text
    assert (
        "Peringkat kesejahteraan (desil) keluarga di DTSEN berada di atas batas program." in text
    )  # the catalogue's text
    assert MESSAGE in text
    assert NOTE not in text and "sugar mill" not in text
    assert "Cara mengajukan banding" in text and "Anda dapat mengajukan banding sampai" in text
    assert nik not in text and mask_nik(nik) in text
    assert app.applicant_name in text
    assert (f"applicant:{mask_nik(nik)}", number) in audit("letter.download")
    # English when the reader chose English.
    portal.get("/lang/en")
    english = text_of(portal.get(f"/portal/cases/{number}/letter.pdf?download=1"))
    assert "DECISION LETTER" in english and "How to appeal" in english and "you may appeal until" in english
    assert "The household's welfare rank in DTSEN is above the programme's limit." in english
    assert NOTE not in english


def test_the_approval_letter_lists_programmes_and_amounts(portal, svc, personas, officers):
    number = submit(svc, personas["eligible_head_without_photo"]).case_number
    work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": NOTE})
    work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    app = case(number)
    assert app.status == "ENROLLED"
    sign_in_applicant(portal, app.nik)
    text = text_of(portal.get(f"/portal/cases/{number}/letter.pdf"))
    assert "Persetujuan" in text or "disetujui" in text
    total = app.benefits["annual_cash_total"]
    assert f"Rp {total:,}".replace(",", ".") in text
    for programme in app.programmes:
        assert programme in text
    assert NOTE not in text


def test_the_appeal_outcome_letter_has_the_officers_reasons_and_no_internal_note(portal, svc, personas, officers):
    from tests.integration.test_portal_appeal import appeal

    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    assert appeal(portal, number).status_code == 302
    work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {
            "appeal_outcome": "uphold",
            "appeal_reason_codes": ["APPEAL_REGISTRY_CONFIRMS"],
            "appeal_message": "Data BKN masih mencatat suami Anda sebagai ASN.",
            "appeal_notes": "The civil-service register confirms it.",
        },
    )
    text = text_of(portal.get(f"/portal/cases/{number}/letter.pdf"))
    assert "banding" in text.lower() and "tidak diterima" in text
    assert "Data resmi masih membenarkan alasan keputusan tersebut." in text
    assert "Data BKN masih mencatat suami Anda sebagai ASN." in text
    assert "The civil-service register confirms it." not in text
    assert "final" in text


def test_the_exit_letter_after_a_recheck_has_the_reasons_and_the_exit_appeal_deadline(
    portal, svc, personas, officers, dtsen_update
):  # noqa: F811
    from cases.operations import recheck_enrolment

    number = submit(svc, personas["eligible_family_with_children"]).case_number
    work(svc, number, "review", officers["cw1"], {"review_decision": "approve", "review_notes": "checked"})
    app = work(svc, number, "approve", officers["sup1"], {"approval_decision": "approve"})
    dtsen_update(app.kk_number, 9)
    recheck_enrolment(svc.engine, number)
    db.session.commit()
    work(svc, number, "removal_review", officers["cw2"], {"removal_decision": "remove", "removal_notes": NOTE})
    assert work(svc, number, "approve_removal", officers["sup2"], {"approval_decision": "approve"}).status == "REMOVED"
    sign_in_applicant(portal, app.nik)
    text = text_of(portal.get(f"/portal/cases/{number}/letter.pdf"))
    assert "pemeriksaan ulang berkala" in text and "keluar dari program" in text
    # the rule's text, the catalogue's (forms/reason_codes.py)
    assert "Alasan keputusan 1. Peringkat kesejahteraan (desil) keluarga di DTSEN berada di atas batas program." in text
    assert "Anda dapat mengajukan banding sampai" in text
    assert NOTE not in text


def test_which_letter_a_case_has():
    from types import SimpleNamespace as Row

    from web.papers import letter_kind

    uphold, overturn, pending = (Row(outcome=o) for o in ("uphold", "overturn", None))
    cases = [
        ("ENROLLED", [], "approved"),
        ("PAYMENT_REVIEW", [], "approved"),
        ("ENROLLED", [(overturn, None)], "appeal_accepted"),
        ("REJECTED", [], "rejected"),
        ("CLOSED_REJECTED", [], "rejected"),
        ("CLOSED_REJECTED", [(uphold, None)], "appeal_upheld"),
        ("REMOVED", [], "removed"),
        ("REMOVED", [(overturn, None), (uphold, None)], "appeal_upheld"),
        ("REMOVED", [(overturn, None), (pending, None)], "removed"),
        ("GRADUATED", [], "graduated"),
        ("APPEAL_REVIEW", [(pending, None)], None),
        ("SUBMITTED", [], None),
        ("IN_REVIEW", [], None),
    ]
    for status, appeals, expected in cases:
        assert letter_kind(Row(status=status), appeals) == expected, (status, expected)


def test_an_applicant_cannot_fetch_anothers_letter_or_receipt(portal, svc, personas):
    mine = submit(svc, personas["civil_servant"]).case_number
    theirs = submit(svc, personas["high_wage"]).case_number
    sign_in_applicant(portal, personas["civil_servant"])
    assert portal.get(f"/portal/cases/{mine}/letter.pdf").status_code == 200
    for path in (
        f"/portal/cases/{theirs}/letter.pdf",
        f"/portal/cases/{theirs}/receipt.pdf",
        "/portal/cases/TPT-2026-9999999/letter.pdf",
    ):
        assert portal.get(path).status_code == 404, path
    assert any(target == theirs for _actor, target in audit("case.view_refused"))
    # A self-registered case has no receipt; a case still being checked has no letter yet.
    assert portal.get(f"/portal/cases/{mine}/receipt.pdf").status_code == 404


def test_nobody_signed_in_is_sent_to_sign_in(portal, svc, personas):
    number = submit(svc, personas["civil_servant"]).case_number
    for path in (f"/portal/cases/{number}/letter.pdf", f"/portal/cases/{number}/receipt.pdf"):
        assert portal.get(path).status_code == 302
    for path in (f"/cases/{number}/letter.pdf", f"/cases/{number}/receipt.pdf", f"/assist/cases/{number}/receipt.pdf"):
        response = portal.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.fixture
def assisted(svc, personas):
    """A case registered by facilitator fac_home (its district)."""
    nik = personas["civil_servant"]
    create_officer(db.session, "fac_home", "Siti Fasilitator", ["facilitator"], [nik[4:6]], password=PASSWORD)
    db.session.commit()
    number = submit(svc, nik, channel="facilitator", facilitator_id="fac_home").case_number
    db.session.expire_all()
    app = db.session.execute(select(Application).where(Application.case_number == number)).scalar_one()
    assert app.channel == "facilitator" and app.facilitator == "fac_home"
    return number


def test_the_facilitator_prints_the_receipt_of_their_own_registration_only(portal, svc, personas, assisted):
    number = assisted
    home = case(number).district_code
    officer_login(portal, "fac_home")
    listing = portal.get("/assist/").get_data(as_text=True)
    assert f"/assist/cases/{number}/receipt.pdf" in listing
    text = text_of(portal.get(f"/assist/cases/{number}/receipt.pdf"))
    assert "TANDA TERIMA PENDAFTARAN" in text and number in text and "Siti Fasilitator" in text
    assert case(number).nik not in text
    assert ("fac_home", number) in audit("receipt.download")
    # Another facilitator of the same district did not register this person; one elsewhere neither.
    other = "01" if home != "01" else "02"
    create_officer(db.session, "fac_same", "Same District", ["facilitator"], [home], password=PASSWORD)
    create_officer(db.session, "fac_far", "Far", ["facilitator"], [other], password=PASSWORD)
    db.session.commit()
    for name in ("fac_same", "fac_far"):
        with fresh_client() as client:
            officer_login(client, name)
            assert client.get(f"/assist/cases/{number}/receipt.pdf").status_code == 404
            assert client.get(f"/cases/{number}/letter.pdf").status_code == 403  # not a case reader
    assert [t for _a, t in audit("receipt.refused")] == [number, number]
    # The applicant may fetch the receipt of their own case in the portal too.
    with fresh_client() as client:
        sign_in_applicant(client, case(number).nik)
        assert "TANDA TERIMA" in text_of(client.get(f"/portal/cases/{number}/receipt.pdf"))


def test_officers_of_the_district_print_letters_others_get_404(portal, svc, personas, officers, assisted):
    number = rejected_by_officer(svc, personas, officers)
    home = case(number).district_code
    other = "01" if home != "01" else "02"
    create_officer(db.session, "cw_home", "Home", ["caseworker"], [home], password=PASSWORD)
    create_officer(db.session, "cw_away", "Far", ["caseworker"], [other], password=PASSWORD)
    db.session.commit()
    officer_login(portal, "cw_home")
    text = text_of(portal.get(f"/cases/{number}/letter.pdf"))
    assert MESSAGE in text and NOTE not in text
    assert ("cw_home", number) in audit("letter.download")
    assert "TANDA TERIMA" in text_of(portal.get(f"/cases/{assisted}/receipt.pdf"))
    assert portal.get(f"/cases/{number}/receipt.pdf").status_code == 404  # self-registered: no receipt
    with fresh_client() as client:
        officer_login(client, "cw_away")
        assert client.get(f"/cases/{number}/letter.pdf").status_code == 404
        assert client.get(f"/cases/{number}/receipt.pdf").status_code == 404
    assert ("cw_away", number) in audit("case.view_refused")


def test_no_letter_before_a_decision(portal, svc, personas, officers):
    number = submit(svc, personas["not_in_dtsen"]).case_number
    assert case(number).status == "IN_REVIEW"
    sign_in_applicant(portal, case(number).nik)
    assert portal.get(f"/portal/cases/{number}/letter.pdf").status_code == 404
    page = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "letter.pdf" not in page


def _squeezed(text):
    """Extracted text without whitespace (and the NULs pypdf puts between CJK glyphs)."""
    return "".join(text.replace("\x00", "").split())


def test_odd_characters_in_a_message_still_print():
    from cases.paperpdf import Paper, Section, font_files, render

    assert {"regular", "bold", "cjk"} <= set(font_files())  # the Unicode fonts are installed (requirements.txt)
    data = render(
        Paper(
            issuer="X",
            title="T",
            subtitle="S",
            facts=[("a", "b")],
            sections=[
                Section(
                    "H", paragraphs=["“quoted” — 日本…"], bullets=["one"], rows=[("x", "Rp 1")], total=("t", "Rp 1")
                )
            ],
            footer="f",
        )
    )
    text = " ".join(PdfReader(io.BytesIO(data)).pages[0].extract_text().split())
    assert "“quoted”—日本…" in _squeezed(text) and "?" not in text and re.search(r"1\. one", text)


# Names and addresses outside Latin-1: a dotted consonant, typographic quotes and dash, Chinese, Arabic, emoji.
ODD_NAME = "Ṣiti “Aminah” — Nur 王小明 😀"
ODD_VILLAGE = "Kampung محمد"


def test_a_letter_and_a_receipt_print_names_outside_latin_1_as_written(portal, svc, personas, officers, assisted):
    def check(paper, text):
        text = _squeezed(text)
        assert _squeezed(ODD_NAME) in text, (paper, text)
        # Shaped right to left (HarfBuzz): the Arabic name is extracted in its own order.
        assert "Kampung" in text and "محمد" in text, (paper, text)
        assert "?" not in text, paper

    number = rejected_by_officer(svc, personas, officers)
    for n in (number, assisted):
        app = case(n)  # (reloads: each change is committed before the next)
        app.applicant_name, app.village = ODD_NAME, ODD_VILLAGE
        db.session.commit()
    sign_in_applicant(portal, case(number).nik)
    check("letter", text_of(portal.get(f"/portal/cases/{number}/letter.pdf")))
    with fresh_client() as facilitator:
        officer_login(facilitator, "fac_home")
        check("receipt", text_of(facilitator.get(f"/assist/cases/{assisted}/receipt.pdf")))
