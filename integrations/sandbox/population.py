"""Synthetic households of Banyuwangi, one at a time, deterministic for a seed.

Proportions follow the domain notes: ~2.4 people per family card, DTSEN deciles roughly uniform with
~8% of families unranked, PBI health cover for the poorer deciles, wages rising with the decile,
~1-2% state employees, ~1% deceased still on their family card, assets in the richer deciles.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate

import numpy as np

from integrations.nik import nik_day_code
from integrations.sandbox.extracts import DISTRICTS, REGENCY_CODE, District

MALE_NAMES = (
    "AGUS",
    "BUDI",
    "SLAMET",
    "SUGENG",
    "JOKO",
    "BAMBANG",
    "EKO",
    "HADI",
    "WAHYU",
    "IMAM",
    "AHMAD",
    "MUHAMMAD",
    "SUPRIYADI",
    "SUTRISNO",
    "RUDI",
    "HERU",
    "YUSUF",
    "RIZKY",
    "FAJAR",
    "DIMAS",
    "BAGUS",
    "SUPARMAN",
    "MISNADI",
    "SAMSUL",
    "ABDUL",
    "ARIF",
    "DENI",
    "HENDRA",
    "ILHAM",
    "KUSNADI",
)
FEMALE_NAMES = (
    "SITI",
    "SRI",
    "DEWI",
    "NUR",
    "ENDANG",
    "WAHYUNI",
    "RINA",
    "LESTARI",
    "ANI",
    "YULIANA",
    "INDAH",
    "RATNA",
    "SULASTRI",
    "SUWARNI",
    "KARTINI",
    "FITRI",
    "AISYAH",
    "PUTRI",
    "NABILA",
    "DIAN",
    "MISNATUN",
    "SUPIYAH",
    "ROSITA",
    "UMI",
    "HALIMAH",
    "NINGSIH",
    "TITIK",
    "WINARSIH",
)
SECOND_NAMES = (
    "SANTOSO",
    "WIBOWO",
    "HIDAYAT",
    "SAPUTRA",
    "SETIAWAN",
    "PRASETYO",
    "KURNIAWAN",
    "RAHAYU",
    "HANDAYANI",
    "SUSANTI",
    "WATI",
    "NINGRUM",
    "FAUZI",
    "MAULANA",
    "FIRMANSYAH",
    "ANGGRAENI",
)
HAMLETS = ("KRAJAN", "SUMBERSARI", "TEGALREJO", "KARANGANYAR", "SUMBERAGUNG", "PANCER", "BALUNGAN")
COMPANY_WORDS = (
    "SINAR",
    "SAMUDRA",
    "BLAMBANGAN",
    "OSING",
    "TANI",
    "MAKMUR",
    "JAYA",
    "ABADI",
    "SENTOSA",
    "BAHARI",
    "IJEN",
    "AGUNG",
    "MANDIRI",
    "LESTARI",
    "PRIMA",
    "NUSA",
)
CIVIL_CATEGORIES = (
    ("ASN", 40),
    ("GURU_SERTIFIKASI", 16),
    ("TNI", 8),
    ("POLRI", 8),
    ("PERANGKAT_DESA", 14),
    ("NAKES_SERTIFIKASI", 7),
    ("PEGAWAI_BUMN_BUMD", 7),
)
# Family size 1..7: mean ~2.4, close to 1.63M people on 680k family cards.
SIZE_WEIGHTS = (32, 28, 19, 12, 6, 2, 1)
_CUM_SIZES = tuple(accumulate(SIZE_WEIGHTS))
_CUM_DISTRICTS = tuple(accumulate(d.weight for d in DISTRICTS))
_CUM_CIVIL = tuple(accumulate(w for _, w in CIVIL_CATEGORIES))
# Probability of a car in the family, by welfare decile 1..10.
_CAR_RATE = (0.01, 0.01, 0.02, 0.03, 0.06, 0.10, 0.18, 0.28, 0.42, 0.60)


@dataclass
class Household:
    """One synthetic family card with every registry's view of it."""

    kk_number: str
    district: District
    village: str
    address: str
    decile: int | None  # None: not ranked in DTSEN
    dtsen_updated: date | None
    members: list[dict] = field(default_factory=list)
    four_wheel_vehicles: int = 0
    electricity_va: int = 450
    electricity_subsidised: bool = True
    health: list[tuple] = field(default_factory=list)  # (nik, segment, active)
    employment: list[tuple] = field(default_factory=list)  # (nik, monthly_wage, employer)
    civil_service: list[tuple] = field(default_factory=list)  # (nik, category)
    company_roles: list[tuple] = field(default_factory=list)  # (nik, role, company)

    @property
    def head(self) -> dict:
        """Return the head of the family (the first member)."""
        return self.members[0]


