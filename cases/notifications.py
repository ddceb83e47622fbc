"""Officers are told: a new task in their queue, a task of theirs nearing its deadline, a task given to them.

Notifications are rows (``officer_notifications``) written in the transaction of what caused them,
each with a unique ``dedupe_key``: a step run again, a scheduler run repeated, never tells twice.

- reassigned: written when a supervisor gives a task to an officer (the engine's task_assigned
  signal), key ``reassigned:<task>:<claimed_at>``.
- new_tasks: the scheduler looks at tasks created since its mark (``notify_marks``) and tells every
  active officer who may take them (role of the queue, district) once per queue and district per run,
  with the count (key ``new:<officer>:<queue>:<district>:<last task id>``). The first run only sets the
  mark: deploying this never floods anyone with the backlog.
- due_soon: the scheduler tells the holder of a claimed task whose deadline is within one of
  BANSOS_DEADLINE_REMINDER_HOURS, once per task, threshold and deadline.

Mail: `deliver_mail` sends each pending notification to its officer's e-mail address through the
configured mailer (each text with a link to the task's page, from `link`) with the key
``officer-notification:<id>`` (the sandbox mailer sends a key once,
SMTP repeats its Message-ID), then marks it sent; officers without an address are marked no_address.
"""

from __future__ import annotations

from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import JSON, BigInteger, Index, Integer, String, UniqueConstraint, func, select, update
from sqlalchemy.orm import Mapped, mapped_column

from engine import signals
from engine.db import UTCDateTime, db, utcnow
from engine.models import HumanTask

from .models import Officer

_ID = BigInteger().with_variant(Integer, "sqlite")
KINDS = ("new_tasks", "due_soon", "reassigned")
PER_PAGE = 25
NEW_TASK_BATCH = 5000
MARK_NEW_TASKS = "new_tasks"


