"""Write a synthetic population of Banyuwangi as registry extract workbooks."""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from openpyxl import Workbook

from integrations.sandbox import extracts as x
from integrations.sandbox.population import Household, PopulationSynthesiser

# Reference photos (files in the shared faces folder) and the sex of the person shown.
DEFAULT_PHOTO_PEOPLE = (
    ("obama.jpg", "M"),
    ("biden.jpg", "M"),
    ("alex_lacamoire1.jpg", "M"),
    ("kit_harington1.jpeg", "M"),
    ("rose_leslie1.jpg", "F"),
)
DEFAULT_AS_OF = date(2025, 6, 30)
DEFAULT_MINIMUM_WAGE = 2_810_000  # UMK Banyuwangi 2025, rupiah per month
PERSONAS_FILE = "personas.json"
# Civil-service categories of the "civil servant household" ground (processes/eligibility.dmn).
CIVIL_SERVANT_CATEGORIES = ("ASN", "TNI", "POLRI", "PENSIUNAN")
PERSONA_KINDS = (
    "eligible_head_with_photo",
    "eligible_head_without_photo",
    "eligible_family_with_children",
    "civil_servant",
    "civil_servant_poor_family",
    "deceased",
    "high_wage",
    "not_in_dtsen",
    "rich_decile",
    "four_wheel_vehicle",
    "large_electricity",
    "company_owner",
)


@dataclass
class GenerationReport:
    """What a generation run wrote: counts, files and example NIKs per notable kind."""

    out_dir: Path
    people: int = 0
    households: int = 0
    rows: dict = field(default_factory=dict)  # "workbook/sheet" -> data rows written
    personas: dict = field(default_factory=dict)  # kind -> NIK
    # kind -> {"nik", "birth_date" (ISO), "name"}: what the portal's sandbox sign-in asks for
    sign_in: dict = field(default_factory=dict)
    photo_holders: dict = field(default_factory=dict)  # NIK -> photo file


def household_is_clean(hh: Household, minimum_wage: int, *, ignore_civil_service: bool = False) -> bool:
    """Tell whether no exclusion ground touches this family (ignoring the decile)."""
    return (
        hh.head["alive"]
        and (ignore_civil_service or not hh.civil_service)
        and not hh.company_roles
        and all(wage <= minimum_wage for _, wage, _ in hh.employment)
        and hh.four_wheel_vehicles == 0
        and (hh.electricity_va < 900 or hh.electricity_subsidised)
    )


class _PersonaCollector:
    """Keeps the first NIK seen of each notable kind, and hands out reference photos."""

    def __init__(self, photo_people, minimum_wage: int):
        self.photos = [p if isinstance(p, tuple) else (p, None) for p in photo_people]
        self.minimum_wage = minimum_wage
        self.personas: dict[str, str] = {}
        self.sign_in: dict[str, dict] = {}
        self._members: dict[str, dict] = {}  # NIK -> member, of the household being seen
        self.photo_holders: dict[str, str] = {}
        self._used: set[str] = set()

    def _keep(self, kind: str, nik: str) -> None:
        # One person per kind, so a demo of one exclusion ground is not blurred by another.
        if kind not in self.personas and nik not in self._used:
            self.personas[kind] = nik
            self._used.add(nik)
            person = self._members[nik]
            self.sign_in[kind] = {"nik": nik, "birth_date": person["birth_date"].isoformat(), "name": person["name"]}

    def _give_photo(self, hh: Household) -> None:
        adults = [m for m in hh.members if m["alive"] and 18 <= m["age"] <= 69]
        for index, (photo, sex) in enumerate(self.photos):
            holder = next((m for m in adults if sex in (None, m["sex"])), None)
            if holder is not None:
                holder["photo_ref"] = photo
                self.photo_holders[holder["nik"]] = photo
                del self.photos[index]
                return

    def see(self, hh: Household) -> None:
        self._members = {m["nik"]: m for m in hh.members}
        head = hh.head
        clean = household_is_clean(hh, self.minimum_wage)
        low = hh.decile is not None and hh.decile <= 4
        if clean and low and self.photos:
            self._give_photo(hh)
        if clean and low and head["alive"]:
            self._keep("eligible_head_with_photo" if head["photo_ref"] else "eligible_head_without_photo", head["nik"])
            if any(m["school_level"] or m["age"] <= 6 for m in hh.members if m["alive"]):
                self._keep("eligible_family_with_children", head["nik"])
        for nik, category in hh.civil_service:
            if category in ("ASN", "TNI", "POLRI"):
                self._keep("civil_servant", nik)
        if (
            hh.civil_service
            and low
            and all(c in CIVIL_SERVANT_CATEGORIES for _, c in hh.civil_service)
            and household_is_clean(hh, self.minimum_wage, ignore_civil_service=True)
        ):
            # A poor family excluded on the civil-service ground alone: the appeal demo (an overturn
            # of that one ground leaves a family the programmes still take).
            self._keep("civil_servant_poor_family", head["nik"])
        for nik, wage, _ in hh.employment:
            if wage > self.minimum_wage:
                self._keep("high_wage", nik)
        for nik, role, _ in hh.company_roles:
            if role == "OWNER":
                self._keep("company_owner", nik)
        for member in hh.members:
            if not member["alive"]:
                self._keep("deceased", member["nik"])
        if head["alive"]:
            if hh.decile is None:
                self._keep("not_in_dtsen", head["nik"])
            elif hh.decile >= 9:
                self._keep("rich_decile", head["nik"])
            if hh.four_wheel_vehicles:
                self._keep("four_wheel_vehicle", head["nik"])
            if hh.electricity_va >= 900 and not hh.electricity_subsidised:
                self._keep("large_electricity", head["nik"])


