"""The caseworker inbox: the queues an officer may work, filtered, sorted and paged."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import false, func, select

from .core import Actor
from .db import utcnow
from .humantasks import list_tasks
from .models import HumanTask
from .scope import scoped

PER_PAGE = 25
SORTS = ("due", "priority", "newest")


@dataclass(frozen=True)
class InboxFilter:
    """What the officer asked to see."""

    view: str = "queue"  # queue (open tasks) | mine (claimed by me) | all (open and claimed)
    district: str | None = None
    queue: str | None = None
    flag: str | None = None
    due: str | None = None  # overdue | soon (within 1 day)
    sort: str = "due"
    page: int = 1


def _base(actor, f, now):
    query = select(HumanTask).where(HumanTask.queue.in_(sorted(actor.roles)))
    if actor.regions is not None and not actor.regions:
        return query.where(false())
    if f.view == "mine":
        query = query.where(HumanTask.status == "claimed", HumanTask.assignee == actor.id)
    elif f.view == "all":
        query = query.where(HumanTask.status.in_(("open", "claimed")))
    else:
        query = query.where(HumanTask.status == "open")
    query = scoped(query, HumanTask.region, actor)
    if f.due == "overdue":
        query = query.where(HumanTask.due_at < now)
    elif f.due == "soon":
        query = query.where(HumanTask.due_at >= now, HumanTask.due_at < now + timedelta(days=1))
    return query


def _narrowed(actor, f):
    """The actor as the filter sees it: only the chosen queue and district, never more than allowed."""
    roles = actor.roles & {f.queue} if f.queue else actor.roles
    regions = actor.regions
    if f.district:
        regions = frozenset({f.district}) if regions is None or f.district in regions else frozenset()
    return Actor(actor.id, frozenset(roles), regions, actor.name)


def inbox_page(session, actor, f, per_page=PER_PAGE):
    """Return (rows, total, pages) of the tasks `actor` may see under filter `f` (`per_page` rows a page)."""
    now = utcnow()
    page = max(1, f.page)
    narrowed = _narrowed(actor, f)
    query = _base(narrowed, f, now)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    if f.sort == "due" and not f.due and not f.flag:
        # The common view: engine.humantasks.list_tasks reads it in index order (fast at a million tasks).
        status = ("claimed",) if f.view == "mine" else ("open", "claimed") if f.view == "all" else ("open",)
        rows = list_tasks(
            session, narrowed, status=status, mine=f.view == "mine", limit=per_page, offset=(page - 1) * per_page
        )
        return rows, total, max(1, -(-total // per_page))
    if f.sort == "priority":
        rows_query = query.order_by(HumanTask.priority.desc(), HumanTask.due_at, HumanTask.id)
    elif f.sort == "newest":
        rows_query = query.order_by(HumanTask.id.desc())
    else:
        rows_query = query.order_by(
            HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.priority.desc(), HumanTask.id
        )
    if f.flag:
        # Flags are a short JSON list: filter after the indexed part, over a bounded window.
        rows = [r for r in session.execute(rows_query.limit(2000)).scalars() if f.flag in (r.flags or [])]
        total = len(rows)
        rows = rows[(page - 1) * per_page : page * per_page]
    else:
        rows = list(session.execute(rows_query.limit(per_page).offset((page - 1) * per_page)).scalars())
    return rows, total, max(1, -(-total // per_page))


def is_overdue(row, now=None):
    """Return True when a task's due date has passed."""
    return row.due_at is not None and row.due_at < (now or utcnow())
