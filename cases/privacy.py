"""Masking of personal identifiers where they need not be shown."""

import re

from integrations.nik import mask_nik

_SIXTEEN_DIGITS = re.compile(r"^\d{16}$")


def mask_identifiers(value):
    """Return a copy of a JSON-like value with every NIK/KK-like 16-digit string masked."""
    if isinstance(value, dict):
        return {k: mask_identifiers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_identifiers(v) for v in value]
    if isinstance(value, str) and _SIXTEEN_DIGITS.match(value):
        return mask_nik(value)
    return value


def mask_phone(phone):
    """Return a phone number with only its first four and last three digits shown ("0812****789")."""
    text = str(phone or "")
    if len(text) <= 7:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 7) + text[-3:]
