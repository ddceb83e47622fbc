"""Civil registry (Dukcapil): who a person is, their family card and whether they are alive."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date

from integrations.base import Evidence

# Relations on a family card (SHDK codes as Dukcapil names them).
RELATIONS = (
    "KEPALA",
    "SUAMI",
    "ISTRI",
    "ANAK",
    "MENANTU",
    "CUCU",
    "ORANG_TUA",
    "MERTUA",
    "FAMILI_LAIN",
    "LAINNYA",
)
SCHOOL_LEVELS = ("SD", "SMP", "SMA")


@dataclass(frozen=True)
class CivilRecord:
    """A person as the civil registry knows them, with everyone on their family card."""

    nik: str
    name: str
    sex: str  # 'F' or 'M'
    birth_date: date
    kk_number: str
    district_code: str  # '01'..'25' within the regency
    district_name: str
    village: str
    address: str
    relation: str  # one of RELATIONS
    alive: bool
    death_date: date | None
    photo_ref: str | None
    # Each member: {nik, name, relation, sex, birth_date, alive, disability, pregnant, school_level}
    household: list[dict] = field(default_factory=list)
    evidence: Evidence | None = None


class CivilRegistry(ABC):
    """Look-ups in the population registry.

    Contract for every implementation:
    - ``lookup_person(nik)`` returns a ``CivilRecord`` whose ``household`` lists every person on the
      same family card (the person included), ordered head first; ``evidence`` holds the answer as
      received and the UTC time of the look-up.
    - An unknown NIK raises ``PersonNotFound`` (a business outcome, never retried).
    - Source trouble raises a ``TransientIntegrationError`` subclass: ``IntegrationTimeout``,
      ``IntegrationUnavailable`` or ``MalformedResponse`` (answer failed validation).
    - ``reference_photo(nik)`` returns the registry photo as image bytes, or ``None`` when the
      registry holds no usable photo; it never raises for a missing photo.
    - Implementations never commit a database transaction, and never flush the caller's session.
    """

    source = "civil_registry"

    @abstractmethod
    def lookup_person(self, nik: str) -> CivilRecord:
        """Return the civil record of this person and their household."""

    @abstractmethod
    def reference_photo(self, nik: str) -> bytes | None:
        """Return the registry photo of this person, or None when there is none."""
