"""HTTP look-ups in the civil, welfare and status registries (wire format: docs/integrations-http.md)."""

from __future__ import annotations

import re

import httpx

from integrations.base import MalformedResponse, PersonNotFound
from integrations.http.client import HttpAdapter, error_code, json_body, require_success
from integrations.identity import CivilRecord, CivilRegistry
from integrations.parsing import (
    parse_asset_record,
    parse_civil_record,
    parse_civil_service_record,
    parse_dtsen_record,
    parse_employment_record,
    parse_health_record,
)
from integrations.photos import MAX_PHOTO_BYTES
from integrations.registries import (
    AssetRecord,
    AssetRegistry,
    BpjsEmployment,
    BpjsHealth,
    CivilServiceRecord,
    CivilServiceRegistry,
    Dtsen,
    DtsenRecord,
    EmploymentRecord,
    HealthRecord,
)

_SIXTEEN_DIGITS = re.compile(r"\d{16}")
PHOTO_TYPES = ("image/jpeg", "image/png")


def _key_or_not_found(source: str, value) -> str:
    # NIKs and family-card numbers are 16 digits; anything else cannot be on file, and checking
    # here keeps arbitrary text out of the URL path.
    key = str(value or "").strip()
    if not _SIXTEEN_DIGITS.fullmatch(key):
        raise PersonNotFound(source, key)
    return key


class _HttpLookup(HttpAdapter):
    """A GET of one record by key: 404 NOT_FOUND is PersonNotFound, the body goes through parsing.py."""

    def _lookup(self, path: str, key: str, parse, key_field: str):
        def handle(response: httpx.Response):
            if response.status_code == 404 and error_code(response) == "NOT_FOUND":
                raise PersonNotFound(self.source, key)
            require_success(response, self.source)
            record = parse(json_body(response, self.source), self._clock(), self.source)
            # A well-formed answer about someone else (a caching proxy, a server bug) must not
            # reach a case; treated like any other bad answer, so it is retried.
            if getattr(record, key_field) != key:
                raise MalformedResponse(self.source, "answer is about another person or family")
            return record

        return self.http.call("GET", path, handle)


class HttpCivilRegistry(_HttpLookup, CivilRegistry):
    """Civil registry over HTTP: ``GET /people/{nik}`` and ``GET /people/{nik}/photo``."""

    source = CivilRegistry.source

    def lookup_person(self, nik: str) -> CivilRecord:
        """Return the civil record of this person and their household."""
        nik = _key_or_not_found(self.source, nik)
        return self._lookup(f"/people/{nik}", nik, parse_civil_record, "nik")

    def reference_photo(self, nik: str) -> bytes | None:
        """Return the registry photo of this person, or None when there is none."""
        try:
            nik = _key_or_not_found(self.source, nik)
        except PersonNotFound:
            return None

        def handle(response: httpx.Response) -> bytes | None:
            if response.status_code == 404 and error_code(response) in ("NO_PHOTO", "NOT_FOUND"):
                return None
            require_success(response, self.source)
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind not in PHOTO_TYPES:
                raise MalformedResponse(self.source, f"photo answer has content type {kind or 'none'!r}")
            if not response.content or len(response.content) > MAX_PHOTO_BYTES:
                raise MalformedResponse(self.source, f"photo answer has {len(response.content)} bytes")
            return response.content

        return self.http.call("GET", f"/people/{nik}/photo", handle, headers={"Accept": ", ".join(PHOTO_TYPES)})


class HttpDtsen(_HttpLookup, Dtsen):
    """DTSEN over HTTP: ``GET /households/{kk_number}``."""

    source = Dtsen.source

    def lookup_household(self, kk_number: str) -> DtsenRecord:
        """Return the DTSEN ranking of this family card."""
        kk_number = _key_or_not_found(self.source, kk_number)
        return self._lookup(f"/households/{kk_number}", kk_number, parse_dtsen_record, "kk_number")


class HttpBpjsHealth(_HttpLookup, BpjsHealth):
    """BPJS Kesehatan over HTTP: ``GET /members/{nik}``."""

    source = BpjsHealth.source

    def lookup(self, nik: str) -> HealthRecord:
        """Return this person's health-insurance membership."""
        nik = _key_or_not_found(self.source, nik)
        return self._lookup(f"/members/{nik}", nik, parse_health_record, "nik")


class HttpBpjsEmployment(_HttpLookup, BpjsEmployment):
    """BPJS Ketenagakerjaan over HTTP: ``GET /members/{nik}``.

    ``lookup_household(niks)`` is the registries' default: one GET per member, in order (the wire
    format has no family request); the answers are the same records the per-person look-up gives.
    """

    source = BpjsEmployment.source

    def lookup(self, nik: str) -> EmploymentRecord:
        """Return this person's employment-insurance membership and wage."""
        nik = _key_or_not_found(self.source, nik)
        return self._lookup(f"/members/{nik}", nik, parse_employment_record, "nik")


class HttpAssetRegistry(_HttpLookup, AssetRegistry):
    """Asset registries over HTTP: ``GET /households/{kk_number}``."""

    source = AssetRegistry.source

    def lookup_household(self, kk_number: str) -> AssetRecord:
        """Return the assets registered to this family and its members."""
        kk_number = _key_or_not_found(self.source, kk_number)
        return self._lookup(f"/households/{kk_number}", kk_number, parse_asset_record, "kk_number")


class HttpCivilServiceRegistry(_HttpLookup, CivilServiceRegistry):
    """Civil-service registries over HTTP: ``GET /people/{nik}``.

    ``lookup_household(niks)``: one GET per member, in order (the registries' default).
    """

    source = CivilServiceRegistry.source

    def lookup(self, nik: str) -> CivilServiceRecord:
        """Return this person's civil-service category, if any."""
        nik = _key_or_not_found(self.source, nik)
        return self._lookup(f"/people/{nik}", nik, parse_civil_service_record, "nik")
