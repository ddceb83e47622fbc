"""Process definitions: deployed processes and versions with instance counts; the XML for administrators."""

from flask import Response, url_for
from flask_smorest import Blueprint

from engine.catalog import instance_counts, is_latest, process_catalog, version_or_none
from engine.db import db

from ..casepages import READERS
from . import API_PREFIX, documented_errors
from .auth import api_roles_required
from .errors import api_abort, register_json_errors
from .schemas import ProcessSchema, VersionDetailSchema

bp = Blueprint(
    "api_processes",
    __name__,
    url_prefix=f"{API_PREFIX}/processes",
    description="Deployed process definitions (BPMN/DMN bundles) and their versions.",
)
register_json_errors(bp)


def _version_out(version, counts, latest):
    return {
        "id": version.id,
        "number": version.number,
        "process_id": version.process_id,
        "name": version.name,
        "content_hash": version.content_hash,
        "deployed_at": version.deployed_at,
        "deployed_by": version.deployed_by,
        "latest": latest,
        "instances": counts.get(version.id, {}),
    }


def _version_or_404(process_id, version_id):
    version = version_or_none(db.session, process_id, version_id)
    if version is None:
        api_abort(404, "NOT_FOUND")
    return version


@bp.route("")
@api_roles_required(*READERS)
@bp.response(200, ProcessSchema(many=True))
@documented_errors(bp, 401, 403)
def index():
    """List deployed processes with every version (newest first) and its instances by status."""
    counts = instance_counts(db.session)
    return [
        {
            "process_id": process_id,
            "latest_version": versions[0].id,
            "latest_number": versions[0].number,
            "versions": [_version_out(v, counts, i == 0) for i, v in enumerate(versions)],
        }
        for process_id, versions in process_catalog(db.session)
    ]


@bp.route("/<process_id>/versions/<int:version_id>")
@api_roles_required(*READERS)
@bp.response(200, VersionDetailSchema)
@documented_errors(bp, 401, 403, 404)
def version(process_id, version_id):
    """Show one version: who deployed it and when, its instances, and the BPMN/DMN files of its bundle."""
    found = _version_or_404(process_id, version_id)
    out = _version_out(found, instance_counts(db.session), is_latest(db.session, found))
    out["files"] = [
        {
            "name": name,
            "kind": name.rsplit(".", 1)[-1],
            "size": len(xml),
            "url": url_for(".file", process_id=process_id, version_id=version_id, name=name),
        }
        for name, xml in sorted(found.files.items())
    ]
    return out


@bp.route("/<process_id>/versions/<int:version_id>/files/<name>")
@api_roles_required("administrator")
@bp.response(200, {"type": "string"}, content_type="application/xml", description="The BPMN or DMN XML as deployed")
@documented_errors(bp, 401, 403, 404)
def file(process_id, version_id, name):
    """Download one BPMN/DMN file of a version as deployed (administrators)."""
    xml = _version_or_404(process_id, version_id).files.get(name)
    if xml is None:
        api_abort(404, "NOT_FOUND")
    return Response(xml, mimetype="application/xml", headers={"X-Content-Type-Options": "nosniff"})
