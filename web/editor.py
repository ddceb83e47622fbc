"""Process and rule editing for administrators: bpmn-js/dmn-js modelers, drafts checked by the engine, deploy."""

import re

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cases.audit import record
from engine import editing
from engine.db import db, unit_of_work
from engine.errors import EngineError

from . import CSP, services, talisman
from .auth import roles_required
from .editor_messages import problem_text, refusal_text

bp = Blueprint("editor", __name__, url_prefix="/admin/processes")
UPLOAD_LIMIT = 3 * 1024 * 1024  # the engine refuses files over 2 MiB; the request may carry a little more


def _audit(action, target_id, detail=None):
    record(
        db.session,
        current_user.actor,
        action,
        target_type="process_file",
        target_id=target_id,
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:300],
        detail=detail,
    )


def _file_name_or_404(name):
    try:
        return editing.check_file_name(name)
    except EngineError:
        abort(404)


def _with_text(problems):
    return [{**p, "text": problem_text(p)} for p in problems]


@bp.get("")
@roles_required("administrator")
def index():
    """List the deployed files, drafts and processes with their versions."""
    files, bundle_hash = editing.current_bundle(db.session)
    drafts = editing.drafts(db.session)
    names = sorted(set(files) | set(drafts))
    processes = [(pid, editing.version_list(db.session, pid)[:3]) for pid, _vid in editing.process_ids(db.session)]
    return render_template(
        "editor_index.html",
        names=names,
        files=files,
        drafts=drafts,
        bundle_hash=bundle_hash,
        processes=processes,
        problems={n: _with_text(d.problems) for n, d in drafts.items()},
    )


# dmn-js's decision table sets style attributes; style attributes cannot run scripts, so only they are allowed.
@bp.get("/files/<name>")
@talisman(content_security_policy={**CSP, "style-src-attr": "'unsafe-inline'"})
@roles_required("administrator")
def edit(name):
    """Open a file in the modeler (its draft if there is one)."""
    name = _file_name_or_404(name)
    files, _hash = editing.current_bundle(db.session)
    if name not in files and name not in editing.drafts(db.session):
        abort(404)
    kind = "dmn" if name.endswith(".dmn") else "bpmn"
    engine = services().engine
    return render_template(
        "editor_edit.html",
        name=name,
        kind=kind,
        forms=sorted(engine.forms),
        operators=sorted(engine.handlers),
        statuses=_known_statuses(files),
        lanes=_lane_choices(engine.lane_roles),
    )


STATUS_PROPERTY = re.compile(r'name="caseStatus"\s+value="([A-Z][A-Z0-9_]{1,39})"')


def _known_statuses(files):
    """[(code, label)]: every case status (cases/statuses.py) and every status a deployed diagram sets."""
    from cases.statuses import CaseStatus

    from .labels import status_label

    codes = {status.value for status in CaseStatus}
    for xml in files.values():
        codes.update(STATUS_PROPERTY.findall(xml))
    return sorted(((code, status_label(code)) for code in codes), key=lambda pair: str(pair[1]).casefold())


def _lane_choices(lane_roles):
    """[(lane name, label)]: the lanes the engine maps to a role (BANSOS_LANE_ROLES), labelled by the role."""
    from .admin.forms import ROLE_LABELS

    labels = {"system": _("system (no officer)")}
    return [
        (lane, f"{labels.get(role) or ROLE_LABELS.get(role, role)} ({lane})")
        for lane, role in sorted(lane_roles.items())
    ]


@bp.get("/files/<name>/source.json")
@roles_required("administrator")
def source(name):
    """Return the XML the modeler opens: the draft, else the deployed file."""
    name = _file_name_or_404(name)
    files, bundle_hash = editing.current_bundle(db.session)
    draft = editing.drafts(db.session).get(name)
    if draft is not None:
        return jsonify(
            xml=draft.xml,
            source="draft",
            problems=_with_text(draft.problems),
            stale=draft.base_hash != bundle_hash,
            saved_by=draft.saved_by,
            saved_at=draft.saved_at.isoformat(),
        )
    if name not in files:
        abort(404)
    return jsonify(xml=files[name], source="deployed", problems=[], stale=False)


