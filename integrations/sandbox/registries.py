"""Sandbox look-ups in the civil, welfare and status registries, over the imported extracts."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Table, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from integrations.base import MalformedResponse, PersonNotFound
from integrations.identity import RELATIONS, CivilRecord, CivilRegistry
from integrations.parsing import (
    parse_asset_record,
    parse_civil_record,
    parse_civil_service_record,
    parse_dtsen_record,
    parse_employment_record,
    parse_health_record,
)
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
from integrations.sandbox import tables as t
from integrations.sandbox.common import SandboxAdapter, iso


def _key(value) -> str:
    return str(value or "").strip()


# Every look-up's statement is built once per process (and dialect) and reused with its values as
# parameters: building a select, and walking it for its cache key, cost more than running it.
_STATEMENTS: dict = {}


def _statement(key, build):
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _any_of(column, name, dialect):
    """``column IN (list)``: on PostgreSQL ``= ANY(array)``, one statement text whatever the length
    (an IN list of another length is another text: parsed and prepared again)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _member(row) -> dict:
    return {
        "nik": row.nik,
        "name": row.name,
        "relation": row.relation,
        "sex": row.sex,
        "birth_date": iso(row.birth_date),
        "alive": row.alive,
        "disability": row.disability,
        "pregnant": row.pregnant,
        "school_level": row.school_level,
    }


class SandboxCivilRegistry(SandboxAdapter, CivilRegistry):
    """Civil registry answered from ``sandbox_people``; photos read from a folder."""

    source = CivilRegistry.source

    def __init__(self, session_factory, faults=None, photo_dir: str | Path | None = None, **kwargs):
        super().__init__(session_factory, faults, **kwargs)
        self._photo_dir = Path(photo_dir) if photo_dir else None

    def _person(self, nik: str):
        stmt = _statement("person", lambda: select(t.people).where(t.people.c.nik == bindparam("nik")))
        return self._session.execute(stmt, {"nik": nik}).first()

    def _raw(self, nik: str) -> dict:
        # One query: the person's whole family card (the person is one of its members).
        stmt = _statement(
            "family",
            lambda: select(t.people).where(
                t.people.c.kk_number
                == select(t.people.c.kk_number).where(t.people.c.nik == bindparam("nik")).scalar_subquery()
            ),
        )
        return self._family_raw(nik, list(self._session.execute(stmt, {"nik": nik}).all()))

    def _family_raw(self, nik: str, members) -> dict:
        person = next((m for m in members if m.nik == nik), None)
        if person is None:
            raise PersonNotFound(self.source, nik)
        members = sorted(members, key=lambda m: (RELATIONS.index(m.relation), m.birth_date, m.nik))
        return {
            "nik": person.nik,
            "name": person.name,
            "sex": person.sex,
            "birth_date": iso(person.birth_date),
            "kk_number": person.kk_number,
            "district_code": person.district_code,
            "district_name": person.district_name,
            "village": person.village,
            "address": person.address,
            "relation": person.relation,
            "alive": person.alive,
            "death_date": iso(person.death_date),
            "photo_ref": person.photo_ref,
            "household": [_member(m) for m in members],
        }

    def lookup_person(self, nik: str) -> CivilRecord:
        """Return the civil record of this person and their household."""
        nik = _key(nik)
        return self._answer(nik, lambda: self._raw(nik), parse_civil_record, "household")

    def batch_lookup(self, niks) -> dict:
        """{nik: call} for several people from ONE query (their whole family cards); each call returns
        what ``lookup_person`` would (faults, parsing and PersonNotFound applied when it is called)."""
        wanted = list(dict.fromkeys(_key(n) for n in niks))
        if not wanted:
            return {}
        dialect = self._session.get_bind().dialect.name
        stmt = _statement(
            ("families", dialect),
            lambda: select(t.people).where(
                t.people.c.kk_number.in_(select(t.people.c.kk_number).where(_any_of(t.people.c.nik, "niks", dialect)))
            ),
        )
        families: dict[str | None, list] = {}
        card_of: dict[str, str | None] = {}
        for row in self._session.execute(stmt, {"niks": wanted}):
            families.setdefault(row.kk_number, []).append(row)
            card_of[row.nik] = row.kk_number
        return {
            nik: (
                lambda nik=nik: self._answer(
                    nik,
                    lambda: self._family_raw(nik, families.get(card_of.get(nik), [])),
                    parse_civil_record,
                    "household",
                )
            )
            for nik in wanted
        }

    def reference_photo(self, nik: str) -> bytes | None:
        """Return the registry photo of this person, or None when there is none."""
        nik = _key(nik)
        if self._faults.before_call(self.source, nik):
            raise MalformedResponse(self.source, "sandbox: photo answer could not be decoded")
        stmt = _statement("photo", lambda: select(t.people.c.photo_ref).where(t.people.c.nik == bindparam("nik")))
        person = self._session.execute(stmt, {"nik": nik}).first()
        if person is None or not person.photo_ref or self._photo_dir is None:
            return None
        # photo_ref comes from an imported file: never let it point outside the photo folder.
        if Path(person.photo_ref).name != person.photo_ref:
            return None
        path = self._photo_dir / person.photo_ref
        try:
            return path.read_bytes()
        except OSError:
            return None


