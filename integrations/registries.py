"""Welfare and status registries consulted during assessment and quarterly re-checks.

Contract shared by every interface here:
- Each look-up returns a frozen record whose ``evidence`` holds the answer as received and the UTC
  time of the look-up, so the case keeps what the source said and when.
- "Known person or family, nothing registered" is a normal answer (``member=False``,
  ``decile=None``, ``category=None``, zero assets), not an error.
- A NIK or family-card number the source does not know at all raises ``PersonNotFound``
  (a business outcome, never retried).
- Source trouble raises a ``TransientIntegrationError`` subclass: ``IntegrationTimeout``,
  ``IntegrationUnavailable`` or ``MalformedResponse``; callers may retry these.
- Implementations never commit a database transaction, and never flush the caller's session (a
  flush would write the caller's half-built rows early: look-ups read, they do not write).
- Sources keyed by NIK also answer for a whole household at once (``lookup_household(niks)``: one
  record per NIK, in the order given). The default asks person by person; an adapter whose source
  can answer a family in one request (the sandbox: one query) overrides it. Any unknown NIK raises
  ``PersonNotFound`` for the whole call, like the per-person look-up would.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date

from integrations.base import Evidence

HEALTH_SEGMENTS = ("PBI", "PBPU", "PPU", "BP")
CIVIL_SERVICE_CATEGORIES = (
    "ASN",
    "TNI",
    "POLRI",
    "PENSIUNAN",
    "PERANGKAT_DESA",
    "GURU_SERTIFIKASI",
    "NAKES_SERTIFIKASI",
    "PEGAWAI_BUMN_BUMD",
)
COMPANY_ROLES = ("OWNER", "DIRECTOR")


@dataclass(frozen=True)
class DtsenRecord:
    """A family's welfare decile in DTSEN; ``decile`` None means the family is not ranked."""

    kk_number: str
    decile: int | None
    updated_at: date | None
    evidence: Evidence | None = None


@dataclass(frozen=True)
class HealthRecord:
    """BPJS Kesehatan membership; ``segment`` PBI means the state pays the premium."""

    nik: str
    member: bool
    segment: str | None
    active: bool
    evidence: Evidence | None = None


@dataclass(frozen=True)
class EmploymentRecord:
    """BPJS Ketenagakerjaan membership with the monthly wage the employer reports (rupiah)."""

    nik: str
    member: bool
    monthly_wage: int | None
    employer: str | None
    evidence: Evidence | None = None


@dataclass(frozen=True)
class AssetRecord:
    """A family's vehicles, electricity connection and company roles of its members."""

    kk_number: str
    four_wheel_vehicles: int
    electricity_va: int
    electricity_subsidised: bool
    # Each entry: {nik, role ('OWNER'|'DIRECTOR'), company}
    company_roles: list[dict] = field(default_factory=list)
    evidence: Evidence | None = None


@dataclass(frozen=True)
class CivilServiceRecord:
    """Whether a person is paid by the state; ``category`` None means not registered."""

    nik: str
    category: str | None
    evidence: Evidence | None = None


class Dtsen(ABC):
    """The national socio-economic registry (welfare deciles per family card)."""

    source = "dtsen"

    @abstractmethod
    def lookup_household(self, kk_number: str) -> DtsenRecord:
        """Return the DTSEN ranking of this family card."""


class BpjsHealth(ABC):
    """BPJS Kesehatan (national health insurance) membership."""

    source = "bpjs_health"

    @abstractmethod
    def lookup(self, nik: str) -> HealthRecord:
        """Return this person's health-insurance membership."""


class BpjsEmployment(ABC):
    """BPJS Ketenagakerjaan (employment insurance) membership and reported wage."""

    source = "bpjs_employment"

    @abstractmethod
    def lookup(self, nik: str) -> EmploymentRecord:
        """Return this person's employment-insurance membership and wage."""

    def lookup_household(self, niks) -> list[EmploymentRecord]:
        """Return the membership of each of these people, in order (default: one look-up each)."""
        return [self.lookup(nik) for nik in niks]


class AssetRegistry(ABC):
    """Vehicle, electricity (PLN) and company (AHU) registries, answered per family card."""

    source = "assets"

    @abstractmethod
    def lookup_household(self, kk_number: str) -> AssetRecord:
        """Return the assets registered to this family and its members."""


class CivilServiceRegistry(ABC):
    """State personnel registries (BKN, TNI, Polri, pensions, village officials, certifications)."""

    source = "civil_service"

    @abstractmethod
    def lookup(self, nik: str) -> CivilServiceRecord:
        """Return this person's civil-service category, if any."""

    def lookup_household(self, niks) -> list[CivilServiceRecord]:
        """Return the category of each of these people, in order (default: one look-up each)."""
        return [self.lookup(nik) for nik in niks]
