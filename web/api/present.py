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

TASK_FIELDS = ("id", "bpmn_id", "name", "queue", "form_name", "status", "assignee", "priority", "due_at",
               "created_at", "claimed_at")


def task_out(row):
    """A task as the API shows it."""
    out = {name: getattr(row, name) for name in TASK_FIELDS}
    out.update(business_key=row.business_key, region=row.region, flags=list(row.flags or []),
               overdue=is_overdue(row))
    return out


def case_detail_out(app, records):
    """A case as the API shows it: what the case page shows, without photos."""
    registry = records.registry_answer()
    return {
        "case_number": app.case_number, "status": app.status, "decision": app.decision,
        "decided_by": app.decided_by, "decided_at": app.decided_at, "rule_version": app.rule_version,
        "applicant": {"name": app.applicant_name, "nik": mask_nik(app.nik), "district": app.district_code,
                      "channel": app.channel, "submitted_at": app.created_at},
        "household": mask_identifiers(registry.get("household") or []),
        "reasons": mask_identifiers(app.reasons or []), "review_flags": list(app.review_flags or []),
        "programmes": list(app.programmes or []), "benefits": app.benefits,
        "explanation": mask_identifiers(app.explanation or []),
        "timeline": records.events,
        "evidence": [{"id": e.id, "source": e.source, "operator": e.operator, "checked_at": e.checked_at,
                      "value": mask_identifiers(e.value)} for e in records.evidence],
        "tasks": [task_out(t) for t in records.tasks],
    }


def form_out(forms, form_name):
    """A task form: its fields with translated labels, and its JSON schema (what .../complete accepts)."""
    schema_cls = forms.get(form_name)
    if schema_cls is None:
        return None
    api = current_app.extensions["tepat_api"]
    with force_locale(api_language()):
        described = [{**f, "label": translate(f["label"]),
                      "choices": None if f["choices"] is None else
                      [{"value": c, "label": translate(CHOICE_LABELS.get(c, c))} for c in f["choices"]]}
                     for f in describe(schema_cls)]
    return {"name": form_name, "fields": described,
            "schema": form_json_schema(api, schema_cls),
            "schema_ref": f"#/components/schemas/{schema_cls.__name__}"}
