"""Assisted registration by facilitators: own login, own districts only, consent with the applicant's name,
the photo on the facilitator's device, drafts kept at every step, and the list of people registered."""

from sqlalchemy import select

from cases.audit import AuditEntry
from cases.models import Application
from cases.operations import create_officer
from cases.portal.models import RegistrationDraft
from engine.db import db
from integrations.nik import mask_nik
from integrations.sandbox.tables import people
from tests.conftest import faces_or_skip
from tests.helpers import submit
from tests.integration.portal_helpers import (  # noqa: F401  (fixtures)
    PASSWORD,
    FreshContextClient,
    officer_login,
    other_photo_of,
    portal,
    post_form,
    post_photo,
)


def facilitator(name, regions):
    create_officer(db.session, name, name.title(), ["facilitator"], regions, password=PASSWORD)
    db.session.commit()


def registry_name(nik):
    return db.session.execute(select(people.c.name).where(people.c.nik == nik)).scalar_one()


def start(client, nik):
    return post_form(client, "/assist/start", {"nik": nik}, page="/assist/")


def test_assisted_registration_from_consent_to_the_list_of_people_registered(portal, svc, population):
    faces = faces_or_skip()
    nik = population["personas"]["eligible_head_with_photo"]
    facilitator("fac_home", [nik[4:6]])
    assert officer_login(portal, "fac_home").headers["Location"].endswith("/assist/")
    started = start(portal, nik)
    assert started.status_code == 302
    step = started.headers["Location"]
    assert step.endswith("/consent") and nik not in step
    wrong = post_form(portal, step, {"agree": "yes", "applicant_name": "Someone Else"})
    html = wrong.get_data(as_text=True)
    assert wrong.status_code == 422 and "Nama tidak cocok dengan data Dukcapil" in html
    assert 'aria-describedby="applicant_name-help applicant_name-err"' in html
    name = registry_name(nik)
    assert post_form(portal, step, {"agree": "yes", "applicant_name": f"  {name.upper()} "}).status_code == 302
    base = step.rsplit("/", 1)[0]
    assert post_form(portal, f"{base}/household", {"confirmed": "yes"}).status_code == 302
    assert post_form(portal, f"{base}/payment", {"payment_channel": "POS"}).status_code == 302
    photo_page = portal.get(f"{base}/photo").get_data(as_text=True)
    assert "htmx" not in photo_page and len(photo_page) < 20_000  # a small page for a slow connection
    selfie = other_photo_of(faces, population["photo_holders"][nik]).read_bytes()
    assert post_photo(portal, f"{base}/photo", selfie).status_code == 302
    review = portal.get(f"{base}/review").get_data(as_text=True)
    assert "diterima (satu wajah, tajam)" in review and name.upper() in review.upper()
    sent = post_form(portal, f"{base}/submit", {}, page=f"{base}/review")
    assert "/assist/?registered=TPT-" in sent.headers["Location"]
    db.session.expire_all()
    app = db.session.execute(select(Application).where(Application.nik == nik)).scalar_one()
    assert app.channel == "facilitator" and app.facilitator == "fac_home" and app.consent_version == "2026-01"
    assert app.payment_channel == "POS" and app.selfie_ref
    listing = portal.get("/assist/").get_data(as_text=True)
    assert app.case_number in listing and nik not in listing and mask_nik(nik) in listing
    assert "Terdaftar: " in listing  # the flash with the case number and status
    # The confirmation offers the receipt to print or share (tests/integration/test_papers.py reads it).
    confirmed = portal.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'id="receipt-card"' in confirmed and f"/assist/cases/{app.case_number}/receipt.pdf" in confirmed


def test_a_facilitator_outside_their_district_is_refused_and_audited(portal, svc, personas):
    nik = personas["civil_servant"]
    other = "01" if nik[4:6] != "01" else "02"
    facilitator("fac_far", [other])
    officer_login(portal, "fac_far")
    refused = start(portal, nik)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 403 and f"kecamatan {nik[4:6]}" in html and 'aria-describedby="nik-err"' in html
    db.session.expire_all()
    assert db.session.execute(select(RegistrationDraft)).first() is None
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "assist.outside_region")).scalar_one()
    assert entry.actor == "fac_far" and entry.target_id == mask_nik(nik)


def test_malformed_nik_and_a_person_with_an_open_case(portal, svc, personas):
    facilitator("fac_all", None)
    officer_login(portal, "fac_all")
    malformed = start(portal, "35101420117800")
    assert malformed.status_code == 422 and "NIK tidak valid" in malformed.get_data(as_text=True)
    number = submit(svc, personas["high_wage"]).case_number
    again = start(portal, personas["high_wage"])
    assert again.status_code == 409 and number in again.get_data(as_text=True)


def test_the_draft_survives_a_dropped_connection_and_is_only_the_facilitators(portal, svc, personas, app):
    nik = personas["civil_servant"]
    facilitator("fac_one", None)
    facilitator("fac_two", None)
    officer_login(portal, "fac_one")
    step = start(portal, nik).headers["Location"]
    base = step.rsplit("/", 1)[0]
    post_form(portal, step, {"agree": "yes", "applicant_name": registry_name(nik)})
    post_form(portal, f"{base}/household", {"confirmed": "yes", "phone": "081299990000"})
    # The connection drops; later, on another device, the facilitator signs in again.
    app.test_client_class = FreshContextClient
    later = app.test_client()
    officer_login(later, "fac_one")
    listing = later.get("/assist/").get_data(as_text=True)
    assert "2 dari 5 langkah selesai" in listing and base.split("/")[-1] in listing
    assert later.get(f"{base}/review").headers["Location"].endswith("/payment")
    assert 'value="081299990000"' in later.get(f"{base}/household").get_data(as_text=True)
    # Another facilitator cannot open it by its address.
    thief = app.test_client()
    officer_login(thief, "fac_two")
    assert thief.get(f"{base}/consent").status_code == 404
    assert thief.get(f"{base}/review").status_code == 404
    assert post_form(thief, f"{base}/discard", {}, page="/assist/").status_code == 404
    db.session.expire_all()
    assert db.session.execute(select(RegistrationDraft.steps)).scalar_one() == ["consent", "household"]
