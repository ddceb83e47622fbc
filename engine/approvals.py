"""The approval queue as one supervisor sees it: which tasks they may take, and why not the others."""

from dataclasses import dataclass

from sqlalchemy import func, select

from .errors import FourEyesViolation, NotAllowed
from .humantasks import check_may_work
from .models import HumanTask
from .scope import scoped

PER_PAGE = 25


@dataclass(frozen=True)
class ApprovalItem:
    """An approval task and the signed-in supervisor's position on it.

    `refusal` is None when the supervisor may work the task, else FOUR_EYES (they worked an earlier
    step of the case, named by `earlier`) or ROLE (approvals belong to another role).
    """

    task: HumanTask
    refusal: str | None = None
    earlier: str | None = None

    @property
    def may_claim(self):
        return self.refusal is None and self.task.status == "open"


def _position(session, row, actor):
    try:
        check_may_work(session, row, actor)
    except FourEyesViolation as exc:
        earlier = exc.details.get("earlier")
        name = session.execute(
            select(HumanTask.name)
            .where(
                HumanTask.instance_id == row.instance_id,
                HumanTask.bpmn_id == earlier,
                HumanTask.completed_by == actor.id,
            )
            .limit(1)
        ).scalar_one_or_none()
        return ApprovalItem(row, "FOUR_EYES", name or earlier)
    except NotAllowed:
        return ApprovalItem(row, "ROLE")
    return ApprovalItem(row)


def approval_queue(session, actor, page=1, form_name="approval", per_page=PER_PAGE):
    """Return (items, total, pages): open and claimed approval tasks in `actor`'s districts, most urgent first."""
    query = select(HumanTask).where(HumanTask.form_name == form_name, HumanTask.status.in_(("open", "claimed")))
    query = scoped(query, HumanTask.region, actor)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.execute(
        query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.priority.desc(), HumanTask.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).scalars()
    return [_position(session, row, actor) for row in rows], total, pages