@bp.post("/files/<name>/draft")
@roles_required("administrator")
def save(name):
    """Check the modeler's XML against the engine and keep it as a draft; answer with the problems."""
    name = _file_name_or_404(name)
    payload = request.get_json(silent=True) or {}
    xml = payload.get("xml")
    if not isinstance(xml, str) or not xml:
        return jsonify(saved=False, problems=[], message=_("The editor sent no diagram.")), 400
    try:
        with unit_of_work(db.session):
            problems = editing.save_draft(services().engine, name, xml, current_user.actor)
            _audit("process.draft_saved", name, {"problems": len(problems)})
    except EngineError as exc:
        problems = getattr(exc, "problems", None) or []
        with unit_of_work(db.session):  # a second unit: the refusal is kept, the draft is not
            _audit("process.draft_refused", name, {"code": exc.code})
        return jsonify(saved=False, problems=_with_text(problems), message=refusal_text(exc)), 422
    return jsonify(
        saved=True,
        problems=_with_text(problems),
        message=_("Saved. The engine found no problems.")
        if not problems
        else _("Saved as a draft, but it cannot be deployed until the marked problems are fixed."),
    )


@bp.post("/files/<name>/discard")
@roles_required("administrator")
def discard(name):
    """Throw a draft away."""
    name = _file_name_or_404(name)
    with unit_of_work(db.session):
        discarded = editing.discard_draft(db.session, name)
        if discarded:
            _audit("process.draft_discarded", name)
    if discarded:
        flash(_("The draft of %(name)s was discarded.", name=name), "success")
    return redirect(url_for("editor.index"))


@bp.post("/upload")
@roles_required("administrator")
def upload():
    """Take a .bpmn/.dmn file from disk as a draft (checked exactly like an edit)."""
    if (request.content_length or 0) > UPLOAD_LIMIT:
        with unit_of_work(db.session):
            _audit("process.upload_refused", None, {"reason": "too large", "bytes": request.content_length})
        flash(_("The file is too large (at most 2 MiB)."), "danger")
        return redirect(url_for("editor.index")), 303
    request.max_content_length = UPLOAD_LIMIT
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        flash(_("Choose a .bpmn or .dmn file."), "danger")
        return redirect(url_for("editor.index")), 303
    name = upload_file.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].lower()
    content = upload_file.read(UPLOAD_LIMIT + 1)
    try:
        with unit_of_work(db.session):
            problems = editing.save_draft(services().engine, name, content, current_user.actor)
            _audit("process.draft_uploaded", name, {"problems": len(problems), "bytes": len(content)})
    except EngineError as exc:
        with unit_of_work(db.session):  # a second unit: the refusal is kept, the draft is not
            _audit("process.upload_refused", name[:100], {"code": exc.code})
        flash(refusal_text(exc), "danger")
        return redirect(url_for("editor.index")), 303
    if problems:
        flash(
            _("%(name)s was saved as a draft with problems; open it to see them on the diagram.", name=name), "warning"
        )
    else:
        flash(_("%(name)s was saved as a draft; the engine found no problems.", name=name), "success")
    return redirect(url_for("editor.index")), 303


@bp.post("/deploy")
@roles_required("administrator")
def deploy():
    """Deploy every draft as a new version of the processes."""
    try:
        with unit_of_work(db.session):
            versions, created = editing.deploy_drafts(
                services().engine, current_user.actor, allow_stale=request.form.get("allow_stale") == "1"
            )
            detail = {"created": created, "versions": {v.process_id: v.id for v in versions}}
            _audit("process.deployed", ",".join(str(i) for i in created) or None, detail)
    except EngineError as exc:
        with unit_of_work(db.session):  # a second unit: the refusal is kept, the deployment is not
            _audit("process.deploy_refused", None, {"code": exc.code})
        flash(refusal_text(exc), "danger")
        return redirect(url_for("editor.index")), 303
    made = ", ".join(f"{v.process_id} {v.number}" for v in versions if v.id in created) or "-"
    flash(_("Deployed: new applications now use version(s) %(ids)s.", ids=made), "success")
    return redirect(url_for("editor.index")), 303
