"""Turn rows into the API's response shapes (identifiers masked as on the pages)."""

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as translate  # labels are msgids defined in formrender (already translated)

from cases.privacy import mask_identifiers
from engine.inbox import is_overdue
from integrations.nik import mask_nik

from ..formrender import CHOICE_LABELS, describe
from .errors import api_language
from .formschemas import form_json_schema

TASK_FIELDS = (
    "id",
    "bpmn_id",
    "name",
    "queue",
    "form_name",
    "status",
    "assignee",
    "priority",
    "due_at",
    "created_at",
    "claimed_at",
)


def task_out(row):
    """A task as the API shows it."""
    out = {name: getattr(row, name) for name in TASK_FIELDS}
    out.update(business_key=row.business_key, region=row.region, flags=list(row.flags or []), overdue=is_overdue(row))
    return out


def _event_text(event):
    from flask_babel import force_locale

    from ..labels import event_text
    from .errors import api_language

    with force_locale(api_language()):
        return str(event_text(event))


def case_detail_out(app, records):
    """A case as the API shows it: what the case page shows, without photos."""
    registry = records.registry_answer()
    return {
        "case_number": app.case_number,
        "status": app.status,
        "decision": app.decision,
        "decided_by": app.decided_by,
        "decided_at": app.decided_at,
        "rule_version": app.rule_version,
        "applicant": {
            "name": app.applicant_name,
            "nik": mask_nik(app.nik),
            "district": app.district_code,
            "channel": app.channel,
            "submitted_at": app.created_at,
        },
        "household": mask_identifiers(registry.get("household") or []),
        "reasons": mask_identifiers(app.reasons or []),
        "review_flags": list(app.review_flags or []),
        "programmes": list(app.programmes or []),
        "benefits": app.benefits,
        "explanation": mask_identifiers(app.explanation or []),
        "timeline": [
            {"at": e.at, "actor": e.actor, "kind": e.kind, "summary": e.summary, "text": _event_text(e)}
            for e in records.events
        ],
        "evidence": [
            {
                "id": e.id,
                "source": e.source,
                "operator": e.operator,
                "checked_at": e.checked_at,
                "value": mask_identifiers(e.value),
            }
            for e in records.evidence
        ],
        "tasks": [task_out(t) for t in records.tasks],
    }


def case_decisions_out(app):
    """The applicant's appeals (reason, files) and the officers' decisions, as the API shows them."""
    from flask import url_for
    from sqlalchemy import select

    from cases.decisions import human_decisions
    from cases.models import Appeal
    from cases.portal.files import files_of_case
    from engine.db import db

    files = files_of_case(db.session, app)
    appeals = (
        db.session.execute(select(Appeal).where(Appeal.application_id == app.id).order_by(Appeal.id)).scalars().all()
    )
    return {
        "applicant_message": app.applicant_message,
        "appeals": [
            {
                "reason": a.reason,
                "filed_at": a.filed_at,
                "outcome": a.outcome,
                "decided_by": a.decided_by,
                "decided_at": a.decided_at,
                "files": [
                    {
                        "filename": f.filename,
                        "content_type": f.content_type,
                        "size": f.size,
                        "url": url_for("evidence.officer_file", case_number=app.case_number, key=f.key),
                    }
                    for f in files
                    if f.appeal_id == a.id
                ],
            }
            for a in appeals
        ],
        "decisions": [
            {
                "task": d.task_name,
                "form_name": d.form_name,
                "officer": d.officer,
                "officer_name": d.officer_name,
                "officer_roles": d.officer_roles,
                "at": d.at,
                "decision": d.decision,
                "reason_codes": d.reason_codes,
                "notes": d.notes,
                "message": d.message,
            }
            for d in human_decisions(db.session, app.case_number)
        ],
    }


def form_out(forms, form_name):
    """A task form: its fields with translated labels, and its JSON schema (what .../complete accepts)."""
    schema_cls = forms.get(form_name)
    if schema_cls is None:
        return None
    api = current_app.extensions["tepat_api"]
    with force_locale(api_language()):
        described = [
            {
                **f,
                "label": translate(f["label"]),
                "choices": None
                if f["choices"] is None
                else [{"value": c, "label": translate(CHOICE_LABELS.get(c, c))} for c in f["choices"]],
            }
            for f in describe(schema_cls)
        ]
    return {
        "name": form_name,
        "fields": described,
        "schema": form_json_schema(api, schema_cls),
        "schema_ref": f"#/components/schemas/{schema_cls.__name__}",
    }