class OfficerNotification(db.Model):
    """One thing an officer is told, read or not, mailed or not."""

    __tablename__ = "officer_notifications"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_officer_notifications_dedupe_key"),
        Index("ix_officer_notifications_officer", "officer", "read_at", "id"),
        Index("ix_officer_notifications_mail", "mail_status", "id"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    officer: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    task_id: Mapped[int | None] = mapped_column(_ID)
    business_key: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # pending | sent | no_address
    mail_status: Mapped[str] = mapped_column(String(20), default="pending")
    mailed_at: Mapped[object | None] = mapped_column(UTCDateTime)


class NotifyMark(db.Model):
    """How far a scheduler scan got (the last task id looked at for new_tasks)."""

    __tablename__ = "notify_marks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(_ID)


def _insert(session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def notify(session, officer, kind, dedupe_key, task_id=None, business_key=None, detail=None):
    """Add a notification unless one with this key exists; return True if added. The caller commits."""
    table = OfficerNotification.__table__
    result = session.execute(
        _insert(session)(table)
        .values(
            officer=officer,
            kind=kind,
            dedupe_key=dedupe_key[:200],
            task_id=task_id,
            business_key=business_key,
            detail=detail,
            created_at=utcnow(),
            mail_status="pending",
        )
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )
    return result.first() is not None  # rowcount is -1 on PostgreSQL with RETURNING


def on_task_assigned(engine, row, actor, action, target, **_):
    """A task given to an officer by someone else: tell them."""
    if action != "reassign" or not target or target == getattr(actor, "id", actor):
        return
    stamp = row.claimed_at.isoformat() if row.claimed_at is not None else ""
    notify(
        engine.session,
        target,
        "reassigned",
        f"reassigned:{row.id}:{stamp}",
        row.id,
        row.business_key,
        {"by": getattr(actor, "id", str(actor)), "task": row.bpmn_id, "name": row.name},
    )


def connect():
    """Listen to the engine (idempotent)."""
    signals.task_assigned.connect(on_task_assigned)


def _active_officers(session):
    return list(session.execute(select(Officer).where(Officer.active.is_(True))).scalars())


def _may_take(officer, queue, region):
    regions = officer.regions
    return queue in (officer.roles or []) and (regions is None or region is None or region in regions)


def new_task_notices(session, batch=NEW_TASK_BATCH):
    """Tell officers of tasks created since the mark (still open), per queue and district; return how many told."""
    mark = session.get(NotifyMark, MARK_NEW_TASKS)
    top = session.scalar(select(func.max(HumanTask.id)))
    if mark is None:
        session.add(NotifyMark(name=MARK_NEW_TASKS, value=top or 0))
        return 0
    rows = session.execute(
        select(HumanTask.id, HumanTask.queue, HumanTask.region, HumanTask.status)
        .where(HumanTask.id > mark.value)
        .order_by(HumanTask.id)
        .limit(batch)
    ).all()
    if not rows:
        return 0
    last = rows[-1].id
    groups = {}
    for row in rows:
        if row.status == "open":
            groups[(row.queue, row.region)] = groups.get((row.queue, row.region), 0) + 1
    told = 0
    officers = _active_officers(session) if groups else []
    for (queue, region), count in sorted(groups.items(), key=lambda g: (g[0][0], g[0][1] or "")):
        for officer in officers:
            if _may_take(officer, queue, region):
                told += notify(
                    session,
                    officer.username,
                    "new_tasks",
                    f"new:{officer.username}:{queue}:{region}:{last}",
                    detail={"queue": queue, "region": region, "count": count},
                )
    mark.value = last
    return told


def deadline_reminders(session, hours, now=None, batch=NEW_TASK_BATCH):
    """Tell each holder of a claimed task due within each threshold (hours), once; return how many told."""
    now = now or utcnow()
    told = 0
    for h in sorted({int(x) for x in hours}, reverse=True):
        rows = session.execute(
            select(HumanTask)
            .where(
                HumanTask.status == "claimed",
                HumanTask.assignee.is_not(None),
                HumanTask.due_at > now,
                HumanTask.due_at <= now + timedelta(hours=h),
            )
            .order_by(HumanTask.due_at)
            .limit(batch)
        ).scalars()
        for row in rows:
            told += notify(
                session,
                row.assignee,
                "due_soon",
                f"due:{row.id}:{h}:{row.due_at.isoformat()}",
                row.id,
                row.business_key,
                {"hours": h, "due_at": row.due_at.isoformat(), "task": row.bpmn_id, "name": row.name},
            )
    return told


def unread_count(session, username):
    """How many notifications `username` has not read."""
    return (
        session.scalar(
            select(func.count())
            .select_from(OfficerNotification)
            .where(OfficerNotification.officer == username, OfficerNotification.read_at.is_(None))
        )
        or 0
    )


def notifications_of(session, username, page=1, per_page=PER_PAGE):
    """Return (rows, has_more): `username`'s notifications, unread first, newest first."""
    offset = (max(1, page) - 1) * per_page
    rows = list(
        session.execute(
            select(OfficerNotification)
            .where(OfficerNotification.officer == username)
            .order_by(OfficerNotification.read_at.is_not(None), OfficerNotification.id.desc())
            .limit(per_page + 1)
            .offset(offset)
        ).scalars()
    )
    return rows[:per_page], len(rows) > per_page


def mark_read(session, username, ids=None):
    """Mark `username`'s notifications read (all, or those of `ids`); return how many. Never another's."""
    query = update(OfficerNotification).where(
        OfficerNotification.officer == username, OfficerNotification.read_at.is_(None)
    )
    if ids is not None:
        query = query.where(OfficerNotification.id.in_(list(ids)))
    return session.execute(query.values(read_at=utcnow())).rowcount


def describe(n, task_label=None, district_label=None):
    """The notification as one sentence in the current language."""
    d = n.detail or {}
    task = (task_label(d.get("task"), d.get("name")) if task_label else d.get("name")) or d.get("task") or ""
    if n.kind == "new_tasks":
        region = d.get("region")
        where = (district_label(region) if district_label else region) if region else _("every district")
        return _(
            "%(n)d new task(s) in the %(queue)s queue, %(district)s.",
            n=d.get("count", 0),
            queue=_(d.get("queue") or ""),
            district=where,
        )
    if n.kind == "due_soon":
        return _(
            "Your task %(task)s on %(case)s is due within %(hours)d hour(s).",
            task=task,
            case=n.business_key,
            hours=d.get("hours", 0),
        )
    if n.kind == "reassigned":
        return _("%(by)s gave you the task %(task)s on %(case)s.", by=d.get("by", ""), task=task, case=n.business_key)
    return n.kind


def mail_text(n, task_label=None, district_label=None, link=None):
    """(subject, body) of a notification's e-mail: Indonesian first, then English.

    `link(n)` gives the address of the task's page (or the queue's inbox) that each text carries.
    """
    url = link(n) if link else None
    parts = []
    for locale in ("id", "en"):
        with force_locale(locale):
            lines = [describe(n, task_label, district_label)]
            if url:
                lines.append(_("Open it: %(link)s", link=url))
            lines.append(_("Open Tepat to see it. You receive this because you are an officer of Tepat."))
            parts.append((_("Tepat: a notification for you"), "\n".join(lines)))
    subject = f"{parts[0][0]} / {parts[1][0]}"
    body = "\n\n".join(text for _s, text in parts)
    return subject, body


def deliver_mail(session, mailer, batch=200, task_label=None, district_label=None, commit=None, link=None):
    """Mail pending notifications to their officers' addresses; return (sent, without address).

    Each message is committed on its own (`commit`, default session.commit) right after it was sent,
    so a crash resends at most one message, with the same key.
    """
    commit = commit or session.commit
    rows = list(
        session.execute(
            select(OfficerNotification)
            .where(OfficerNotification.mail_status == "pending")
            .order_by(OfficerNotification.id)
            .limit(batch)
        ).scalars()
    )
    if not rows:
        return 0, 0
    emails = dict(
        session.execute(
            select(Officer.username, Officer.email).where(
                Officer.username.in_({r.officer for r in rows}), Officer.active.is_(True)
            )
        ).all()
    )
    sent = skipped = 0
    for row in rows:
        address = emails.get(row.officer)
        if not address:
            row.mail_status = "no_address"
            skipped += 1
        else:
            subject, body = mail_text(row, task_label, district_label, link)
            mailer.send(address, subject, body, f"officer-notification:{row.id}")
            row.mail_status, row.mailed_at = "sent", utcnow()
            sent += 1
        commit()
    return sent, skipped
