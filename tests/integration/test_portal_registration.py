"""Registration in the portal: consent, family from the registry, payment, selfie with quality checks,
drafts kept on the server, one case for a double submit."""

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from cases.models import Application
from cases.portal.models import RegistrationDraft
from engine.db import db
from integrations.sandbox.tables import outbox
from tests.conftest import faces_or_skip
from tests.integration.portal_helpers import (  # noqa: F401  (fixtures)
    FreshContextClient,
    csrf_of,
    other_photo_of,
    portal,
    post_form,
    post_multipart,
    post_photo,
    register_self,
    sign_in_applicant,
    submit_registration,
)


def draft_of(nik):
    db.session.expire_all()
    return db.session.execute(select(RegistrationDraft).where(RegistrationDraft.nik == nik)).scalar_one_or_none()


def case_count(nik):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Application).where(Application.nik == nik))


def good_selfie(population, nik):
    faces = faces_or_skip()
    return other_photo_of(faces, population["photo_holders"][nik]).read_bytes()


def test_registration_step_by_step_with_errors_kept_and_a_draft_that_survives_a_closed_browser(
    portal, svc, population, app
):
    nik = population["personas"]["eligible_head_with_photo"]
    sign_in_applicant(portal, nik)
    start = portal.get("/portal/apply")
    assert start.headers["Location"].endswith("/portal/apply/consent")
    assert portal.get("/portal/apply/payment").headers["Location"].endswith("/portal/apply/consent")
    refused = post_form(portal, "/portal/apply/consent", {})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'aria-describedby="agree-err"' in html and "Centang kotak" in html
    assert "versi 2026-01" in html
    assert post_form(portal, "/portal/apply/consent", {"agree": "yes"}).status_code == 302
    household = portal.get("/portal/apply/household").get_data(as_text=True)
    assert "Kepala keluarga" in household and nik not in household  # from the registry, NIKs masked
    bad_phone = post_form(portal, "/portal/apply/household", {"confirmed": "yes", "phone": "12ab"})
    assert bad_phone.status_code == 422 and 'value="12ab"' in bad_phone.get_data(as_text=True)
    assert (
        post_form(portal, "/portal/apply/household", {"confirmed": "yes", "phone": "081234567890"}).status_code == 302
    )
    no_account = post_form(portal, "/portal/apply/payment", {"payment_channel": "BRI"})
    assert (
        no_account.status_code == 422
        and 'aria-describedby="bank_account-help bank_account-err"' in no_account.get_data(as_text=True)
    )
    assert (
        post_form(portal, "/portal/apply/payment", {"payment_channel": "BRI", "bank_account": "0012345678"}).status_code
        == 302
    )
    assert draft_of(nik).steps == ["consent", "household", "payment"]

    # The browser is closed: a new client, a new sign-in, and the draft continues at the photo.
    app.test_client_class = FreshContextClient
    again = app.test_client()
    sign_in_applicant(again, nik)
    assert again.get("/portal/apply").headers["Location"].endswith("/portal/apply/photo")
    payment = again.get("/portal/apply/payment").get_data(as_text=True)
    assert 'value="0012345678"' in payment
    response = post_photo(again, "/portal/apply/photo", good_selfie(population, nik))
    assert response.status_code == 302 and response.headers["Location"].endswith("/portal/apply/review")
    review = again.get("/portal/apply/review").get_data(as_text=True)
    assert "0012345678" in review and "versi teks 2026-01" in review
    assert again.get("/portal/apply/selfie").headers["Content-Type"] == "image/jpeg"
    sent = submit_registration(again)
    number = sent.headers["Location"].rsplit("/", 1)[1]
    db.session.expire_all()
    case = db.session.execute(select(Application).where(Application.case_number == number)).scalar_one()
    assert case.nik == nik and case.channel == "self" and case.consent_version == "2026-01"
    assert case.bank_account == "0012345678" and case.phone == "081234567890" and case.selfie_ref
    assert case.consent_at < case.created_at
    assert draft_of(nik) is None
    templates = db.session.execute(
        select(outbox.c.channel, outbox.c.template).where(outbox.c.recipient_nik == nik)
    ).all()
    assert ("SMS", "application_received") in templates and ("PORTAL", "application_received") in templates
    page = again.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "terkirim" in page.lower() or number in page
    # An open case: no second registration.
    assert again.get("/portal/apply").headers["Location"].endswith(f"/portal/cases/{number}")