class SandboxDtsen(SandboxAdapter, Dtsen):
    """DTSEN deciles answered from ``sandbox_dtsen``."""

    source = Dtsen.source

    def _raw(self, kk_number: str) -> dict:
        # One query: the family card, with its ranking when it has one.
        stmt = _statement(
            "dtsen",
            lambda: (
                select(t.households.c.kk_number, t.dtsen.c.decile, t.dtsen.c.updated_at)
                .select_from(t.households.outerjoin(t.dtsen, t.dtsen.c.kk_number == t.households.c.kk_number))
                .where(t.households.c.kk_number == bindparam("kk"))
            ),
        )
        row = self._session.execute(stmt, {"kk": kk_number}).first()
        if row is None:
            raise PersonNotFound(self.source, kk_number)
        return {"kk_number": kk_number, "decile": row.decile, "updated_at": iso(row.updated_at)}

    def batch_lookup(self, kk_numbers) -> dict:
        """{kk: call} for several family cards from ONE query; each call returns what ``lookup_household`` would."""
        wanted = list(dict.fromkeys(_key(k) for k in kk_numbers))
        if not wanted:
            return {}
        dialect = self._session.get_bind().dialect.name
        stmt = _statement(
            ("dtsen_many", dialect),
            lambda: (
                select(t.households.c.kk_number, t.dtsen.c.decile, t.dtsen.c.updated_at)
                .select_from(t.households.outerjoin(t.dtsen, t.dtsen.c.kk_number == t.households.c.kk_number))
                .where(_any_of(t.households.c.kk_number, "kks", dialect))
            ),
        )
        rows = {row.kk_number: row for row in self._session.execute(stmt, {"kks": wanted})}

        def raw(kk):
            row = rows.get(kk)
            if row is None:
                raise PersonNotFound(self.source, kk)
            return {"kk_number": kk, "decile": row.decile, "updated_at": iso(row.updated_at)}

        return {kk: (lambda kk=kk: self._answer(kk, lambda: raw(kk), parse_dtsen_record, "decile")) for kk in wanted}

    def lookup_household(self, kk_number: str) -> DtsenRecord:
        """Return the DTSEN ranking of this family card."""
        kk_number = _key(kk_number)
        return self._answer(kk_number, lambda: self._raw(kk_number), parse_dtsen_record, "decile")


