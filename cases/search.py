"""Finding a case: by NIK (the applicant's, or the family card's number), case number, or name prefix.

Every search is limited to the officer's districts in the query itself, so a district-limited
officer never learns that a case exists elsewhere (no count, no "found elsewhere").

What a 16-digit query matches: the applicant's NIK, or the family-card (KK) number the civil registry
gave for the applicant's family. Other household members' NIKs are only inside the registry's answer
(evidence JSON) and are not searched: a member who applied has their own case, found by their NIK.

Name search is a prefix of the lower-cased name (`Application.name_key`), at least 3 characters: a
range of `ix_applications_name_key` (byte order on both databases: collation "C" on PostgreSQL), read in
index order, so a page costs 25 index entries however many cases there are; the count stops at COUNT_CAP.
"""

import re
from dataclasses import dataclass

from sqlalchemy import false, func, or_, select

from integrations.nik import mask_nik

from .models import Application, name_key

PER_PAGE = 25
COUNT_CAP = 1000  # beyond this the page says "more than 1000": counting every "sit..." is wasted work
MIN_NAME = 3
MAX_QUERY = 100
_CASE_NUMBER = re.compile(r"^TPT-?(\d{4})-?(\d{7})$")
_DIGITS = re.compile(r"^\d{16}$")


@dataclass(frozen=True)
class Query:
    """A parsed search: kind is nik | case | name | too_short | invalid; value is what is compared."""

    kind: str
    value: str


def parse(text):
    """Tell what an officer typed: a NIK/KK, a case number (any case, spaces tolerated) or a name."""
    text = " ".join((text or "").split())[:MAX_QUERY]
    compact = re.sub(r"[\s.]", "", text)
    if _DIGITS.match(compact):
        return Query("nik", compact)
    match = _CASE_NUMBER.match(compact.upper())
    if match:
        return Query("case", f"TPT-{match.group(1)}-{match.group(2)}")
    if re.search(r"\d", text) or not text:
        return Query("invalid", text)
    key = name_key(text) or ""
    if len(key) < MIN_NAME:
        return Query("too_short", key)
    return Query("name", key)


@dataclass(frozen=True)
class Results:
    """One page of search results; total is capped at COUNT_CAP (capped tells)."""

    rows: list
    total: int
    capped: bool
    page: int

    @property
    def pages(self):
        return max(1, -(-self.total // PER_PAGE))


def _prefix_range(query, key):
    # name_key compares bytes (code points): the names starting with `key` are exactly
    # [key, key with its last character + 1), one range of its index. No LIKE, so no wildcards to escape.
    upper = key[:-1] + chr(ord(key[-1]) + 1)
    return query.where(Application.name_key >= key, Application.name_key < upper)


def search_cases(session, regions, query, page=1, per_page=PER_PAGE):
    """Return Results for a parsed query among cases of `regions` (None = every district), `per_page` a page."""
    if query.kind not in ("nik", "case", "name"):
        return Results([], 0, False, 1)
    base = select(Application).where(Application.case_number.is_not(None))
    if regions is not None:
        # `district_code || ''`: the district is a filter, never the index a search starts from (a district
        # holds ~15,000 cases; the NIK, case number or name index narrows to a few rows or one range first).
        district = Application.district_code.concat("")
        base = base.where(district.in_(sorted(regions)) if regions else false())
    if query.kind == "nik":
        # Two indexed equalities (nik, kk_number): an OR of index look-ups on both databases.
        base = base.where(or_(Application.nik == query.value, Application.kk_number == query.value))
        order = (Application.created_at.desc(), Application.id.desc())
    elif query.kind == "case":
        base = base.where(Application.case_number == query.value)
        order = (Application.id,)
    else:
        base = _prefix_range(base, query.value)
        order = (Application.name_key, Application.district_code, Application.id)  # the index's order
    counted = session.scalar(
        select(func.count()).select_from(base.with_only_columns(Application.id).limit(COUNT_CAP + 1).subquery())
    )
    capped = counted > COUNT_CAP
    total = min(counted, COUNT_CAP)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.execute(base.order_by(*order).limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return Results(list(rows), total, capped, page)


def audit_detail(query, results):
    """What the audit log keeps of a search: its kind, the NIK masked (what was typed only if it was a
    case number or a name), how many cases were found and which were shown."""
    shown = {"nik": mask_nik(query.value), "case": query.value, "name": query.value}.get(query.kind)
    return {
        "kind": query.kind,
        "query": shown,
        "results": results.total,
        "more": results.capped,
        "page": results.page,
        "cases": [row.case_number for row in results.rows],
    }
