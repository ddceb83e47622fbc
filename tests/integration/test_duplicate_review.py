"""The duplicate-face review panel: the same person's photos under two NIKs (real face matching), the
other case as the officer may see it, both selfies with the distance, audited; never in the portal."""

import html

import pytest
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.duplicates import latest_dedup
from cases.operations import create_officer
from engine.db import db
from integrations.nik import mask_nik
from tests.conftest import faces_or_skip
from tests.helpers import case, fresh_client, submit
from tests.integration.portal_helpers import portal, sign_in_applicant  # noqa: F401  (fixture)
from tests.integration.test_web import PASSWORD, login

OFFICER_WORDING = "Wajah mirip dengan pemohon lain"


@pytest.fixture
def same_face_twice(svc, population):
    """Two applications, two NIKs, one face: the second is flagged DUPLICATE_FACE_SUSPECTED."""
    faces = faces_or_skip()
    holder = next(nik for nik, photo in population["photo_holders"].items() if photo == "obama.jpg")
    first = case(submit(svc, holder, selfie=(faces / "obama2.jpg").read_bytes()).case_number)
    other = population["personas"]["eligible_head_without_photo"]
    second = case(submit(svc, other, selfie=(faces / "obama3.jpg").read_bytes()).case_number)
    assert "DUPLICATE_FACE_SUSPECTED" in second.review_flags and second.status == "IN_REVIEW"
    return first, second


def views_of(number):
    db.session.expire_all()
    return db.session.scalars(select(AuditEntry).where(AuditEntry.target_id == number)).all()


