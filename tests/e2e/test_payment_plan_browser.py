"""A newly enrolled family sees when its first payment comes (the cycle that pays it), on a 360 px phone, and the
caseworker sees the same on the case page; a first stage paid at enrolment by the older path stays visible."""

import os
from datetime import date
from pathlib import Path

from cases.operations import create_officer
from engine.db import db
from tests.helpers import submit
from tests.integration.test_enrolment_plan import _enrol_with_plan

from .conftest import PASSWORD, axe_violations, sign_in, watch
from .test_portal_journey import portal_sign_in

SHOTS = Path(os.environ.get("TEPAT_SCREENSHOTS", "/tmp/tepat_shots"))


def test_the_family_and_the_caseworker_see_the_expected_first_payment(live, browser, svc, personas):
    SHOTS.mkdir(parents=True, exist_ok=True)
    create_officer(db.session, "cw1", "Sari", ["caseworker"], None, password=PASSWORD)
    db.session.commit()
    nik = personas["eligible_head_without_photo"]
    number = submit(svc, nik).case_number
    _enrol_with_plan(number, date.today())

    phone = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    problems = watch(phone)
    portal_sign_in(phone, live, nik)
    phone.goto(f"{live}/portal/cases/{number}")
    expected = phone.locator('.expected-payment[data-cycle="PKH-TEST-T1"]')
    text = expected.inner_text()
    assert "Pembayaran PKH pertama Anda ikut tahap PKH-TEST-T1" in text and "Rp" in text and "450.000" in text
    assert "Oktober 2026" in text and "Desember 2026" in text
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    phone.locator("section", has_text="Bantuan Anda").first.screenshot(
        path=str(SHOTS / "portal-expected-payment-360.png")
    )
    assert axe_violations(phone, live) == []

    officer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    problems += watch(officer)
    sign_in(officer, live, "cw1")
    officer.goto(f"{live}/cases/{number}")
    history = officer.locator("section", has_text="Riwayat pembayaran")
    assert "Perkiraan pembayaran pertama: PKH, tahap PKH-TEST-T1" in history.inner_text()
    history.screenshot(path=str(SHOTS / "case-expected-payment.png"))

    # The older path: the first stage paid at enrolment is in both histories.
    from sqlalchemy import select

    from cases.models import Application, Enrolment

    app = db.session.execute(select(Application).where(Application.case_number == number)).scalar_one()
    enrolment = db.session.execute(select(Enrolment).where(Enrolment.application_id == app.id)).scalar_one()
    enrolment.payment_plan, enrolment.disbursement_ref = None, f"{number}-T1"
    db.session.commit()
    officer.goto(f"{live}/cases/{number}")
    history = officer.locator("section", has_text="Riwayat pembayaran")
    assert "Saat pendaftaran" in history.inner_text() and f"{number}-T1" in history.inner_text()
    history.screenshot(path=str(SHOTS / "case-paid-at-enrolment.png"))
    phone.goto(f"{live}/portal/cases/{number}")
    payments = phone.locator("section", has_text="Pembayaran Anda")
    assert "tahap pertama, dibayar saat pendaftaran" in payments.inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    payments.screenshot(path=str(SHOTS / "portal-paid-at-enrolment-360.png"))
    assert axe_violations(phone, live) == []
    assert problems == [], problems
