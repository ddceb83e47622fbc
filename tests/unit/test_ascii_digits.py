"""Fields that must be digits take 0-9 only: Arabic-Indic, full-width and other Unicode digits are refused."""

import pytest
from marshmallow import ValidationError

from forms.application import ApplicationSubmissionSchema
from forms.portal import HouseholdStepSchema, PaymentStepSchema
from integrations.digits import ascii_digits_in, has_other_digits, is_ascii_digits
from integrations.parsing import _DIGITS16  # the registries' NIK/KK check

ARABIC_INDIC = "١٢٣٤٥٦٧٨٩٠"  # U+0661..U+0660
EXTENDED_ARABIC = "۱۲۳۴۵۶۷۸۹۰"  # U+06F1.. (Persian/Urdu)
FULL_WIDTH = "１２３４５６７８９０"  # U+FF11..
DEVANAGARI = "१२३४५६७८९०"
OTHER = [ARABIC_INDIC, EXTENDED_ARABIC, FULL_WIDTH, DEVANAGARI, "12345١٢٣٤٥", "1234567890\n"]
NIK = "3510241209810001"


@pytest.mark.parametrize("value", OTHER)
def test_python_would_take_these_as_digits_but_we_do_not(value):
    assert value.strip().isdigit()  # why str.isdigit() / \d were not enough
    assert not is_ascii_digits(value)


@pytest.mark.parametrize("value", OTHER)
def test_bank_account_and_phone_refuse_other_digits(value):
    payload = {"nik": NIK, "consent": True, "bank_account": value}
    assert "bank_account" in ApplicationSubmissionSchema().validate(payload)
    payload = {"nik": NIK, "consent": True, "bank_account": "1234567890", "phone": value}
    assert "phone" in ApplicationSubmissionSchema().validate(payload)
    assert "phone" in ApplicationSubmissionSchema().validate({**payload, "phone": "+" + value})
    assert "bank_account" in PaymentStepSchema().validate({"payment_channel": "BRI", "bank_account": value})
    assert "phone" in HouseholdStepSchema().validate({"confirmed": True, "phone": value})


def test_ascii_numbers_are_accepted():
    assert (
        ApplicationSubmissionSchema().validate(
            {"nik": NIK, "consent": True, "bank_account": "0012345678", "phone": "+6281234567890"}
        )
        == {}
    )
    assert PaymentStepSchema().validate({"payment_channel": "BRI", "bank_account": "1234567890"}) == {}
    assert HouseholdStepSchema().validate({"confirmed": True, "phone": "081234567890"}) == {}


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULL_WIDTH])
def test_nik_and_kk_refuse_other_digits(digits):
    nik = NIK[:6] + (digits * 2)[:10]
    assert "nik" in ApplicationSubmissionSchema().validate({"nik": nik, "consent": True, "bank_account": "123456"})
    with pytest.raises(ValidationError):
        _DIGITS16(nik)


def test_helpers():
    assert is_ascii_digits("0123456789") and not is_ascii_digits("") and not is_ascii_digits(None)
    assert is_ascii_digits("12", 2, 2) and not is_ascii_digits("123", 2, 2)
    assert has_other_digits("12٣") and not has_other_digits("12a")
    assert ascii_digits_in("12 34-٥٦") == "1234"
