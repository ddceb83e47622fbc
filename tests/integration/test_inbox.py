"""The inbox query: queues by role and district, filters, sorting, paging."""

from datetime import timedelta

from engine.core import Actor
from engine.db import db, utcnow
from engine.inbox import InboxFilter, inbox_page
from engine.models import HumanTask
from tests.helpers import open_task, submit


def _ids(rows):
    return [r.id for r in rows]


def test_filters_sorting_and_region_limits(svc, personas):
    numbers = [submit(svc, personas[p]).case_number for p in ("not_in_dtsen", "eligible_head_without_photo")]
    first, second = (open_task(n, "review") for n in numbers)
    first.due_at = utcnow() - timedelta(days=1)  # overdue
    first.flags = ["DUPLICATE_FACE_SUSPECTED"]
    second.priority = 90
    db.session.commit()
    everyone = Actor("cw", frozenset({"caseworker"}))
    rows, total, pages = inbox_page(db.session, everyone, InboxFilter())
    assert _ids(rows) == [first.id, second.id] and total == 2 and pages == 1  # earliest due first
    rows, _, _ = inbox_page(db.session, everyone, InboxFilter(sort="priority"))
    assert _ids(rows) == [second.id, first.id]
    assert _ids(inbox_page(db.session, everyone, InboxFilter(due="overdue"))[0]) == [first.id]
    assert _ids(inbox_page(db.session, everyone, InboxFilter(flag="DUPLICATE_FACE_SUSPECTED"))[0]) == [first.id]
    assert _ids(inbox_page(db.session, everyone, InboxFilter(district=first.region))[0])[0] == first.id
    outsider = Actor("far", frozenset({"caseworker"}), frozenset({"99"}))
    assert inbox_page(db.session, outsider, InboxFilter()) == ([], 0, 1)
    # Asking for a district outside one's own shows nothing rather than widening the view.
    assert inbox_page(db.session, outsider, InboxFilter(district=first.region))[1] == 0
    assert inbox_page(db.session, Actor("sup", frozenset({"supervisor"})), InboxFilter())[1] == 0
    first.status, first.assignee = "claimed", "cw"
    db.session.commit()
    assert _ids(inbox_page(db.session, everyone, InboxFilter(view="mine"))[0]) == [first.id]
    assert _ids(inbox_page(db.session, everyone, InboxFilter(view="queue"))[0]) == [second.id]
    assert inbox_page(db.session, everyone, InboxFilter(view="all"))[1] == 2
    assert db.session.get(HumanTask, first.id).status == "claimed"
