"""Engine tables: process versions, instances, human tasks, incidents."""

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import UTCDateTime, db, utcnow


class ProcessVersion(db.Model):
    """One immutable deployed version of an executable process: number 1, 2, 3... per process."""

    __tablename__ = "process_versions"
    # The content index is not unique: restoring older content deploys it again as a new, current version.
    __table_args__ = (
        Index("ix_process_versions_content", "process_id", "content_hash"),
        UniqueConstraint("process_id", "number", name="uq_process_versions_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    number: Mapped[int] = mapped_column(Integer)  # counts per process: 1, 2, 3 of `application`
    # "folder": deployed from the process folder (setup, `tepat deploy`); "editor": by an administrator
    # in the browser. Setup never silently replaces an editor version with the folder's file.
    origin: Mapped[str] = mapped_column(String(20), default="folder", server_default="folder")
    # The large columns load only when needed: the spec is restored once per process and cached.
    name: Mapped[str | None] = mapped_column(String(200))
    # sha256 of the files this process uses (its BPMN file, called processes, DMN tables).
    content_hash: Mapped[str] = mapped_column(String(64))
    # {file name: XML text} of every BPMN/DMN file in the bundle current when this version was deployed.
    files: Mapped[dict] = mapped_column(JSON, deferred=True)
    # Serialized spec and subprocess specs, stored once per version, not per instance.
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)
    serializer_version: Mapped[str] = mapped_column(String(20))
    deployed_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    deployed_by: Mapped[str | None] = mapped_column(String(100))


class ProcessInstance(db.Model):
    """One running or finished process instance and its saved engine state."""

    __tablename__ = "process_instances"
    __table_args__ = (
        Index("ix_process_instances_wake", "wake_at"),
        # A key's newest instance (instance_for_key: WHERE business_key = ? ORDER BY id DESC LIMIT 1) is one
        # index probe, whatever the statistics say; without the id in it a planner with stale statistics
        # walked the primary key backwards through every instance (seen in bench/recheck.py).
        Index("ix_process_instances_business_key_id", "business_key", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    business_key: Mapped[str] = mapped_column(String(64))
    region: Mapped[str | None] = mapped_column(String(10))
    # running | waiting | incident | completed | cancelled
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    state_json: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(20))
    # Earliest due timer or service retry; the scheduler queries on it instead of scanning.
    wake_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # Wakes that raised in a row (engine.wakes): the next is pushed back, and at the bound an incident.
    wake_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    version = relationship(ProcessVersion, lazy="joined")


class HumanTask(db.Model):
    """A ready user task, as it sits in an officer queue."""

    __tablename__ = "human_tasks"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_guid"),
        Index("ix_human_tasks_queue", "status", "queue", "region", "due_at"),
        # The inbox (engine.humantasks.list_tasks) reads each status and queue in due order, checks
        # the district in the index and gets priority and id from it too (no table reads).
        Index("ix_human_tasks_inbox", "status", "queue", "due_at", "priority", "id", "region"),
        Index("ix_human_tasks_assignee", "assignee", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_guid: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    # active_history: the open-task counters (engine.queuecounts) need the old value of each change.
    queue: Mapped[str] = mapped_column(String(50), active_history=True)
    region: Mapped[str | None] = mapped_column(String(10), active_history=True)
    form_name: Mapped[str | None] = mapped_column(String(100))
    business_key: Mapped[str] = mapped_column(String(64), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    due_at: Mapped[object | None] = mapped_column(UTCDateTime)
    # open | claimed | completed | cancelled
    status: Mapped[str] = mapped_column(String(20), default="open", active_history=True)
    assignee: Mapped[str | None] = mapped_column(String(100))
    # bpmn ids whose completers may not take this task (four eyes)
    excluded_after: Mapped[list] = mapped_column(JSON, default=list)
    flags: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[object | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(100))
    data: Mapped[dict | None] = mapped_column(JSON)


class OpenTaskCount(db.Model):
    """How many tasks are open in one queue and district, kept by engine.queuecounts as tasks change.

    The inbox shows these counts on every page; counting a million-row table for an officer of every
    district took tens of milliseconds, reading these few rows takes well under one.

    Each (queue, district) has up to BANSOS_COUNTER_SLOTS rows (`slot`); a transaction adds its changes
    to a slot row no other transaction holds (engine.queuecounts), and a read sums the slots.
    Concurrent transactions changing the same queue and district thus lock different rows. One slot
    alone may go below zero.
    """

    __tablename__ = "open_task_counts"

    queue: Mapped[str] = mapped_column(String(50), primary_key=True)
    region: Mapped[str] = mapped_column(String(10), primary_key=True)  # "" for tasks without a district
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    open_count: Mapped[int] = mapped_column(Integer, default=0)


class Incident(db.Model):
    """A task the engine could not run; waits for an administrator to retry or skip it."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instances.id"), index=True)
    business_key: Mapped[str] = mapped_column(String(64))
    task_guid: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    operator: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    # open | retried | skipped | resolved
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[object | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))


class ProcessDraft(db.Model):
    """An administrator's edited BPMN/DMN file, checked and saved but not yet deployed."""

    __tablename__ = "process_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(100), unique=True)
    xml: Mapped[str] = mapped_column(Text)
    # Hash of the deployed bundle the draft was started from: a deploy by someone else makes it stale.
    base_hash: Mapped[str | None] = mapped_column(String(64))
    # The engine's findings at the last save: [{"file", "element", "element_id", "message"}].
    problems: Mapped[list] = mapped_column(JSON, default=list)
    saved_by: Mapped[str | None] = mapped_column(String(100))
    saved_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)


# Every session keeps open_task_counts in step with human_tasks (whoever imports the models).
from . import queuecounts  # noqa: E402,F401
