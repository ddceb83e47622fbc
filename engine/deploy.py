"""Deploying BPMN/DMN bundles: a new version only for a process whose own files changed.

Versions count per process (1, 2, 3 of `application`). A version deployed from the process folder has
origin "folder", one an administrator deployed in the browser "editor". Deploying the folder again
(`tepat setup`, `make run`, `tepat deploy`) only deploys a process whose files in the folder changed
since the folder last deployed them, and never silently replaces an administrator's version: it reports
the difference and leaves that version current unless forced.
"""

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from .db import hold_write_lock
from .errors import DeployRejected
from .models import ProcessVersion
from .spec import SERIALIZER_VERSION, _problem, content_hash, dump_spec, parse_bundle

# The PostgreSQL advisory lock that makes deploys one at a time (versions are numbered per process).
DEPLOY_LOCK_KEY = int.from_bytes(b"tepatdpl", "big") >> 1


def read_folder(folder):
    """Return {file name: text} of the .bpmn and .dmn files in a folder; a file not in UTF-8 is refused."""
    files, problems = {}, []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in (".bpmn", ".dmn") and path.is_file():
            try:
                files[path.name] = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                problems.append(_problem(path.name, None, "not UTF-8 text", code="NOT_UTF8"))
    if problems:
        raise DeployRejected(f"{problems[0]['file']}: not UTF-8 text", problems)
    return files


@dataclass
class FolderReport:
    """What deploying the folder did to each process."""

    versions: list = field(default_factory=list)  # every process's current version afterwards
    created: list = field(default_factory=list)  # ids of the versions made now
    kept: list = field(default_factory=list)  # [(process id, current version)]: folder file differs, not replaced
    forced: list = field(default_factory=list)  # [(process id, replaced version)] replaced by --force

    def __iter__(self):  # `versions, created = engine.deploy_folder()`
        return iter((self.versions, self.created))


def latest_version(session, process_id):
    """Return the newest deployed version of a process, or None."""
    # populate_existing: a remembered copy merged into this session earlier (Engine.remembered_version)
    # never stands in for what the row says now.
    return session.execute(
        select(ProcessVersion)
        .where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.id.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def latest_bundle(session):
    """Return {file name: xml} as of the most recently deployed version ({} before any)."""
    version = session.execute(select(ProcessVersion).order_by(ProcessVersion.id.desc()).limit(1)).scalar_one_or_none()
    return dict(version.files) if version is not None else {}


def _same_files(version, files, names):
    """True when `version` was deployed with exactly these texts for the files a process uses."""
    stored = version.files or {}
    return all(stored.get(name) == files.get(name) for name in names)


def _new_version(session, process_id, spec, subprocess_specs, names, files, deployed_by, origin):
    number = (
        session.scalar(select(func.max(ProcessVersion.number)).where(ProcessVersion.process_id == process_id)) or 0
    ) + 1
    version = ProcessVersion(
        process_id=process_id,
        number=number,
        origin=origin,
        name=(getattr(spec, "description", None) or process_id)[:200],
        content_hash=content_hash({name: files[name] for name in names}),
        files=dict(files),
        spec_json=dump_spec(spec, subprocess_specs),
        serializer_version=SERIALIZER_VERSION,
        deployed_by=deployed_by,
    )
    session.add(version)
    session.flush()
    return version


def deploy_bundle(session, files, operators, forms, lane_roles, deployed_by=None, origin="editor", contracts=()):
    """Check a bundle and store a new version of each process whose own files differ from its current version.

    Returns (versions, created): every process's current version and the ids newly created.
    Raises DeployRejected, storing nothing, when any file or element fails a check.
    """
    bundle = parse_bundle(files, operators, forms, lane_roles, contracts)
    hold_write_lock(session, ProcessVersion, DEPLOY_LOCK_KEY)  # per-process numbers: one deploy at a time
    stored = {**latest_bundle(session), **files}
    versions, created = [], []
    for process_id, (spec, subprocess_specs) in sorted(bundle.specs.items()):
        names = bundle.dependencies[process_id]
        current = latest_version(session, process_id)
        if current is not None and _same_files(current, files, names):
            versions.append(current)  # nothing this process uses changed
            continue
        # New content, or older content restored: either way a new version that becomes current.
        version = _new_version(session, process_id, spec, subprocess_specs, names, stored, deployed_by, origin)
        versions.append(version)
        created.append(version.id)
    return versions, created


def _last_from_folder(session, process_id):
    return session.execute(
        select(ProcessVersion)
        .where(ProcessVersion.process_id == process_id, ProcessVersion.origin == "folder")
        .order_by(ProcessVersion.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def deploy_folder_files(session, files, operators, forms, lane_roles, deployed_by=None, force=False, contracts=()):
    """Deploy the process folder's files; return a FolderReport.

    A process is deployed when its files in the folder changed since the folder last deployed it. When
    an administrator deployed a version of it in the browser since, that version stays current and the
    process is listed in `kept` (unless `force`, listed in `forced`). Raises DeployRejected like deploy_bundle.
    """
    bundle = parse_bundle(files, operators, forms, lane_roles, contracts)
    hold_write_lock(session, ProcessVersion, DEPLOY_LOCK_KEY)
    report = FolderReport()
    plan = []
    keep_names = set()
    for process_id, (spec, subprocess_specs) in sorted(bundle.specs.items()):
        names = bundle.dependencies[process_id]
        current = latest_version(session, process_id)
        if current is not None and _same_files(current, files, names):
            report.versions.append(current)
            continue
        last = _last_from_folder(session, process_id)
        folder_changed = last is None or not _same_files(last, files, names)
        if current is not None and current.origin != "folder" and not force:
            if folder_changed:
                report.kept.append((process_id, current))
            report.versions.append(current)
            keep_names.update(names)
            continue
        if current is not None and current.origin != "folder":
            report.forced.append((process_id, current))
        plan.append((process_id, spec, subprocess_specs, names))
    # The bundle stored with new versions: the deployed files, with the folder's files of what is deployed now.
    stored = latest_bundle(session)
    deploying = {name for plan_row in plan for name in plan_row[3]}
    for name, text in files.items():
        if name in deploying or name not in keep_names or name not in stored:
            stored[name] = text
    for process_id, spec, subprocess_specs, names in plan:
        version = _new_version(session, process_id, spec, subprocess_specs, names, stored, deployed_by, "folder")
        report.versions.append(version)
        report.created.append(version.id)
    report.versions.sort(key=lambda v: v.process_id)
    return report