def test_a_double_submit_makes_one_case(portal, svc, population):
    nik = population["personas"]["eligible_head_with_photo"]
    sign_in_applicant(portal, nik)
    register_self(portal, good_selfie(population, nik))
    review = portal.get("/portal/apply/review").get_data(as_text=True)
    token = csrf_of(review)
    first = portal.post("/portal/apply/submit", data={"csrf_token": token})
    second = portal.post("/portal/apply/submit", data={"csrf_token": token})  # the second click, or the other tab
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert case_count(nik) == 1
    assert "sudah" in portal.get(second.headers["Location"]).get_data(as_text=True).lower()


def test_two_submits_at_the_same_moment_make_one_case(portal, svc, population, app):
    import threading

    nik = population["personas"]["eligible_head_with_photo"]
    sign_in_applicant(portal, nik)
    register_self(portal, good_selfie(population, nik))
    token = csrf_of(portal.get("/portal/apply/review").get_data(as_text=True))
    cookie = portal.get_cookie("session").value
    clients = []
    for _ in range(2):
        client = app.test_client()
        client.set_cookie("session", cookie)
        clients.append(client)
    statuses = []
    threads = [
        threading.Thread(
            target=lambda c=c: statuses.append(c.post("/portal/apply/submit", data={"csrf_token": token}).status_code)
        )
        for c in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [302, 302]
    assert case_count(nik) == 1


def _png_without_a_face():
    out = io.BytesIO()
    Image.new("RGB", (400, 400), (180, 170, 160)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("kind", ["no_face", "two_faces", "huge", "not_an_image"])
def test_bad_photos_are_refused_at_once_with_the_reason_and_the_draft_kept(portal, svc, population, kind):
    faces = faces_or_skip()
    nik = population["personas"]["eligible_head_with_photo"]
    content, expected = {
        "no_face": (_png_without_a_face(), "Tidak ada wajah yang terlihat"),
        "two_faces": ((faces / "two_people.jpg").read_bytes(), "lebih dari satu wajah"),
        "huge": (b"\xff\xd8\xff" + b"\0" * (50 * 1024 * 1024), "terlalu besar (maksimal 10 MB)"),
        "not_an_image": (b"%PDF-1.4\n%%EOF\n", "Jenis berkas ini tidak diterima"),
    }[kind]
    sign_in_applicant(portal, nik)
    portal.get("/portal/apply")
    post_form(portal, "/portal/apply/consent", {"agree": "yes"})
    post_form(portal, "/portal/apply/household", {"confirmed": "yes"})
    post_form(portal, "/portal/apply/payment", {"payment_channel": "POS"})
    checked = post_photo(portal, "/portal/apply/photo/check", content, page="/portal/apply/photo")
    assert checked.status_code == 200 and checked.get_json()["ok"] is False
    assert expected in checked.get_json()["message"]
    refused = post_photo(portal, "/portal/apply/photo", content)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 422 and expected in html and 'id="selfie-err"' in html
    draft = draft_of(nik)
    assert draft.selfie_ref is None and draft.steps == ["consent", "household", "payment"]
    assert draft.data["payment_channel"] == "POS"
    good = post_photo(portal, "/portal/apply/photo/check", good_selfie(population, nik), page="/portal/apply/photo")
    assert good.get_json()["ok"] is True


def test_uploads_without_a_csrf_token_are_refused(portal, svc, population):
    nik = population["personas"]["eligible_head_with_photo"]
    sign_in_applicant(portal, nik)
    portal.get("/portal/apply")
    post_form(portal, "/portal/apply/consent", {"agree": "yes"})
    response = post_multipart(portal, "/portal/apply/photo/check", {}, [("selfie", "x.jpg", b"x")], page=False)
    assert response.status_code == 400


def test_the_registration_speaks_english_on_request(portal, svc, personas):
    sign_in_applicant(portal, personas["civil_servant"])
    portal.get("/lang/en")
    page = portal.get("/portal/apply", follow_redirects=True).get_data(as_text=True)
    assert "I agree to these look-ups and checks." in page and 'lang="en"' in page


def test_a_submit_that_lost_the_race_before_seeing_the_winner_lands_on_the_case(portal, svc, population, monkeypatch):
    import web.portal.apply as apply_views

    nik = population["personas"]["eligible_head_with_photo"]
    sign_in_applicant(portal, nik)
    register_self(portal, good_selfie(population, nik))
    real = apply_views.submit_draft

    def lost_race(engine, draft, actor):
        # The winner's case is committed, but this transaction's snapshot did not show it.
        real(engine, draft, actor)
        db.session.commit()
        return None, False

    monkeypatch.setattr(apply_views, "submit_draft", lost_race)
    sent = submit_registration(portal)
    number = db.session.execute(select(Application.case_number).where(Application.nik == nik)).scalar_one()
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"/portal/cases/{number}")
