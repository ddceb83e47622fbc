"""Read-only views of officers for administrators: the searchable list and district coverage."""

from dataclasses import dataclass, field

from sqlalchemy import Text, cast, func, or_, select

from engine.models import HumanTask

from .models import Officer
from .officers import DISTRICT_CODES, ESSENTIAL_ROLES, OFFICER_ROLES, district_name

PER_PAGE = 25


@dataclass(frozen=True)
class OfficerFilter:
    """What the administrator asked to see."""

    q: str | None = None
    role: str | None = None
    district: str | None = None
    active: str = "all"  # all | active | inactive
    page: int = 1


def _json_has(column, value):
    # Roles and districts are short JSON lists of quoted names; a quoted match cannot hit a longer name.
    return cast(column, Text).like(f'%"{value}"%')


def search_officers(session, f, per_page=PER_PAGE, within=None):
    """Return (officers, total, pages) matching filter `f`, by username.

    `within` (a district-limited administrator's districts) keeps the officers they may manage: those
    whose districts all lie within them (engine/scope.py may_manage, as a query).
    """
    query = select(Officer)
    if within is not None:
        query = query.where(
            Officer.regions.is_not(None),
            cast(Officer.regions, Text).not_in(["null", "[]"]),
            *(~_json_has(Officer.regions, code) for code in DISTRICT_CODES if code not in within),
        )
    if f.q:
        text = f.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{text}%"
        query = query.where(
            or_(
                func.lower(Officer.username).like(pattern, escape="\\"),
                func.lower(Officer.name).like(pattern, escape="\\"),
            )
        )
    if f.role:
        query = query.where(_json_has(Officer.roles, f.role))
    if f.district:
        # An officer without a district list works every district.
        query = query.where(
            or_(
                Officer.regions.is_(None), cast(Officer.regions, Text) == "null", _json_has(Officer.regions, f.district)
            )
        )
    if f.active == "active":
        query = query.where(Officer.active.is_(True))
    elif f.active == "inactive":
        query = query.where(Officer.active.is_(False))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // per_page))
    page = min(max(1, f.page), pages)
    rows = session.execute(query.order_by(Officer.username).limit(per_page).offset((page - 1) * per_page)).scalars()
    return list(rows), total, pages


@dataclass
class DistrictCoverage:
    """Active officers per role in one district, its open tasks, and the essential roles nobody holds."""

    code: str
    name: str
    officers: dict = field(default_factory=dict)  # role -> active officers who work the district
    open_tasks: dict = field(default_factory=dict)  # queue -> open or claimed tasks

    @property
    def missing(self):
        return [role for role in ESSENTIAL_ROLES if not self.officers.get(role)]


def district_coverage(session):
    """Return a DistrictCoverage for each of the 25 districts (officers of all districts count in each)."""
    coverage = {
        code: DistrictCoverage(code, district_name(code), {role: 0 for role in OFFICER_ROLES})
        for code in DISTRICT_CODES
    }
    for roles, regions in session.execute(select(Officer.roles, Officer.regions).where(Officer.active.is_(True))):
        for code in DISTRICT_CODES if regions is None else [r for r in regions if r in coverage]:
            for role in roles or []:
                if role in coverage[code].officers:
                    coverage[code].officers[role] += 1
    tasks = (
        select(HumanTask.region, HumanTask.queue, func.count())
        .where(HumanTask.status.in_(("open", "claimed")), HumanTask.region.in_(DISTRICT_CODES))
        .group_by(HumanTask.region, HumanTask.queue)
    )
    for region, queue, n in session.execute(tasks):
        coverage[region].open_tasks[queue] = n
    return list(coverage.values())