def _person_row(m: dict, hh: Household) -> tuple:
    return (
        m["nik"],
        hh.kk_number,
        m["name"],
        x.SEX_LABELS[m["sex"]],
        m["birth_date"],
        x.RELATION_LABELS[m["relation"]],
        hh.district.code,
        hh.district.name,
        hh.village,
        hh.address,
        x.ALIVE_LABELS[m["alive"]],
        m["death_date"],
        x.YES_NO[m["disability"]],
        x.YES_NO[m["pregnant"]],
        m["school_level"],
        m["photo_ref"],
    )


def _household_rows(hh: Household):
    """Yield (layout, row) for every extract row this household contributes."""
    for member in hh.members:
        yield x.PEOPLE, _person_row(member, hh)
    yield x.HOUSEHOLDS, (hh.kk_number, hh.district.code, hh.village, hh.head["nik"])
    if hh.decile is not None:
        yield x.DTSEN, (hh.kk_number, hh.decile, hh.dtsen_updated)
    for nik, segment, active in hh.health:
        yield x.BPJS_HEALTH, (nik, segment, x.ACTIVE_LABELS[active])
    for nik, wage, employer in hh.employment:
        yield x.BPJS_EMPLOYMENT, (nik, wage, employer)
    yield x.ASSETS, (hh.kk_number, hh.four_wheel_vehicles, hh.electricity_va, x.YES_NO[hh.electricity_subsidised])
    for nik, role, company in hh.company_roles:
        yield x.COMPANY_ROLES, (nik, x.ROLE_LABELS[role], company)
    for nik, category in hh.civil_service:
        yield x.CIVIL_SERVICE, (nik, category)


def generate_population(
    n_people: int,
    seed: int,
    out_dir,
    photo_people=DEFAULT_PHOTO_PEOPLE,
    as_of: date = DEFAULT_AS_OF,
    minimum_wage: int = DEFAULT_MINIMUM_WAGE,
) -> GenerationReport:
    """Write the extract workbooks and personas.json for ``n_people`` people; same seed, same data.

    ``photo_people`` lists reference-photo file names, or (file name, 'F'|'M') pairs, given to living
    adults of low-decile families without exclusion grounds (everyone else has no photo).
    """
    if not 1 <= n_people <= 1_000_000:
        raise ValueError("n_people must be between 1 and 1,000,000.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = GenerationReport(out_dir=out)
    collector = _PersonaCollector(photo_people, minimum_wage)
    workbooks: dict[str, Workbook] = {}
    sheets = {}
    for layout in x.ALL_SHEETS:
        # Write-only workbooks stream rows to temporary files: memory stays flat at 1M people.
        wb = workbooks.setdefault(layout.workbook, Workbook(write_only=True))
        sheets[layout] = wb.create_sheet(layout.sheet)
        sheets[layout].append(layout.columns)
        report.rows[f"{layout.workbook}/{layout.sheet}"] = 0
    with ExitStack() as stack:
        for wb in workbooks.values():
            stack.callback(wb.close)
        for hh in PopulationSynthesiser(seed, as_of).households(n_people):
            collector.see(hh)
            report.households += 1
            report.people += len(hh.members)
            for layout, row in _household_rows(hh):
                sheets[layout].append(row)
                report.rows[f"{layout.workbook}/{layout.sheet}"] += 1
        for name, wb in workbooks.items():
            wb.save(out / name)
    report.personas = {k: collector.personas[k] for k in PERSONA_KINDS if k in collector.personas}
    report.sign_in = {k: collector.sign_in[k] for k in report.personas}
    report.photo_holders = dict(collector.photo_holders)
    (out / PERSONAS_FILE).write_text(
        json.dumps(
            {
                "seed": seed,
                "people": report.people,
                "households": report.households,
                "personas": report.personas,
                "sign_in": report.sign_in,
                "photo_holders": report.photo_holders,
            },
            indent=2,
            sort_keys=True,
        )
    )
    return report


def load_personas(out_dir) -> dict:
    """Return the personas.json written by generate_population in this folder."""
    return json.loads((Path(out_dir) / PERSONAS_FILE).read_text())
