"""NIK (Indonesian population number) validation, decoding and masking."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from stdnum import numdb
from stdnum.exceptions import ValidationError
from stdnum.id import nik as stdnum_nik

# Banyuwangi is the pilot regency; we know its district codes exactly.
BANYUWANGI_REGENCY = "3510"
BANYUWANGI_DISTRICTS = frozenset(f"{n:02d}" for n in range(1, 26))


class NikInvalid(ValueError):
    """A NIK that cannot be a real population number; ``code`` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@lru_cache(maxsize=4096)
def _region_names(prefix: str) -> tuple[dict, dict]:
    parts = numdb.get("id/loc").info(prefix)
    province = parts[0][1] if parts else {}
    regency = parts[1][1] if len(parts) > 1 else {}
    return province, regency


def _check_region(number: str) -> None:
    province, regency = _region_names(number[:4])
    if not province:
        raise NikInvalid("NIK_REGION", f"Unknown province code {number[:2]}.")
    if not regency:
        raise NikInvalid("NIK_REGION", f"Unknown regency code {number[:4]}.")
    district = number[4:6]
    if number[:4] == BANYUWANGI_REGENCY:
        if district not in BANYUWANGI_DISTRICTS:
            raise NikInvalid("NIK_REGION", f"Banyuwangi has no district {district}.")
    elif district == "00":
        raise NikInvalid("NIK_REGION", "District code 00 does not exist.")


def _birth_date(number: str, today: date | None = None) -> date:
    day_code, month, yy = int(number[6:8]), int(number[8:10]), int(number[10:12])
    if not (1 <= day_code <= 31 or 41 <= day_code <= 71):
        raise NikInvalid("NIK_DATE", f"Day {day_code:02d} is not 01-31 (men) or 41-71 (women).")
    if not 1 <= month <= 12:
        raise NikInvalid("NIK_DATE", f"Month {month:02d} is not 01-12.")
    today = today or date.today()
    # The NIK keeps only two year digits: prefer the latest century not in the future.
    centuries = (2000, 1900) if 2000 + yy <= today.year else (1900, 2000)
    for century in centuries:
        try:
            born = date(century + yy, month, day_code % 40)
        except ValueError:
            continue
        if born <= today:
            return born
    raise NikInvalid("NIK_DATE", f"{number[6:12]} is not a real birth date.")


def validate_nik(nik) -> str:
    """Return the NIK as 16 digits, or raise NikInvalid with a reason code."""
    if not isinstance(nik, str):
        raise NikInvalid("NIK_FORMAT", "A NIK must be given as text of 16 digits.")
    # Bulk imports mostly pass clean numbers: skip stdnum's per-character clean-up for them.
    clean = len(nik) == 16 and nik.isascii() and nik.isdigit()
    number = nik if clean else stdnum_nik.compact(nik)
    if not number.isdigit() or not number.isascii():
        raise NikInvalid("NIK_FORMAT", "A NIK may contain only digits.")
    if len(number) != 16:
        raise NikInvalid("NIK_FORMAT", f"A NIK has 16 digits, not {len(number)}.")
    _check_region(number)
    _birth_date(number)
    if number[12:] == "0000":
        raise NikInvalid("NIK_SERIAL", "Serial 0000 is never issued.")
    try:
        # Cross-check the date with python-stdnum (the region was checked on its numdb above);
        # its full validate() repeats the uncached region lookup, too slow for bulk imports.
        stdnum_nik.get_birth_date(number)
    except ValidationError as exc:
        raise NikInvalid("NIK_FORMAT", f"Not a valid NIK ({exc}).") from exc
    return number


def nik_birth_date_and_sex(nik: str, today: date | None = None) -> tuple[date, str]:
    """Return the birth date and sex ('F' or 'M') encoded in a valid NIK."""
    number = validate_nik(nik)
    sex = "F" if int(number[6:8]) > 40 else "M"
    return _birth_date(number, today), sex


def nik_day_code(born: date, sex: str) -> str:
    """Return the DDMMYY part of a NIK for this birth date and sex."""
    day = born.day + (40 if sex == "F" else 0)
    return f"{day:02d}{born.month:02d}{born.year % 100:02d}"


def mask_nik(nik) -> str:
    """Return the NIK as officers may see it: regency, birth-date part and serial, the district masked.

    A NIK is PPRRDD DDMMYY SSSS (province, regency, district; birth date, +40 on the day for women;
    serial). "3510142011780001" becomes "3510**·201178·0001": members of one household share the
    region digits, so the birth-date part and the serial are what tells them apart (docs/authorization.md,
    "Masked NIKs"). Anything that is not 16 characters keeps only its first and last four.
    """
    text = str(nik or "")
    if len(text) == 16:
        return f"{text[:4]}**\u00b7{text[6:12]}\u00b7{text[12:]}"
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]
