"""Programmes and cycles as configuration: `processes/payment_schedule.toml`, loaded and checked here."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

KINDS = ("annual", "monthly")
CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9-]{2,39}$")
MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")
CATEGORY_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,40}$")
FILE_NAME = "payment_schedule.toml"
DEFAULT_RUNWAY_MONTHS = 3  # warn when a programme has no cycle paying one of the months this far ahead


class ScheduleInvalid(ValueError):
    """The schedule file breaks a rule; `problems` lists every finding."""

    def __init__(self, problems):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Programme:
    code: str
    name: str
    kind: str  # annual | monthly
    components: dict  # category -> whole rupiah (per year or per month, by kind)
    caps: dict  # category -> most units per family
    # Arrears (rapel) for a family whose rejection or exit was overturned on appeal: the stages it missed
    # since its application (or exit), at most this many; 0 = the programme pays no arrears.
    arrears_max_stages: int = 0

    def amount_per_unit(self, category, months):
        """Whole rupiah one unit of `category` gets in a cycle of `months` months."""
        amount = self.components[category]
        return amount * months // 12 if self.kind == "annual" else amount * months


@dataclass(frozen=True)
class CycleSpec:
    code: str
    programme: str
    months: tuple
    cut_off: date
    # A supplementary (susulan) cycle: the same stage as the cycle named here, for the families enrolled
    # since (late enrolment, an appeal overturned) who were not on that cycle's list.
    supplements: str | None = None


@dataclass(frozen=True)
class CommitmentRule:
    """PKH commitments (verifikasi komitmen), `[commitments]` in the schedule file."""

    programme: str = "PKH"
    school_attendance_min: int = 85  # percent of school days attended in the quarter
    warn_after: int = 1  # non-compliant quarters in a row that give a warning (still paid)
    suspend_after: int = 2  # non-compliant quarters in a row that suspend the component (not paid)
    # component -> what is checked: "school" (attendance percent) or "health" (check done)
    categories: tuple = (
        ("SD", "school"),
        ("SMP", "school"),
        ("SMA", "school"),
        ("pregnant", "health"),
        ("child_0_6", "health"),
    )

    def kind(self, category):
        return dict(self.categories).get(category)

    def compliant(self, category, attendance=None, checked=None):
        """Whether one quarter's check of one member meets the commitment of its component."""
        if self.kind(category) == "school":
            return attendance is not None and attendance >= self.school_attendance_min
        return bool(checked)


@dataclass(frozen=True)
class Schedule:
    return_after_days: int
    programmes: dict  # code -> Programme
    cycles: dict  # code -> CycleSpec
    commitments: CommitmentRule | None = None
    # How many months ahead (after the current one) every programme must have a cycle paying each month;
    # `runway_gaps` names the programmes that do not (`warn_months_ahead` in the file).
    runway_months: int = DEFAULT_RUNWAY_MONTHS

    def runway_gaps(self, today, months=None):
        """[(programme, [uncovered months "YYYY-MM"])] for the months from today's to `months` months ahead.

        A month is covered for a programme when one of its cycles (a regular one or a supplement) pays it.
        Empty when every programme can be paid up to then: the schedule must be extended before it runs out.
        """
        ahead = self.runway_months if months is None else months
        window = [_month_after(today, step) for step in range(ahead + 1)]
        covered = {}
        for spec in self.cycles.values():
            covered.setdefault(spec.programme, set()).update(spec.months)
        gaps = []
        for code in sorted(self.programmes):
            missing = [month for month in window if month not in covered.get(code, set())]
            if missing:
                gaps.append((code, missing))
        return gaps

    def rates(self, cycle_code):
        """[(programme, category, amount per unit, cap)] a cycle pays."""
        spec = self.cycles[cycle_code]
        programme = self.programmes[spec.programme]
        return [
            (
                programme.code,
                category,
                programme.amount_per_unit(category, len(spec.months)),
                programme.caps.get(category),
            )
            for category in sorted(programme.components)
        ]


