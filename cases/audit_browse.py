"""The audit trail as an auditor browses it: filter by officer, NIK, case, action and dates; who viewed a NIK.

The trail stores no whole NIK: an entry names a case by number (target ``case``), a task by id (target
``task``, its case in the detail), and an applicant by the masked NIK (first and last four digits,
target ``applicant``). A NIK is therefore searched through the cases filed under it (their numbers, and
the ids of their tasks) plus the applicant entries with its masked form; the latter may also be another
person's with the same first and last four digits, so such rows are marked as masked matches.

Queries read the indexes: ``ix_audit_log_actor_at`` (officer and dates), ``ix_audit_log_action_at``
(action and dates), ``ix_audit_log_target`` (case, task, applicant), ``ix_audit_log_at`` (dates alone).
Pages are ordered newest first and cut by ``limit + 1`` rows (no count over the whole trail).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from engine.models import HumanTask
from integrations.nik import mask_nik

from .audit import AuditEntry
from .csvcells import SafeWriter
from .models import Application

WIB = ZoneInfo("Asia/Jakarta")
PER_PAGE = 50
EXPORT_MAX = 50_000
MAX_TARGETS = 500  # cases and tasks of one NIK: a handful in practice
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor",
    "actor_roles",
    "action",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "detail",
)


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor asked for; dates are WIB calendar days, both ends included."""

    actor: str | None = None
    nik: str | None = None
    case: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("case.")
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    def without_page(self):
        return {k: v for k, v in self.__dict__.items() if v not in (None, "") and k != "page"}


def _day_start(day):
    return datetime.combine(day, time.min, WIB)


@dataclass(frozen=True)
class Targets:
    """The audit targets of a NIK or a case: case numbers, task ids, masked applicant ids."""

    cases: tuple = ()
    tasks: tuple = ()
    masked: tuple = ()

    @property
    def empty(self):
        return not (self.cases or self.tasks or self.masked)


def targets_of(session, nik=None, case=None):
    """The targets a NIK (its cases, their tasks, its masked form) or a case number (and its tasks) are named by."""
    cases = set()
    if case:
        cases.add(case)
    if nik:
        cases |= set(session.scalars(select(Application.case_number).where(Application.nik == nik).limit(MAX_TARGETS)))
        if case:
            cases &= {case}
    tasks = ()
    if cases:
        tasks = tuple(
            str(i)
            for i in session.scalars(
                select(HumanTask.id).where(HumanTask.business_key.in_(sorted(cases))).limit(MAX_TARGETS)
            )
        )
    masked = (mask_nik(nik),) if nik and not case else ()
    return Targets(tuple(sorted(cases)), tasks, masked)


def _target_clause(targets):
    parts = []
    if targets.cases:
        parts.append(and_(AuditEntry.target_type == "case", AuditEntry.target_id.in_(targets.cases)))
    if targets.tasks:
        parts.append(and_(AuditEntry.target_type == "task", AuditEntry.target_id.in_(targets.tasks)))
    if targets.masked:
        parts.append(and_(AuditEntry.target_type == "applicant", AuditEntry.target_id.in_(targets.masked)))
    return or_(*parts)


def _filtered(session, f):
    """(query over AuditEntry, targets or None), or (None, targets) when a NIK or case names nothing."""
    query = select(AuditEntry).where(AuditEntry.shard >= 0)  # anchors are the chain's, not anyone's action
    targets = None
    if f.nik or f.case:
        targets = targets_of(session, f.nik, f.case)
        if targets.empty:
            return None, targets
        query = query.where(_target_clause(targets))
    if f.actor:
        query = query.where(AuditEntry.actor == f.actor)
    if f.action:
        if f.action.endswith("."):
            query = query.where(AuditEntry.action.startswith(f.action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == f.action)
    if f.date_from:
        query = query.where(AuditEntry.at >= _day_start(f.date_from))
    if f.date_to:
        query = query.where(AuditEntry.at < _day_start(f.date_to + timedelta(days=1)))
    return query, targets


def browse(session, f, per_page=PER_PAGE):
    """Return (entries, has_more, targets): one page of matching entries, newest first."""
    query, targets = _filtered(session, f)
    if query is None:
        return [], False, targets
    offset = (max(1, f.page) - 1) * per_page
    rows = list(
        session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(per_page + 1).offset(offset))
    )
    return rows[:per_page], len(rows) > per_page, targets


def viewers_of(session, nik, date_from=None, date_to=None):
    """Who viewed a NIK's cases or applicant record: [(actor, views, first, last)], most views first."""
    f = AuditFilter(nik=nik, date_from=date_from, date_to=date_to)
    query, _targets = _filtered(session, f)
    if query is None:
        return []
    entries = query.where(AuditEntry.action.like("%view%")).subquery()
    rows = session.execute(
        select(entries.c.actor, func.count(), func.min(entries.c.at), func.max(entries.c.at))
        .group_by(entries.c.actor)
        .order_by(func.count().desc(), entries.c.actor)
    ).all()
    return [tuple(r) for r in rows]


def is_masked_match(entry, targets):
    """True for an applicant entry found by the masked NIK (possibly another person's)."""
    return bool(targets and entry.target_type == "applicant" and entry.target_id in targets.masked)


def export_filtered(session, f, out, limit=EXPORT_MAX):
    """Write the filtered entries (newest first, at most `limit`) as formula-safe CSV; return (rows, cut)."""
    query, _targets = _filtered(session, replace(f, page=1))
    writer = SafeWriter(out)
    writer.writerow(EXPORT_COLUMNS)
    if query is None:
        return 0, False
    count = 0
    for e in session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit + 1).execution_options(yield_per=2000)
    ):
        if count == limit:
            return count, True
        writer.writerow(
            [
                e.id,
                e.at.astimezone(WIB).isoformat(timespec="seconds"),
                e.actor,
                ",".join(e.actor_roles or []),
                e.action,
                e.target_type,
                e.target_id,
                e.ip,
                e.user_agent,
                json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail is not None else "",
            ]
        )
        count += 1
    return count, False


# Suggestions for the action filter (a prefix ending in "." takes every action of that kind).
ACTION_SUGGESTIONS = (
    "case.",
    "case.view",
    "case.search",
    "task.",
    "task.claim",
    "task.reassign",
    "task.complete",
    "task.batch_reassign",
    "task.batch_approve",
    "task.refused",
    "evidence.",
    "objection.",
    "applicant.",
    "officer.",
    "access.refused",
    "audit.",
    "report.",
    "cycle.",
    "run.",
)
