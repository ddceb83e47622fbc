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
