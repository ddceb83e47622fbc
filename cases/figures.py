"""Public figures: aggregate counts per district and village, with small cells suppressed.

Nothing here names a person: the database is asked for counts grouped by district and village
(one GROUP BY over applications, one over appeals), and village cells under the threshold are
replaced before anything leaves this module.

Small-cell protection. A village count of 1 to threshold-1 is published as "<5" (primary
suppression). Because the village rows add up to the district totals, and a row's categories add up
to its registrations, a single hidden cell in such a sum could be worked out by subtraction; so
where a sum has exactly one hidden cell, another cell of that sum is hidden too (secondary
suppression): a zero if there is one (published as "<5" too, which stays true: 0 is fewer than 5),
else the smallest other count (published as "*"). Averages of days to a decision are published for
a village only when at least `threshold` decisions were made there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import case, func, select

from engine.db import utcnow

from .models import Appeal, Application
from .statuses import APPROVED_STATUSES, REJECTED_STATUSES, REMOVED_STATUSES

# Statuses in each published category: cases/statuses.py; every other status counts as "in review".
# The categories add up to `registered`.
CATEGORIES = ("approved", "rejected", "in_review", "removed")
COUNTS = ("registered", *CATEGORIES, "appeals")
HIDDEN = "*"  # a larger count hidden so that a suppressed cell cannot be computed from a total
UNKNOWN_VILLAGE = ""  # cases whose civil-registry answer has not arrived (or had no village)


@dataclass
class Area:
    """Counts of one district, one village, or the whole regency; cells may be suppressed text."""

    code: str | None
    name: str
    registered: int | str = 0
    approved: int | str = 0
    rejected: int | str = 0
    in_review: int | str = 0
    removed: int | str = 0
    appeals: int | str = 0
    avg_days_to_decision: float | str | None = None
    decided: int = field(default=0, repr=False)
    days_total: float = field(default=0.0, repr=False)
    villages: list = field(default_factory=list)

    def as_dict(self, with_villages=True):
        """Return the published fields as plain JSON (no internal sums)."""
        out = {
            "code": self.code,
            "name": self.name,
            **{k: getattr(self, k) for k in COUNTS},
            "avg_days_to_decision": self.avg_days_to_decision,
        }
        if with_villages and self.villages:
            out["villages"] = [v.as_dict(False) for v in self.villages]
        return out


@dataclass
class Figures:
    """The whole publication: regency totals, districts, their villages, and when it was computed."""

    computed_at: object
    threshold: int
    total: Area
    districts: list

    def as_dict(self):
        """Return everything as plain JSON."""
        return {
            "computed_at": self.computed_at.isoformat(),
            "threshold": self.threshold,
            "total": self.total.as_dict(False),
            "districts": [d.as_dict() for d in self.districts],
        }


def suppressed_text(threshold):
    """How a count under the threshold is published: "<5" for a threshold of 5."""
    return f"<{threshold}"


def _days_between(dialect, start, end):
    """SQL for the days from `start` to `end` (fractional) on this database."""
    if dialect == "postgresql":
        return func.extract("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


def _count_if(condition):
    return func.sum(case((condition, 1), else_=0))


def _village_rows(session):
    """One row per (district, village): counts per category and the days to decision, summed."""
    a = Application
    dialect = session.get_bind().dialect.name
    decided = a.decided_at.is_not(None)
    # Grouped on the plain columns (NULL villages form one group), so the database reads
    # ix_applications_place in order instead of sorting.
    query = select(
        a.district_code,
        a.village,
        func.max(a.district_name).label("district_name"),
        func.count().label("registered"),
        _count_if(a.status.in_(APPROVED_STATUSES)).label("approved"),
        _count_if(a.status.in_(REJECTED_STATUSES)).label("rejected"),
        _count_if(a.status.in_(REMOVED_STATUSES)).label("removed"),
        _count_if(decided).label("decided"),
        func.sum(case((decided, _days_between(dialect, a.created_at, a.decided_at)), else_=0.0)).label("days_total"),
    ).group_by(a.district_code, a.village)
    return session.execute(query).all()


def _appeal_rows(session):
    query = (
        select(Application.district_code, Application.village, func.count(Appeal.id))
        .join(Application, Appeal.application_id == Application.id)
        .group_by(Application.district_code, Application.village)
    )
    return {(d, v or UNKNOWN_VILLAGE): n for d, v, n in session.execute(query)}


def _average(days_total, decided):
    return round(days_total / decided, 1) if decided else None


def compute_figures(session, threshold=5, district_names=None):
    """Count applications per district and village, suppress small village cells, return Figures."""
    appeals = _appeal_rows(session)
    districts = {}
    for row in _village_rows(session):
        code = row.district_code or "??"
        district = districts.get(code)
        if district is None:
            name = (district_names or {}).get(code) or row.district_name or code
            district = districts[code] = Area(code, name)
        registered, approved, rejected, removed = (
            int(row.registered),
            int(row.approved or 0),
            int(row.rejected or 0),
            int(row.removed or 0),
        )
        village_name = row.village or UNKNOWN_VILLAGE
        village = Area(
            None,
            village_name,
            registered=registered,
            approved=approved,
            rejected=rejected,
            removed=removed,
            in_review=registered - approved - rejected - removed,
            appeals=int(appeals.get((row.district_code, village_name), 0)),
            decided=int(row.decided or 0),
            days_total=float(row.days_total or 0.0),
        )
        district.villages.append(village)
        if row.district_name and district.name == code:
            district.name = row.district_name
    total = Area(None, "")
    for district in districts.values():
        for village in district.villages:
            for name in (*COUNTS, "decided", "days_total"):
                setattr(district, name, getattr(district, name) + getattr(village, name))
        district.avg_days_to_decision = _average(district.days_total, district.decided)
        for name in (*COUNTS, "decided", "days_total"):
            setattr(total, name, getattr(total, name) + getattr(district, name))
        district.villages.sort(key=lambda v: (v.name == UNKNOWN_VILLAGE, v.name))
        suppress_villages(district.villages, threshold)
    total.avg_days_to_decision = _average(total.days_total, total.decided)
    return Figures(utcnow(), threshold, total, [districts[c] for c in sorted(districts)])


def suppress_villages(villages, threshold):
    """Replace small village cells by "<threshold" and the cells that would reveal them by HIDDEN (in place)."""
    values = {(i, k): getattr(v, k) for i, v in enumerate(villages) for k in COUNTS}
    primary = {cell for cell, n in values.items() if 0 < n < threshold}
    hidden = set(primary)
    groups = [[(i, k) for k in CATEGORIES] for i in range(len(villages))]  # a row adds up to `registered`
    groups += [[(i, k) for i in range(len(villages))] for k in COUNTS]  # a column adds up to the district
    changed = True
    while changed:
        changed = False
        for group in groups:
            if sum(cell in hidden for cell in group) != 1:
                continue
            others = [cell for cell in group if cell not in hidden]
            if others:
                hidden.add(min(others, key=lambda cell: (values[cell], cell)))
                changed = True
    for i, k in hidden:
        setattr(villages[i], k, suppressed_text(threshold) if values[(i, k)] < threshold else HIDDEN)
    for village in villages:
        average = _average(village.days_total, village.decided)
        village.avg_days_to_decision = average if village.decided >= threshold else None
    return villages


class FiguresCache:
    """The last Figures per database and threshold, reused for `max_age` seconds."""

    def __init__(self):
        self._lock = threading.Lock()
        self._computing = threading.Lock()  # one computation at a time: a cold cache is not a stampede
        self._entries = {}

    def _fresh(self, key, max_age):
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < max_age:
            return entry[1]
        return None

    def get(self, session, threshold, max_age, district_names=None):
        """Return cached figures younger than `max_age` seconds, else compute and keep them."""
        key = (str(session.get_bind().url), threshold)
        figures = self._fresh(key, max_age)
        if figures is not None:
            return figures
        with self._computing:
            figures = self._fresh(key, max_age)  # computed by another request while this one waited
            if figures is None:
                started = time.monotonic()
                figures = compute_figures(session, threshold, district_names)
                with self._lock:
                    self._entries[key] = (started, figures)
        return figures

    def clear(self):
        """Forget every cached publication."""
        with self._lock:
            self._entries.clear()


cache = FiguresCache()
