"""ASCII digits only: the one check for every field that must be digits.

`str.isdigit()`, `str.isdecimal()` and the regex `\\d` accept any Unicode digit: Arabic-Indic
(٠١٢), Extended Arabic-Indic (۰۱۲), full-width (０１２), Devanagari and more, and `int()` /
`float()` convert them. A bank account typed in such digits was stored and sent to the bank as is.
Bank account, phone, NIK, KK, one-time codes, district codes and ids therefore go through here:
0-9 only. (`$` in a regex also matches before a final newline; `\\Z` does not.)
"""

import re

from marshmallow import validate

ASCII_DIGITS = frozenset("0123456789")


def is_ascii_digits(value, min_length=1, max_length=None) -> bool:
    """True if `value` is a string of 0-9 only, `min_length` to `max_length` long."""
    if not isinstance(value, str) or not (min_length <= len(value) <= (max_length or len(value))):
        return False
    return all(ch in ASCII_DIGITS for ch in value)


def has_other_digits(value) -> bool:
    """True if `value` holds a digit that is not 0-9 (Arabic-Indic, full-width, ...): worth saying so."""
    return isinstance(value, str) and any(ch.isdigit() and ch not in ASCII_DIGITS for ch in value)


def ascii_digits_in(value) -> str:
    """Keep the ASCII digits of `value` (e.g. a code typed as "123 456"); other characters are dropped."""
    return "".join(ch for ch in str(value or "") if ch in ASCII_DIGITS)


def pattern(min_length, max_length=None, plus=False) -> re.Pattern:
    """A compiled regex for 0-9 only, `min_length` to `max_length` long (optionally a leading '+')."""
    count = f"{{{min_length}}}" if max_length is None else f"{{{min_length},{max_length}}}"
    return re.compile(("\\+?" if plus else "") + "[0-9]" + count + "\\Z")


def Digits(min_length, max_length=None, plus=False, error=None) -> validate.Regexp:  # noqa: N802 (a validator)
    """A marshmallow validator: ASCII digits only (and an optional leading '+')."""
    return validate.Regexp(pattern(min_length, max_length, plus), error=error or "Only the digits 0-9 are allowed.")
