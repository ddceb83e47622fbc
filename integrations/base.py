"""Types and exceptions shared by every outside-system adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from integrations.nik import NikInvalid, mask_nik, nik_birth_date_and_sex, validate_nik

__all__ = [
    "DisbursementConflict",
    "Evidence",
    "IntegrationError",
    "IntegrationTimeout",
    "IntegrationUnavailable",
    "MalformedResponse",
    "NikInvalid",
    "PersonNotFound",
    "TransientIntegrationError",
    "mask_nik",
    "nik_birth_date_and_sex",
    "utc_now",
    "validate_nik",
]


def utc_now() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class IntegrationError(Exception):
    """An outside system did not give a usable answer."""

    def __init__(self, source: str, message: str = ""):
        super().__init__(f"{source}: {message}" if message else source)
        self.source = source
        self.message = message


class TransientIntegrationError(IntegrationError):
    """A failure that a later retry may cure."""


class IntegrationTimeout(TransientIntegrationError):
    """The source did not answer in time."""


class IntegrationUnavailable(TransientIntegrationError):
    """The source refused or could not take the request (maintenance, overload)."""

    retry_after: float | None = None  # seconds the source asked to wait (HTTP Retry-After), if it said


class MalformedResponse(TransientIntegrationError):
    """The source answered with something that fails validation."""


class PersonNotFound(IntegrationError):
    """The source has no record for this NIK or family card (a business outcome)."""

    def __init__(self, source: str, key: str):
        # Mask the key: exception messages end up in logs.
        shown = mask_nik(key) if key and len(key) == 16 else key
        super().__init__(source, f"no record for {shown}")
        self.key = key


class DisbursementConflict(IntegrationError):
    """A payment reference was reused for a different payee, amount or channel."""


@dataclass(frozen=True)
class Evidence:
    """What a source answered and when, kept with the case as proof."""

    source: str
    checked_at: datetime
    value: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.checked_at.tzinfo is None:
            raise ValueError("Evidence.checked_at must be timezone-aware")
        # Normalise to UTC so stored evidence compares and sorts consistently.
        object.__setattr__(self, "checked_at", self.checked_at.astimezone(UTC))

    def to_dict(self) -> dict:
        """Return a JSON-able dict with the time in ISO 8601."""
        return {"source": self.source, "checked_at": self.checked_at.isoformat(), "value": self.value}

    @classmethod
    def from_dict(cls, data: dict) -> Evidence:
        """Rebuild evidence from the output of to_dict()."""
        return cls(data["source"], datetime.fromisoformat(data["checked_at"]), dict(data["value"]))