class _PersonSource(SandboxAdapter):
    """A source keyed by NIK that only answers for people in the civil registry.

    ``_rows(niks)`` asks for several people in ONE query (people left-joined to the source's table);
    subclasses give the table, its columns and how a row (or its absence) reads as an answer.
    """

    table: Table  # each source's own table
    columns: tuple = ()
    required_field = ""

    def _answer_for(self, nik: str, row) -> dict:
        raise NotImplementedError

    def _rows(self, niks) -> dict:
        """{nik: row} for the given people; a NIK the civil registry does not know raises PersonNotFound."""
        wanted = list(dict.fromkeys(niks))
        found = self._found_rows(wanted)
        for nik in wanted:
            if nik not in found:
                raise PersonNotFound(self.source, nik)
        return found

    def _found_rows(self, wanted) -> dict:
        """{nik: row} for those of the given people the civil registry knows (one query)."""
        session = self._session
        dialect = session.get_bind().dialect.name
        query = _statement(
            (type(self), dialect),
            lambda: (
                select(t.people.c.nik.label("person_nik"), *(self.table.c[c] for c in self.columns))
                .select_from(t.people.outerjoin(self.table, self.table.c.nik == t.people.c.nik))
                .where(_any_of(t.people.c.nik, "niks", dialect))
            ),
        )
        return {row.person_nik: row for row in session.execute(query, {"niks": wanted})}

    def _batch(self, keys, parse, many):
        """{key: call} from ONE query for every person of every key (a NIK, or a tuple of NIKs when
        `many`); each call returns what the one-person (or household) look-up would."""
        keys = list(dict.fromkeys(keys))
        everyone = list(dict.fromkeys(_key(n) for k in keys for n in (k if many else (k,))))
        rows = self._found_rows(everyone) if everyone else {}

        def raw(nik):
            if nik not in rows:
                raise PersonNotFound(self.source, nik)
            return self._answer_for(nik, rows[nik])

        def one(nik):
            nik = _key(nik)
            return self._answer(nik, lambda: raw(nik), parse, self.required_field)

        if many:
            return {k: (lambda k=k: [one(n) for n in k]) for k in keys}
        return {k: (lambda k=k: one(k)) for k in keys}

    def _raw(self, nik: str) -> dict:
        return self._answer_for(nik, self._rows([nik])[nik])

    def _lookup_one(self, nik, parse):
        nik = _key(nik)
        return self._answer(nik, lambda: self._raw(nik), parse, self.required_field)

    def _lookup_many(self, niks, parse):
        """One query for the whole list; faults and parsing still apply to each person's answer."""
        niks = [_key(n) for n in niks]
        if len(niks) <= 1:
            return [self._lookup_one(n, parse) for n in niks]
        rows = {}

        def build(nik):
            if not rows:
                rows.update(self._rows(niks))
            return self._answer_for(nik, rows[nik])

        return [self._answer(nik, lambda nik=nik: build(nik), parse, self.required_field) for nik in niks]


class SandboxBpjsHealth(_PersonSource, BpjsHealth):
    """BPJS Kesehatan membership answered from ``sandbox_bpjs_health``."""

    source = BpjsHealth.source
    table = t.bpjs_health
    columns = ("nik", "segment", "active")
    required_field = "member"

    def _answer_for(self, nik, row) -> dict:
        if row.nik is None:
            return {"nik": nik, "member": False, "segment": None, "active": False}
        return {"nik": nik, "member": True, "segment": row.segment, "active": row.active}

    def lookup(self, nik: str) -> HealthRecord:
        """Return this person's health-insurance membership."""
        return self._lookup_one(nik, parse_health_record)

    def batch_lookup(self, niks) -> dict:
        """{nik: call} from one query; each call returns what ``lookup`` would."""
        return self._batch(niks, parse_health_record, many=False)


class SandboxBpjsEmployment(_PersonSource, BpjsEmployment):
    """BPJS Ketenagakerjaan membership answered from ``sandbox_bpjs_employment``."""

    source = BpjsEmployment.source
    table = t.bpjs_employment
    columns = ("nik", "monthly_wage", "employer")
    required_field = "monthly_wage"

    def _answer_for(self, nik, row) -> dict:
        if row.nik is None:
            return {"nik": nik, "member": False, "monthly_wage": None, "employer": None}
        return {"nik": nik, "member": True, "monthly_wage": row.monthly_wage, "employer": row.employer}

    def lookup(self, nik: str) -> EmploymentRecord:
        """Return this person's employment-insurance membership and wage."""
        return self._lookup_one(nik, parse_employment_record)

    def lookup_household(self, niks) -> list[EmploymentRecord]:
        """Return the membership of each of these people, in order, from one query."""
        return self._lookup_many(niks, parse_employment_record)

    def batch_lookup(self, households) -> dict:
        """{tuple of NIKs: call} from one query; each call returns what ``lookup_household`` would."""
        return self._batch([tuple(h) for h in households], parse_employment_record, many=True)


