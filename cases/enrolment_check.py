"""What an approver must know before approving: the grounds that still fail and whether any programme
qualifies (processes/application.bpmn, check_enrolment), read from the waiting approval task."""

from uuid import UUID

from SpiffWorkflow.exceptions import TaskNotFoundException

from engine.models import ProcessInstance
from forms.reason_codes import REASONS, ReasonCode

NO_PROGRAMME_CODE = ReasonCode.NO_PROGRAMME.value


def _task_data(engine, row):
    """Return the data the waiting user task `row` holds, read-only ({} if it cannot be found)."""
    instance = engine.session.get(ProcessInstance, row.instance_id)
    if instance is None or instance.status in ("completed", "cancelled"):
        return {}
    workflow = engine.load_readonly(instance)
    try:
        return workflow.get_task_from_id(UUID(row.task_guid)).data
    except TaskNotFoundException:  # gone since the row was written: nothing to warn about
        return {}


def approval_warning(engine, row):
    """Return a warning for an approval task whose family cannot be enrolled, else None.

    {"blockers": [reason dicts with id/en texts], "overturned": [codes set aside by the appeal],
     "legacy": True when the case runs a process version without the check (approving there would
     enrol the family with no programme)}.
    """
    if row is None or row.bpmn_id != "approve":
        return None
    data = _task_data(engine, row)
    if "enrolable" in data:
        if data["enrolable"]:
            return None
        return {
            "blockers": list(data.get("enrol_blockers") or []),
            "overturned": list(data.get("overturned_grounds") or []),
            "legacy": False,
        }
    if data and not data.get("programmes"):  # an older version: its approval would enrol with Rp0
        return {
            "blockers": [
                {
                    "code": NO_PROGRAMME_CODE,
                    "effect": "reject",
                    "id": REASONS[ReasonCode.NO_PROGRAMME].id,
                    "en": REASONS[ReasonCode.NO_PROGRAMME].en,
                }
            ],
            "overturned": [],
            "legacy": True,
        }
    return None
