"""Numbers typed in other digits (Arabic-Indic, full-width) are refused with a clear message everywhere."""

import pytest
from sqlalchemy import func, select

from cases.models import Application
from engine.db import db
from tests.integration.portal_helpers import birth_date_of, csrf_of, latest_code, portal, post_form, sign_in_applicant  # noqa: F401  (fixture)

ARABIC_INDIC = "٠٨١٢٣٤٥٦٧٨٩٠"
FULL_WIDTH = "０８１２３４５６７８９０"


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULL_WIDTH])
def test_portal_refuses_an_account_and_a_phone_in_other_digits(portal, svc, personas, digits):
    sign_in_applicant(portal, personas["eligible_head_without_photo"])
    assert portal.get("/portal/apply").status_code == 302
    assert post_form(portal, "/portal/apply/consent", {"agree": "yes"}).status_code == 302
    phone = post_form(portal, "/portal/apply/household", {"confirmed": "yes", "phone": digits})
    assert phone.status_code == 422
    assert "Ketik nomornya hanya dengan angka 0 sampai 9." in phone.get_data(as_text=True)
    kept = post_form(portal, "/portal/apply/household", {"confirmed": "yes", "phone": "081234567890"})
    assert kept.status_code == 302
    account = post_form(portal, "/portal/apply/payment", {"payment_channel": "BRI", "bank_account": digits})
    assert account.status_code == 422
    assert "Ketik nomornya hanya dengan angka 0 sampai 9." in account.get_data(as_text=True)
    portal.get("/lang/en")
    account = post_form(portal, "/portal/apply/payment", {"payment_channel": "BRI", "bank_account": digits})
    assert account.status_code == 422 and "Type the number with the digits 0 to 9 only." in account.get_data(
        as_text=True
    )


def test_command_line_refuses_an_account_in_other_digits(app, svc, personas):
    result = app.test_cli_runner().invoke(
        args=["submit", "--nik", personas["eligible_head_without_photo"], "--account", ARABIC_INDIC]
    )
    assert result.exit_code == 2, result.output
    assert db.session.scalar(select(func.count()).select_from(Application)) == 0


def test_digital_id_refuses_a_nik_and_a_code_in_other_digits(portal, svc, personas):
    nik = personas["civil_servant"]
    arabic_nik = nik.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    response = portal.get("/portal/signin")
    page = portal.get(response.headers["Location"])
    refused = portal.post(
        "/idp/authorize",
        data={"nik": arabic_nik, "birth_date": birth_date_of(nik), "csrf_token": csrf_of(page.get_data(as_text=True))},
    )
    assert refused.status_code == 400
    page = portal.get(response.headers["Location"])
    sent = portal.post(
        "/idp/authorize",
        data={"nik": nik, "birth_date": birth_date_of(nik), "csrf_token": csrf_of(page.get_data(as_text=True))},
    )
    assert sent.status_code == 302
    code = latest_code(nik)
    page = portal.get("/idp/verify")
    wrong = portal.post(
        "/idp/verify",
        data={
            "code": code.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            "csrf_token": csrf_of(page.get_data(as_text=True)),
        },
    )
    assert wrong.status_code != 302  # full-width digits are not the code
    page = portal.get("/idp/verify")
    right = portal.post("/idp/verify", data={"code": code, "csrf_token": csrf_of(page.get_data(as_text=True))})
    assert right.status_code == 302 and "/portal/callback" in right.headers["Location"]