def test_the_panel_shows_the_other_case_both_selfies_and_the_distance(same_face_twice):
    first, second = same_face_twice
    create_officer(db.session, "d_cw", "Dup Caseworker", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        login(client, "d_cw")
        html = client.get(f"/cases/{second.case_number}").get_data(as_text=True)
        panel = html.split("data-duplicate-review", 1)[1].split("</section>", 1)[0]
        assert f'href="/cases/{first.case_number}"' in panel
        assert first.applicant_name and first.applicant_name in panel
        masked = mask_nik(first.nik)
        assert masked in panel and first.nik not in html
        assert first.status == "ENROLLED" and "Terdaftar sebagai penerima" in panel  # the status, in words
        assert f"/cases/{second.case_number}/photos/selfie" in panel
        assert f"/cases/{first.case_number}/photos/selfie" in panel
        [match] = latest_dedup(db.session, second)["suspected_duplicates"]
        distance = f"{match['distance']:.4f}".replace(".", ",")  # Indonesian decimals
        assert f"<strong data-distance>{distance}</strong>" in panel and "0,50" in panel  # and the threshold
        # The reason is worded for officers and names the other case.
        reasons = html.split("Keputusan dan alasan", 1)[1].split("</ul>", 1)[0]
        assert f"{OFFICER_WORDING}: {first.case_number}" in reasons
        assert "Wajah yang sama ditemukan" not in reasons
        # Both selfies are served to the caseworker (each view audited by the photo route).
        for number in (second.case_number, first.case_number):
            photo = client.get(f"/cases/{number}/photos/selfie")
            assert photo.status_code == 200 and photo.mimetype.startswith("image/")
    # Seeing the other case's name, NIK and status through the panel is a view of that case.
    seen = [(e.actor, e.action, (e.detail or {}).get("via")) for e in views_of(first.case_number)]
    assert ("d_cw", "case.view", "duplicate_review") in seen and ("d_cw", "photo.view", None) in seen


def test_another_districts_case_is_shown_without_its_personal_data(same_face_twice):
    first, second = same_face_twice
    if first.district_code == second.district_code:  # put the first case in a district the officer lacks
        first.district_code = "99" if second.district_code != "99" else "98"
        db.session.commit()
    create_officer(db.session, "d_near", "Near Caseworker", ["caseworker"], [second.district_code], password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        login(client, "d_near")
        html = client.get(f"/cases/{second.case_number}").get_data(as_text=True)
        panel = html.split("data-duplicate-review", 1)[1].split("</section>", 1)[0]
        assert 'data-duplicate="hidden"' in panel and "data-distance" in panel
        assert f'href="/cases/{first.case_number}"' not in panel
        assert first.applicant_name not in html and "col-sm-8 nik" not in panel and first.case_number in panel
        assert f"/cases/{first.case_number}/photos" not in html
        assert client.get(f"/cases/{first.case_number}/photos/selfie").status_code == 404
    assert "case.view" not in [e.action for e in views_of(first.case_number) if e.actor == "d_near"]


def test_the_applicant_never_sees_the_other_case(same_face_twice, portal):  # noqa: F811
    first, second = same_face_twice
    sign_in_applicant(portal, second.nik)
    pages = [portal.get("/portal/home"), portal.get(f"/portal/cases/{second.case_number}")]
    assert all(p.status_code == 200 for p in pages)
    for page in pages:
        html = page.get_data(as_text=True)
        assert first.case_number not in html and first.applicant_name not in html
        assert OFFICER_WORDING not in html and "Bandingkan kedua swafoto" not in html
    assert "Wajah yang sama ditemukan" in pages[1].get_data(as_text=True)  # the applicant's own wording


def test_a_face_search_stored_with_the_old_nik_mask_shows_todays_mask(svc, personas):
    """Face-search answers store each other case's NIK masked, never the NIK; answers stored before the
    mask changed hold the old format (3510********0001). Every display masks again from the other
    case's NIK; a case that cannot be found keeps its stored mask. The stored answer is not changed."""
    from datetime import UTC, datetime

    from cases.models import EvidenceRecord
    from cases.queries import case_records

    first = case(submit(svc, personas["not_in_dtsen"]).case_number)
    second = case(submit(svc, personas["eligible_head_without_photo"]).case_number)
    old_mask = first.nik[:4] + "*" * 8 + first.nik[-4:]
    stored = {
        "outcome": "suspected",
        "threshold": 0.5,
        "suspected_duplicates": [
            {"case_number": first.case_number, "nik_masked": old_mask, "distance": 0.31},
            {"case_number": "TPT-2020-0999999", "nik_masked": "3510********0009", "distance": 0.42},
        ],
    }
    db.session.add(
        EvidenceRecord(
            application_id=second.id,
            source="face_index",
            operator="biometric.deduplicate",
            checked_at=datetime.now(UTC),
            value=stored,
        )
    )
    db.session.commit()
    new_mask = mask_nik(first.nik)
    assert new_mask != old_mask and "·" in new_mask
    create_officer(db.session, "d_mask", "Mask Reader", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        login(client, "d_mask")
        page = html.unescape(client.get(f"/cases/{second.case_number}").get_data(as_text=True))
    assert f"{first.case_number} ({new_mask})" in page  # the readable card
    assert f'"nik_masked": "{new_mask}"' in page  # the raw answer for specialists
    assert old_mask not in page and first.nik not in page
    assert "3510********0009" in page  # no case to mask from: the stored mask stays
    # The API's case detail (and the CLI) read the same records.
    shown = next(
        e.value for e in case_records(db.session, case(second.case_number)).evidence if e.source == "face_index"
    )
    assert [d["nik_masked"] for d in shown["suspected_duplicates"]] == [new_mask, "3510********0009"]
    db.session.expire_all()
    row = db.session.scalars(select(EvidenceRecord).where(EvidenceRecord.source == "face_index")).one()
    assert row.value == stored  # the stored evidence is as it was


def test_the_evidence_card_of_another_districts_duplicate_names_no_nik(same_face_twice):
    """The face-search answer on the case page and in the API names the other case's masked NIK only to
    an officer of its district (as the panel does); to others only its case number, "another district"."""
    from cases.queries import case_records
    from engine.core import Actor

    first, second = same_face_twice
    if first.district_code == second.district_code:
        first.district_code = "99" if second.district_code != "99" else "98"
        db.session.commit()
    masked = mask_nik(first.nik)
    create_officer(db.session, "d_card", "Card Reader", ["caseworker"], [second.district_code], password=PASSWORD)
    create_officer(db.session, "d_all", "All Districts", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        login(client, "d_card")
        page = html.unescape(client.get(f"/cases/{second.case_number}").get_data(as_text=True))
    assert masked not in page and first.nik not in page
    assert f"{first.case_number} (kecamatan lain)" in page
    with fresh_client() as client:
        login(client, "d_all")
        page = html.unescape(client.get(f"/cases/{second.case_number}").get_data(as_text=True))
    assert f"{first.case_number} ({masked})" in page
    # The API's case detail reads the records as its caller may see them.
    near = Actor("d_card", frozenset({"caseworker"}), frozenset({second.district_code}))
    [found] = [e.value for e in case_records(db.session, second, near).evidence if e.source == "face_index"]
    assert found["suspected_duplicates"][0]["nik_masked"] is None and found["suspected_duplicates"][0]["elsewhere"]
