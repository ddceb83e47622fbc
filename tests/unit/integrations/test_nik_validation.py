from datetime import date

import pytest

from integrations.base import NikInvalid, mask_nik, nik_birth_date_and_sex, validate_nik


@pytest.mark.parametrize(
    "nik, born, sex",
    [
        ("3510011708450001", date(1945, 8, 17), "M"),
        ("3510255708450002", date(1945, 8, 17), "F"),
        ("3510224101000001", date(2000, 1, 1), "F"),
        ("3171011708450001", date(1945, 8, 17), "M"),  # Jakarta: other regions are accepted
    ],
)
def test_valid_nik_decodes_birth_date_and_sex(nik, born, sex):
    assert validate_nik(nik) == nik
    assert nik_birth_date_and_sex(nik) == (born, sex)


def test_separators_are_removed():
    assert validate_nik("35.1001.170845.0001") == "3510011708450001"


@pytest.mark.parametrize(
    "nik, code",
    [
        ("351001170845001", "NIK_FORMAT"),
        ("35100117084500011", "NIK_FORMAT"),
        ("35100117O8450001", "NIK_FORMAT"),
        ("", "NIK_FORMAT"),
        (3510011708450001, "NIK_FORMAT"),
        ("3510011713450001", "NIK_DATE"),
        ("3510011700450001", "NIK_DATE"),
        ("3510013208450001", "NIK_DATE"),
        ("3510017208450001", "NIK_DATE"),
        ("3510014008450001", "NIK_DATE"),
        ("3510013102450001", "NIK_DATE"),  # 31 February
        ("3510011708450000", "NIK_SERIAL"),
        ("3510261708450001", "NIK_REGION"),  # Banyuwangi has 25 districts
        ("3510001708450001", "NIK_REGION"),
        ("9910011708450001", "NIK_REGION"),
        ("3599011708450001", "NIK_REGION"),
    ],
)
def test_invalid_nik_has_reason_code(nik, code):
    with pytest.raises(NikInvalid) as caught:
        validate_nik(nik)
    assert caught.value.code == code
    assert caught.value.message
    assert isinstance(caught.value, ValueError)


def test_two_digit_year_picks_the_latest_past_century():
    assert nik_birth_date_and_sex("3510011708250001", today=date(2026, 1, 1))[0] == date(2025, 8, 17)
    assert nik_birth_date_and_sex("3510011708300001", today=date(2026, 1, 1))[0] == date(1930, 8, 17)


def test_mask_shows_the_regency_birth_date_part_and_serial():
    # Household members share the region digits; the birth-date part and serial tell them apart.
    assert mask_nik("3510011708450001") == "3510**·170845·0001"
    assert mask_nik("3510015708450002") == "3510**·570845·0002"  # a woman: day + 40
    assert mask_nik("1234567890") == "1234**7890"  # not a NIK: first and last four only
    assert mask_nik(None) == ""