class PopulationSynthesiser:
    """Makes households one by one; holds only fixed-size counters, so 1M people fit in memory."""

    def __init__(self, seed: int, as_of: date):
        self.rng = random.Random(seed)
        self.as_of = as_of
        # NIK serial counters per district, sex, two-digit year, month and day (unique NIKs).
        self._nik_serials = np.zeros((len(DISTRICTS) + 1, 2, 100, 13, 32), dtype=np.uint16)
        self._kk_start = date(2005, 1, 1)
        span = (as_of - self._kk_start).days + 1
        self._kk_serials = np.zeros((len(DISTRICTS) + 1, span), dtype=np.uint16)
        # DTSEN is refreshed quarterly: families carry one of the last four update dates.
        quarter_start = date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
        self._dtsen_dates = [_months_before(quarter_start, 3 * q) for q in range(4)]

    def households(self, n_people: int) -> Iterator[Household]:
        """Yield households until exactly ``n_people`` people were made."""
        remaining = n_people
        while remaining > 0:
            size = min(remaining, self.rng.choices(range(1, 8), cum_weights=_CUM_SIZES)[0])
            yield self._household(size)
            remaining -= size

    # -- identity -------------------------------------------------------------------------
    def _nik(self, district: District, born: date, sex: str) -> str:
        index = (int(district.code), int(sex == "F"), born.year % 100, born.month, born.day)
        serial = int(self._nik_serials[index]) + 1
        if serial > 9999:
            raise OverflowError("More than 9999 people share a district, sex and birth date.")
        self._nik_serials[index] = serial
        return f"{REGENCY_CODE}{district.code}{nik_day_code(born, sex)}{serial:04d}"

    def _kk_number(self, district: District) -> str:
        offset = self.rng.randrange(self._kk_serials.shape[1])
        issued = self._kk_start + timedelta(days=offset)
        serial = int(self._kk_serials[int(district.code), offset]) + 1
        if serial > 9999:
            raise OverflowError("More than 9999 family cards issued on one day in one district.")
        self._kk_serials[int(district.code), offset] = serial
        return f"{REGENCY_CODE}{district.code}{issued:%d%m%y}{serial:04d}"

    def _name(self, sex: str) -> str:
        first = self.rng.choice(MALE_NAMES if sex == "M" else FEMALE_NAMES)
        return f"{first} {self.rng.choice(SECOND_NAMES)}" if self.rng.random() < 0.6 else first

    def _born(self, age: int) -> date:
        return self.as_of - timedelta(days=int(age * 365.25) + self.rng.randrange(365))

    def _person(self, hh: Household, relation: str, sex: str, age: int) -> dict:
        rng = self.rng
        age = max(0, min(age, 95))
        born = self._born(age)
        dead = rng.random() < (0.06 if age >= 75 else 0.02 if age >= 60 else 0.003)
        death_date = None
        if dead:
            death_date = self.as_of - timedelta(days=rng.randrange(1, 3 * 365))
            death_date = max(death_date, born + timedelta(days=1))
        alive = not dead
        school = None
        if alive:
            for low, high, level, rate in ((7, 12, "SD", 0.97), (13, 15, "SMP", 0.9), (16, 18, "SMA", 0.75)):
                if low <= age <= high and rng.random() < rate:
                    school = level
        pregnant = alive and sex == "F" and 18 <= age <= 42 and relation in ("ISTRI", "KEPALA") and rng.random() < 0.06
        return {
            "nik": self._nik(hh.district, born, sex),
            "kk_number": hh.kk_number,
            "name": self._name(sex),
            "sex": sex,
            "birth_date": born,
            "relation": relation,
            "age": age,
            "alive": alive,
            "death_date": death_date,
            "disability": rng.random() < 0.012 + 0.00035 * age,
            "pregnant": pregnant,
            "school_level": school,
            "photo_ref": None,
        }

    # -- family composition -----------------------------------------------------------------
    def _household(self, size: int) -> Household:
        rng = self.rng
        district = DISTRICTS[rng.choices(range(len(DISTRICTS)), cum_weights=_CUM_DISTRICTS)[0]]
        ranked = rng.random() >= 0.08
        decile = rng.randint(1, 10) if ranked else None
        hh = Household(
            kk_number=self._kk_number(district),
            district=district,
            village=rng.choice(district.villages),
            address=f"DUSUN {rng.choice(HAMLETS)} RT {rng.randint(1, 12):03d} RW {rng.randint(1, 6):03d}",
            decile=decile,
            dtsen_updated=rng.choice(self._dtsen_dates) if ranked else None,
        )
        head_sex = "M" if rng.random() < 0.85 else "F"
        head_age = int(rng.triangular(19, 90, 42))
        hh.members.append(self._person(hh, "KEPALA", head_sex, head_age))
        mother_age = head_age if head_sex == "F" else None
        if size >= 2 and head_sex == "M" and rng.random() < 0.88:
            mother_age = max(17, head_age - int(rng.gauss(3, 4)))
            hh.members.append(self._person(hh, "ISTRI", "F", mother_age))
        if size >= 4 and head_age <= 65 and rng.random() < 0.15:
            relation = rng.choice(("ORANG_TUA", "MERTUA"))
            hh.members.append(self._person(hh, relation, rng.choice("MF"), head_age + rng.randint(20, 30)))
        parent_age = mother_age or head_age
        while len(hh.members) < size:
            sex = rng.choice("MF")
            if parent_age >= 55 and rng.random() < 0.35:
                hh.members.append(self._person(hh, "CUCU", sex, rng.randint(0, 14)))
            else:
                oldest = max(0, min(parent_age - 18, 30))
                hh.members.append(self._person(hh, "ANAK", sex, rng.randint(0, oldest)))
        self._registries(hh)
        return hh

    # -- what the other registries hold --------------------------------------------------------
    def _registries(self, hh: Household) -> None:
        rng = self.rng
        # Unranked families are spread over the whole welfare range.
        welfare = hh.decile or rng.randint(1, 10)
        self._assets(hh, welfare)
        pbi_family = hh.decile is not None and hh.decile <= 5 and rng.random() < 0.88
        for person in hh.members:
            if not person["alive"]:
                # Registries other than Dukcapil often still list the dead: keep some records.
                if rng.random() < 0.5:
                    continue
            age = person["age"]
            category = None
            if 20 <= age <= 57 and rng.random() < 0.001 + 0.003 * welfare:
                category = CIVIL_CATEGORIES[rng.choices(range(7), cum_weights=_CUM_CIVIL)[0]][0]
            elif age >= 58 and rng.random() < 0.005 + 0.005 * welfare:
                category = "PENSIUNAN"
            if category:
                hh.civil_service.append((person["nik"], category))
            employed = category is None and 18 <= age <= 60 and rng.random() < 0.03 + 0.05 * (welfare - 1)
            if employed:
                median = 1_100_000 + 480_000 * (welfare - 1)
                wage = max(500_000, round(median * math.exp(rng.gauss(0, 0.35)), -3))
                hh.employment.append((person["nik"], int(wage), self._company()))
            if 25 <= age <= 70 and rng.random() < 0.0005 * welfare**1.5:
                role = "OWNER" if rng.random() < 0.7 else "DIRECTOR"
                hh.company_roles.append((person["nik"], role, self._company()))
            segment = self._health_segment(pbi_family, category, employed, welfare)
            if segment:
                active = rng.random() < (0.97 if segment in ("PBI", "PPU", "BP") else 0.8)
                hh.health.append((person["nik"], segment, active))

    def _health_segment(self, pbi_family: bool, category, employed: bool, welfare: int) -> str | None:
        if pbi_family:
            return "PBI"
        if category == "PENSIUNAN":
            return "BP"
        if category or employed:
            return "PPU"
        return "PBPU" if self.rng.random() < 0.35 + 0.05 * welfare else None

    def _assets(self, hh: Household, welfare: int) -> None:
        rng = self.rng
        options: tuple[tuple[int, bool, int], ...]
        if welfare <= 3:
            options = ((450, True, 70), (900, True, 30))
        elif welfare <= 6:
            options = ((450, True, 30), (900, True, 45), (900, False, 20), (1300, False, 5))
        elif welfare <= 8:
            options = ((900, True, 15), (900, False, 35), (1300, False, 35), (2200, False, 15))
        else:
            options = ((900, False, 15), (1300, False, 35), (2200, False, 35), (3500, False, 10), (5500, False, 5))
        va, subsidised, _ = rng.choices(options, weights=[o[2] for o in options])[0]
        hh.electricity_va, hh.electricity_subsidised = va, subsidised
        if rng.random() < _CAR_RATE[welfare - 1]:
            hh.four_wheel_vehicles = 1 if rng.random() < 0.8 else 2

    def _company(self) -> str:
        words = self.rng.sample(COMPANY_WORDS, 2)
        return f"{self.rng.choice(('PT', 'PT', 'CV', 'UD'))} {words[0]} {words[1]}"


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)
