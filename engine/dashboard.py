"""Figures for the supervisor desk: SLA state per district, throughput per officer and district, incidents."""

from datetime import timedelta

from sqlalchemy import case, func, select

from .db import utcnow
from .models import HumanTask, Incident, ProcessInstance, ProcessVersion
from .scope import scoped


def sla_by_district(session, actor, now=None):
    """Return [(district, open, overdue, due_soon)] for the districts `actor` oversees."""
    now = now or utcnow()
    query = (
        select(
            HumanTask.region,
            func.count(),
            func.sum(case((HumanTask.due_at < now, 1), else_=0)),
            func.sum(case(((HumanTask.due_at >= now) & (HumanTask.due_at < now + timedelta(days=1)), 1), else_=0)),
        )
        .where(HumanTask.status.in_(("open", "claimed")))
        .group_by(HumanTask.region)
        .order_by(HumanTask.region)
    )
    query = scoped(query, HumanTask.region, actor)
    return [(r, n, int(o or 0), int(s or 0)) for r, n, o, s in session.execute(query)]


def throughput_by_officer(session, actor, days=7, now=None):
    """Return [(officer, completed, completed late)] over the last `days` days."""
    now = now or utcnow()
    query = (
        select(
            HumanTask.completed_by,
            func.count(),
            func.sum(case((HumanTask.completed_at > HumanTask.due_at, 1), else_=0)),
        )
        .where(HumanTask.status == "completed", HumanTask.completed_at >= now - timedelta(days=days))
        .group_by(HumanTask.completed_by)
        .order_by(func.count().desc())
    )
    query = scoped(query, HumanTask.region, actor)
    return [(who, n, int(late or 0)) for who, n, late in session.execute(query)]


def throughput_by_district(session, actor, days=7, now=None):
    """Return [(district, completed, completed late)] over the last `days` days, by district."""
    now = now or utcnow()
    query = (
        select(HumanTask.region, func.count(), func.sum(case((HumanTask.completed_at > HumanTask.due_at, 1), else_=0)))
        .where(HumanTask.status == "completed", HumanTask.completed_at >= now - timedelta(days=days))
        .group_by(HumanTask.region)
        .order_by(HumanTask.region)
    )
    query = scoped(query, HumanTask.region, actor)
    return [(region, n, int(late or 0)) for region, n, late in session.execute(query)]


def open_incidents(session, actor, limit=200):
    """Return the open incidents of `actor`'s districts, oldest first."""
    query = (
        select(Incident)
        .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
        .where(Incident.status == "open")
    )
    query = scoped(query, ProcessInstance.region, actor)
    return list(session.execute(query.order_by(Incident.id).limit(limit)).scalars())


def step_names(engine, incidents):
    """{incident id: the name its step has in its own process version's diagram} (absent: no name)."""
    instances = {i.instance_id for i in incidents}
    if not instances:
        return {}
    version_of = dict(
        engine.session.execute(
            select(ProcessInstance.id, ProcessInstance.version_id).where(ProcessInstance.id.in_(instances))
        ).all()
    )
    per_version, names = {}, {}
    for incident in incidents:
        version_id = version_of.get(incident.instance_id)
        if version_id not in per_version:
            version = engine.session.get(ProcessVersion, version_id) if version_id is not None else None
            per_version[version_id] = _names_in(*engine.specs_for(version)) if version is not None else {}
        name = per_version[version_id].get(incident.bpmn_id)
        if name:
            names[incident.id] = name
    return names


def _names_in(spec, subprocess_specs):
    """{bpmn_id: bpmn_name} of every named element of a process and its called processes."""
    return {
        ts.bpmn_id: ts.bpmn_name
        for s in (spec, *subprocess_specs.values())
        for ts in s.task_specs.values()
        if getattr(ts, "bpmn_id", None) and getattr(ts, "bpmn_name", None)
    }