class SandboxAssetRegistry(SandboxAdapter, AssetRegistry):
    """Vehicles, electricity and company roles answered from the sandbox asset tables."""

    source = AssetRegistry.source

    def batch_lookup(self, kk_numbers) -> dict:
        """{kk: call} for several family cards from two queries; each call returns what ``lookup_household`` would."""
        wanted = list(dict.fromkeys(_key(k) for k in kk_numbers))
        if not wanted:
            return {}
        session = self._session
        dialect = session.get_bind().dialect.name
        stmt = _statement(
            ("assets_many", dialect),
            lambda: (
                select(
                    t.households.c.kk_number.label("known"),
                    t.assets.c.kk_number,
                    t.assets.c.four_wheel_vehicles,
                    t.assets.c.electricity_va,
                    t.assets.c.electricity_subsidised,
                )
                .select_from(t.households.outerjoin(t.assets, t.assets.c.kk_number == t.households.c.kk_number))
                .where(_any_of(t.households.c.kk_number, "kks", dialect))
            ),
        )
        rows = {row.known: row for row in session.execute(stmt, {"kks": wanted})}
        stmt = _statement(
            ("company_roles_many", dialect),
            lambda: (
                select(t.people.c.kk_number.label("card"), t.company_roles)
                .select_from(t.company_roles.join(t.people, t.people.c.nik == t.company_roles.c.nik))
                .where(_any_of(t.people.c.kk_number, "kks", dialect))
                .order_by(t.company_roles.c.nik, t.company_roles.c.id)
            ),
        )
        roles: dict[str, list] = {}
        for r in session.execute(stmt, {"kks": wanted}):
            roles.setdefault(r.card, []).append(r)

        def raw(kk):
            if kk not in rows:
                raise PersonNotFound(self.source, kk)
            return self._record_raw(kk, rows[kk], roles.get(kk, []))

        return {
            kk: (lambda kk=kk: self._answer(kk, lambda: raw(kk), parse_asset_record, "electricity_va")) for kk in wanted
        }

    @staticmethod
    def _record_raw(kk_number, row, roles) -> dict:
        if row.kk_number is None:
            row = None
        return {
            "kk_number": kk_number,
            # No record in the vehicle or electricity registries means none registered.
            "four_wheel_vehicles": row.four_wheel_vehicles if row else 0,
            "electricity_va": row.electricity_va if row else 0,
            "electricity_subsidised": row.electricity_subsidised if row else False,
            "company_roles": [{"nik": r.nik, "role": r.role, "company": r.company} for r in roles],
        }

    def _raw(self, kk_number: str) -> dict:
        session = self._session
        # The family card with its vehicle and electricity record (when there is one), in one query.
        stmt = _statement(
            "assets",
            lambda: (
                select(
                    t.households.c.kk_number.label("known"),
                    t.assets.c.kk_number,
                    t.assets.c.four_wheel_vehicles,
                    t.assets.c.electricity_va,
                    t.assets.c.electricity_subsidised,
                )
                .select_from(t.households.outerjoin(t.assets, t.assets.c.kk_number == t.households.c.kk_number))
                .where(t.households.c.kk_number == bindparam("kk"))
            ),
        )
        row = session.execute(stmt, {"kk": kk_number}).first()
        if row is None:
            raise PersonNotFound(self.source, kk_number)
        stmt = _statement(
            "company_roles",
            lambda: (
                select(t.company_roles)
                .where(t.company_roles.c.nik.in_(select(t.people.c.nik).where(t.people.c.kk_number == bindparam("kk"))))
                .order_by(t.company_roles.c.nik, t.company_roles.c.id)
            ),
        )
        return self._record_raw(kk_number, row, session.execute(stmt, {"kk": kk_number}).all())

    def lookup_household(self, kk_number: str) -> AssetRecord:
        """Return the assets registered to this family and its members."""
        kk_number = _key(kk_number)
        return self._answer(kk_number, lambda: self._raw(kk_number), parse_asset_record, "electricity_va")


class SandboxCivilServiceRegistry(_PersonSource, CivilServiceRegistry):
    """Civil-service categories answered from ``sandbox_civil_service``."""

    source = CivilServiceRegistry.source
    table = t.civil_service
    columns = ("nik", "category")
    required_field = "category"

    def _answer_for(self, nik, row) -> dict:
        return {"nik": nik, "category": row.category if row.nik is not None else None}

    def lookup(self, nik: str) -> CivilServiceRecord:
        """Return this person's civil-service category, if any."""
        return self._lookup_one(nik, parse_civil_service_record)

    def lookup_household(self, niks) -> list[CivilServiceRecord]:
        """Return the category of each of these people, in order, from one query."""
        return self._lookup_many(niks, parse_civil_service_record)

    def batch_lookup(self, households) -> dict:
        """{tuple of NIKs: call} from one query; each call returns what ``lookup_household`` would."""
        return self._batch([tuple(h) for h in households], parse_civil_service_record, many=True)
