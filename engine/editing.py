"""Editing deployed definitions: drafts checked by the engine, then deployed as a new version."""

import re

from sqlalchemy import Integer, func, select

from .db import utcnow
from .deploy import deploy_bundle, latest_bundle
from .errors import DeployRejected, EngineError
from .models import ProcessDraft, ProcessInstance, ProcessVersion
from .spec import _problem, content_hash, parse_bundle, parse_untrusted_xml

FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,80}\.(bpmn|dmn)$")


class FileNameInvalid(EngineError):
    code = "FILE_NAME_INVALID"


class DraftStale(EngineError):
    code = "DRAFT_STALE"


def current_bundle(session):
    """Return (files, content hash) of the most recently deployed bundle ({} and None before any)."""
    files = latest_bundle(session)
    return (files, content_hash(files)) if files else ({}, None)


def drafts(session):
    """Return every saved draft, by file name."""
    rows = session.execute(select(ProcessDraft).order_by(ProcessDraft.file_name)).scalars()
    return {row.file_name: row for row in rows}


def check_file_name(name):
    """Refuse names that are not plain lower-case .bpmn/.dmn file names (no paths, no dots)."""
    if not isinstance(name, str) or not FILE_NAME.match(name):
        raise FileNameInvalid(f"{name!r} is not an allowed file name (a-z, 0-9, _ and -, ending .bpmn or .dmn)")
    return name


def proposed_bundle(session, replace=None):
    """The deployed bundle with every draft (and `replace`, {name: xml}) laid over it."""
    files, _hash = current_bundle(session)
    for name, draft in drafts(session).items():
        files[name] = draft.xml
    files.update(replace or {})
    return files


def check_bundle(engine, files):
    """Run every deploy check on a bundle; return the problems (empty when it would deploy)."""
    try:
        parse_bundle(files, engine.handlers, engine.forms, engine.lane_roles, engine.contracts)
    except DeployRejected as exc:
        return list(exc.problems)
    return []


def save_draft(engine, name, xml, actor):
    """Check a file in the context of the whole bundle and keep it as a draft; return its problems.

    A draft is kept even when it has problems (so no work is lost); only deploy refuses them.
    Malformed or dangerous XML (entities, oversize) is refused outright and nothing is stored.
    """
    check_file_name(name)
    if isinstance(xml, str):
        xml_bytes = xml.encode("utf-8")
    else:
        xml_bytes = xml
        try:
            xml = xml.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DeployRejected(
                f"{name}: not UTF-8 text", [_problem(name, None, "not UTF-8 text", code="NOT_UTF8")]
            ) from exc
    parse_untrusted_xml(name, xml_bytes)  # oversize, DOCTYPE/entities, malformed: refused, nothing kept
    problems = check_bundle(engine, proposed_bundle(engine.session, {name: xml}))
    session = engine.session
    _files, base_hash = current_bundle(session)
    draft = session.execute(select(ProcessDraft).where(ProcessDraft.file_name == name)).scalar_one_or_none()
    if draft is None:
        draft = ProcessDraft(file_name=name, base_hash=base_hash)
        session.add(draft)
    draft.xml = xml
    draft.problems = problems
    draft.saved_by = _actor_id(actor)
    draft.saved_at = utcnow()
    session.flush()
    return problems


def restore_as_drafts(engine, version, actor):
    """Put an older version's files that differ from the deployed bundle into drafts; return their names.

    Deploying them afterwards makes that content current again as a new version (a roll-back that
    keeps the history); running cases are not moved by this.
    """
    files, _hash = current_bundle(engine.session)
    restored = []
    for name, xml in sorted(version.files.items()):
        if files.get(name) != xml:
            save_draft(engine, name, xml, actor)
            restored.append(name)
    return restored


def discard_draft(session, name):
    """Delete the draft of a file; return whether there was one."""
    draft = session.execute(select(ProcessDraft).where(ProcessDraft.file_name == name)).scalar_one_or_none()
    if draft is None:
        return False
    session.delete(draft)
    session.flush()
    return True


def deploy_drafts(engine, actor, allow_stale=False):
    """Deploy the bundle with every draft; on success drop the drafts. Return (versions, created ids).

    Raises DeployRejected (nothing stored, drafts kept) or DraftStale when someone deployed since a
    draft was started and `allow_stale` is not set.
    """
    session = engine.session
    pending = drafts(session)
    if not pending:
        raise DeployRejected("there is nothing to deploy: no drafts", [])
    _files, base_hash = current_bundle(session)
    stale = sorted(name for name, d in pending.items() if d.base_hash != base_hash)
    if stale and not allow_stale:
        raise DraftStale(
            f"a newer version was deployed after these drafts were started: {', '.join(stale)}", files=stale
        )
    files = proposed_bundle(session)
    versions, created = deploy_bundle(
        session,
        files,
        engine.handlers,
        engine.forms,
        engine.lane_roles,
        deployed_by=_actor_id(actor),
        origin="editor",
        contracts=engine.contracts,
    )
    for draft in pending.values():
        session.delete(draft)
    session.flush()
    return versions, created


def version_list(session, process_id):
    """Return [(version, live instance count, all instance count)] of a process, newest first."""
    live = func.sum(func.cast(ProcessInstance.status.notin_(("completed", "cancelled")), Integer))
    counts = dict(
        (row[0], (int(row[1] or 0), int(row[2] or 0)))
        for row in session.execute(
            select(ProcessInstance.version_id, live, func.count(ProcessInstance.id))
            .join(ProcessVersion, ProcessVersion.id == ProcessInstance.version_id)
            .where(ProcessVersion.process_id == process_id)
            .group_by(ProcessInstance.version_id)
        )
    )
    versions = (
        session.execute(
            select(ProcessVersion).where(ProcessVersion.process_id == process_id).order_by(ProcessVersion.id.desc())
        )
        .scalars()
        .all()
    )
    return [(v, *counts.get(v.id, (0, 0))) for v in versions]


def process_ids(session):
    """Return every deployed process id with its newest version id."""
    rows = session.execute(
        select(ProcessVersion.process_id, func.max(ProcessVersion.id))
        .group_by(ProcessVersion.process_id)
        .order_by(ProcessVersion.process_id)
    ).all()
    return [(pid, vid) for pid, vid in rows]


def _actor_id(actor):
    return getattr(actor, "id", actor)
