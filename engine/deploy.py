"""Deploying BPMN/DMN bundles as immutable, content-addressed versions."""
from pathlib import Path

from sqlalchemy import select

from .models import ProcessVersion
from .spec import SERIALIZER_VERSION, dump_spec, parse_bundle


def read_folder(folder):
    """Return {file name: text} of the .bpmn and .dmn files in a folder."""
    files = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in (".bpmn", ".dmn") and path.is_file():
            files[path.name] = path.read_text(encoding="utf-8")
    return files


def deploy_bundle(session, files, operators, forms, lane_roles, deployed_by=None):
    """Check a bundle and store a new version of each process whose current version differs from it.

    Returns (versions, created): every process's current version and the ids newly created.
    Raises DeployRejected, storing nothing, when any file or element fails a check.
    """
    bundle = parse_bundle(files, operators, forms, lane_roles)
    versions, created = [], []
    for process_id, (spec, subprocess_specs) in sorted(bundle.specs.items()):
        current = latest_version(session, process_id)
        if current is not None and current.content_hash == bundle.content_hash:
            versions.append(current)  # nothing changed for this process
            continue
        # New content, or an older bundle restored: either way a new version that becomes current.
        version = ProcessVersion(
            process_id=process_id,
            name=getattr(spec, "description", None) or process_id,
            content_hash=bundle.content_hash,
            files=dict(bundle.files),
            spec_json=dump_spec(spec, subprocess_specs),
            serializer_version=SERIALIZER_VERSION,
            deployed_by=deployed_by,
        )
        session.add(version)
        session.flush()
        versions.append(version)
        created.append(version.id)
    return versions, created


def latest_version(session, process_id):
    """Return the newest deployed version of a process, or None."""
    return session.execute(
        select(ProcessVersion).where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.id.desc()).limit(1)
    ).scalar_one_or_none()
