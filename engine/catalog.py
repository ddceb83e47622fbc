"""Read-only catalogue of deployed process versions and how many instances run on each."""

from collections import defaultdict

from sqlalchemy import func, select

from .models import ProcessInstance, ProcessVersion


def instance_counts(session):
    """Return {version id: {instance status: count}}."""
    counts = defaultdict(dict)
    query = select(ProcessInstance.version_id, ProcessInstance.status, func.count()).group_by(
        ProcessInstance.version_id, ProcessInstance.status
    )
    for version_id, status, n in session.execute(query):
        counts[version_id][status] = n
    return counts


def process_catalog(session):
    """Return [(process id, [versions, newest first])] for every deployed process (files not loaded)."""
    versions = session.execute(
        select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.id.desc())
    ).scalars()
    grouped = defaultdict(list)
    for version in versions:
        grouped[version.process_id].append(version)
    return sorted(grouped.items())


def version_or_none(session, process_id, version_id):
    """Return the version `version_id` of `process_id`, or None."""
    version = session.get(ProcessVersion, version_id)
    if version is None or version.process_id != process_id:
        return None
    return version


def is_latest(session, version):
    """Return True if no newer version of the same process exists."""
    newer = session.execute(
        select(ProcessVersion.id)
        .where(ProcessVersion.process_id == version.process_id, ProcessVersion.id > version.id)
        .limit(1)
    ).first()
    return newer is None