def _month_after(day, steps):
    """The month `steps` months after the month of `day`, as "YYYY-MM"."""
    index = day.year * 12 + day.month - 1 + steps
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def parse_schedule(text):
    """Return the Schedule of a TOML text, or raise ScheduleInvalid listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleInvalid([f"not valid TOML: {exc}"]) from exc
    problems = []
    days = raw.get("return_after_days", 105)
    if not _positive_int(days) or days > 3660:
        problems.append("return_after_days must be a whole number of days from 1 to 3660")
    runway = raw.get("warn_months_ahead", DEFAULT_RUNWAY_MONTHS)
    if not isinstance(runway, int) or isinstance(runway, bool) or not 0 <= runway <= 24:
        problems.append("warn_months_ahead must be a whole number of months from 0 to 24")
        runway = DEFAULT_RUNWAY_MONTHS
    programmes = {}
    for code, entry in (raw.get("programmes") or {}).items():
        where = f"programme {code}"
        if not CODE_PATTERN.match(code) or not isinstance(entry, dict):
            problems.append(f"{where}: the code must be capitals, digits and '-' (3-40 characters)")
            continue
        kind = entry.get("kind")
        if kind not in KINDS:
            problems.append(f"{where}: kind must be one of {', '.join(KINDS)}")
        components = entry.get("components") or {}
        if not isinstance(components, dict) or not components:
            problems.append(f"{where}: needs at least one component with an amount")
            components = {}
        for category, amount in components.items():
            if not CATEGORY_PATTERN.match(category):
                problems.append(f"{where}: component name {category!r} must be letters, digits and '_'")
            if not _positive_int(amount):
                problems.append(f"{where}: component {category} needs a positive whole number of rupiah")
        caps = entry.get("caps") or {}
        for category, cap in caps.items():
            if category not in components:
                problems.append(f"{where}: cap for unknown component {category}")
            if not _positive_int(cap):
                problems.append(f"{where}: the cap of {category} must be a positive whole number")
        arrears, max_stages = entry.get("arrears", False), entry.get("arrears_max_stages", 4)
        if not isinstance(arrears, bool):
            problems.append(f"{where}: arrears must be true or false")
            arrears = False
        if arrears and (not _positive_int(max_stages) or max_stages > 24):
            problems.append(f"{where}: arrears_max_stages must be a whole number of stages from 1 to 24")
            max_stages = 0
        programmes[code] = Programme(
            code, str(entry.get("name") or code), kind, dict(components), dict(caps), max_stages if arrears else 0
        )
    cycles = {}
    for index, entry in enumerate(raw.get("cycles") or []):
        code = entry.get("code") if isinstance(entry, dict) else None
        where = f"cycle {code or index + 1}"
        if not isinstance(code, str) or not CODE_PATTERN.match(code):
            problems.append(f"{where}: the code must be capitals, digits and '-' (3-40 characters)")
            continue
        if code in cycles:
            problems.append(f"{where}: the code is used twice")
        programme = programmes.get(entry.get("programme"))
        if programme is None:
            problems.append(f"{where}: unknown programme {entry.get('programme')!r}")
        months = entry.get("months") or []
        good = []
        for month in months:
            match = MONTH_PATTERN.match(month) if isinstance(month, str) else None
            if not match or not 1 <= int(match.group(2)) <= 12:
                problems.append(f"{where}: {month!r} is not a month (YYYY-MM)")
            else:
                good.append(month)
        if not months or len(set(months)) != len(months) or len(months) > 12:
            problems.append(f"{where}: give 1 to 12 different months")
        try:
            cut_off = date.fromisoformat(str(entry.get("cut_off")))
        except ValueError:
            problems.append(f"{where}: cut_off must be a date (YYYY-MM-DD)")
            cut_off = None
        if programme is not None and programme.kind == "annual":
            for category, amount in programme.components.items():
                if amount * len(months) % 12:
                    problems.append(
                        f"{where}: {category} {amount} a year does not divide into whole rupiah "
                        f"over {len(months)} months"
                    )
        supplements = entry.get("supplements")
        if supplements is not None and not isinstance(supplements, str):
            problems.append(f"{where}: supplements must name a cycle")
            supplements = None
        cycles[code] = CycleSpec(code, entry.get("programme"), tuple(good), cut_off, supplements)
    for spec in cycles.values():
        # An arrears line names its stage ("rapel:<code>" in a 40-character category).
        programme = programmes.get(spec.programme)
        if programme is not None and programme.arrears_max_stages and len(spec.code) > 34:
            problems.append(f"cycle {spec.code}: with arrears, a cycle code has at most 34 characters")
    for spec in cycles.values():
        if spec.supplements is None:
            continue
        main = cycles.get(spec.supplements)
        if main is None or main.supplements is not None:
            problems.append(f"cycle {spec.code}: supplements {spec.supplements!r}, which is not a regular cycle")
        elif (main.programme, main.months) != (spec.programme, spec.months):
            problems.append(f"cycle {spec.code}: a supplement pays the same programme and months as {main.code}")
        elif spec.cut_off is not None and main.cut_off is not None and spec.cut_off <= main.cut_off:
            problems.append(f"cycle {spec.code}: its cut-off must be after {main.code}'s")
    commitments = _commitments(raw.get("commitments"), programmes, problems)
    if problems:
        raise ScheduleInvalid(problems)
    return Schedule(days, programmes, cycles, commitments, runway)


def _commitments(entry, programmes, problems):
    """The [commitments] table, checked; None when the file has none."""
    if entry is None:
        return None
    if not isinstance(entry, dict):
        problems.append("commitments must be a table")
        return None
    programme = entry.get("programme", "PKH")
    if programme not in programmes:
        problems.append(f"commitments: unknown programme {programme!r}")
    minimum = entry.get("school_attendance_min", 85)
    if not _positive_int(minimum) or minimum > 100:
        problems.append("commitments: school_attendance_min must be a percent from 1 to 100")
    warn, suspend = entry.get("warn_after", 1), entry.get("suspend_after", 2)
    if not _positive_int(warn) or not _positive_int(suspend) or suspend < warn:
        problems.append(
            "commitments: warn_after and suspend_after must be positive whole numbers, "
            "suspend_after not below warn_after"
        )
    categories = entry.get("categories") or dict(CommitmentRule.categories)
    for category, kind in categories.items():
        if kind not in ("school", "health"):
            problems.append(f"commitments: {category} must be checked as 'school' or 'health'")
        elif programme in programmes and category not in programmes[programme].components:
            problems.append(f"commitments: {category} is not a component of {programme}")
    return CommitmentRule(programme, minimum, warn, suspend, tuple(sorted(categories.items())))


@lru_cache(maxsize=8)
def _parsed(text):
    # A Schedule is frozen and nobody changes its mappings: one parse per distinct text. Each enrolment reads
    # the schedule for its payment plan; parsing and checking the TOML cost more than the rest of the plan.
    return parse_schedule(text)


def load_schedule(folder):
    """Read and check the schedule file of the process folder (read every time: an edit counts at once)."""
    path = Path(folder) / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScheduleInvalid([f"{path.name}: cannot be read ({exc.__class__.__name__})"]) from exc
    return _parsed(text)


def runway_warnings(folder, today, months=None):
    """The runway check of the schedule file of `folder`: [(programme, [uncovered months])].

    An unreadable schedule gives no gaps here (the schedule's own check reports it).
    """
    try:
        schedule = load_schedule(folder)
    except ScheduleInvalid:
        return []
    return schedule.runway_gaps(today, months)
