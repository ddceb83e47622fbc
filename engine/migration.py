"""Moving running instances to a newer version of their process, after a dry run.

An instance can move when every task it is at (ready, waiting, running or failed) still exists in the
new version with the same kind. Waiting timers keep their original due time (an appeal window does not
restart), user tasks keep their id, claim and due date; their queue, form and name follow the new diagram.
"""

from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from .errors import EngineError
from .models import HumanTask, ProcessInstance, ProcessVersion
from .runtime import OPEN_STATES, human_task_fields
from .spec import SPEC_SERIALIZER

LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
DONE_STATUSES = ("completed", "cancelled")


class MigrationRefused(EngineError):
    code = "MIGRATION_REFUSED"


@dataclass
class MigrationCheck:
    """The dry-run verdict on one instance."""

    instance_id: int
    business_key: str
    status: str
    can_move: bool
    positions: list = field(default_factory=list)  # bpmn ids the instance is at
    reasons: list = field(default_factory=list)  # why it cannot move (English, with codes)
    changes: list = field(default_factory=list)  # what changes where it is (informative)


def _diff(workflow, spec, subprocess_specs):
    return diff_workflow(SPEC_SERIALIZER.registry, workflow, spec, subprocess_specs)


def check_workflow(workflow, spec, subprocess_specs):
    """Return (can_move, positions, reasons, changes) for one loaded workflow."""
    top, sub_diffs = _diff(workflow, spec, subprocess_specs)
    live = [t for t in workflow.get_tasks(state=LIVE, skip_subprocesses=True)]
    positions = sorted({t.task_spec.bpmn_id for t in live if getattr(t.task_spec, "bpmn_id", None)})
    reasons, changes = [], []
    removed = {t.id for t in top.removed}
    changed = {t.id for t in top.changed}
    for task in live:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
        if task.id in removed:
            reasons.append(
                {
                    "code": "POSITION_REMOVED",
                    "element": bpmn_id,
                    "message": f"it is at {bpmn_id!r}, which the new version no longer has",
                }
            )
        elif task.id in changed:
            new_spec = top.alignment.get(task)
            if new_spec is not None and type(new_spec) is not type(task.task_spec):
                reasons.append(
                    {
                        "code": "POSITION_KIND_CHANGED",
                        "element": bpmn_id,
                        "message": f"{bpmn_id!r} is a different kind of element in the new version",
                    }
                )
            else:
                changes.append({"element": bpmn_id, "message": f"{bpmn_id!r} changed in the new version"})
    for sp_id, sp_diff in sub_diffs.items():
        if sp_diff is None:
            reasons.append(
                {
                    "code": "SUBPROCESS_REMOVED",
                    "element": str(sp_id),
                    "message": "a subprocess it is running no longer exists in the new version",
                }
            )
    return not reasons, positions, reasons, changes


def dry_run(engine, from_version_id, to_version_id, limit=1000):
    """List the live instances of one version and whether each can move to the other."""
    source, target = _versions(engine, from_version_id, to_version_id)
    spec, subprocess_specs = engine.specs_for(target)
    instances = (
        engine.session.execute(
            select(ProcessInstance)
            .where(ProcessInstance.version_id == source.id, ProcessInstance.status.notin_(DONE_STATUSES))
            .order_by(ProcessInstance.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    results = []
    for instance in instances:
        workflow = engine.load_readonly(instance)
        ok, positions, reasons, changes = check_workflow(workflow, spec, subprocess_specs)
        results.append(
            MigrationCheck(instance.id, instance.business_key, instance.status, ok, positions, reasons, changes)
        )
    return results


def migrate(engine, from_version_id, to_version_id, instance_ids):
    """Move the given instances (each under its lock) if they still pass the check; return the checks.

    The caller commits. Instances that no longer pass (they moved on since the dry run) stay where they are.
    """
    source, target = _versions(engine, from_version_id, to_version_id)
    spec, subprocess_specs = engine.specs_for(target)
    results = []
    for instance_id in instance_ids:
        runtime = engine.open(instance_id)
        instance = runtime.instance
        if instance.version_id != source.id or instance.status in DONE_STATUSES:
            results.append(
                MigrationCheck(
                    instance.id,
                    instance.business_key,
                    instance.status,
                    False,
                    reasons=[
                        {
                            "code": "NOT_ON_SOURCE_VERSION",
                            "element": None,
                            "message": "it is no longer a live instance of that version",
                        }
                    ],
                )
            )
            continue
        workflow = runtime.workflow
        ok, positions, reasons, changes = check_workflow(workflow, spec, subprocess_specs)
        check = MigrationCheck(instance.id, instance.business_key, instance.status, ok, positions, reasons, changes)
        results.append(check)
        if not ok:
            continue
        _move(runtime, target, spec, subprocess_specs)
    return results


def _move(runtime, target, spec, subprocess_specs):
    workflow = runtime.workflow
    kept = {t.id: dict(t.internal_data) for t in workflow.get_tasks(state=TaskState.WAITING | TaskState.READY)}
    top, sub_diffs = _diff(workflow, spec, subprocess_specs)
    migrate_workflow(top, workflow, spec)
    for sp_id, sp_diff in sub_diffs.items():
        sub = workflow.subprocesses[sp_id]
        migrate_workflow(sp_diff, sub, subprocess_specs[sub.spec.name])
    workflow.subprocess_specs = subprocess_specs
    for task in workflow.get_tasks():
        saved = kept.get(task.id)
        if saved and "event_value" in saved:
            # A timer keeps the due time it had: migrating must not restart a deadline.
            task.internal_data["event_value"] = saved["event_value"]
    instance = runtime.instance
    old_version_id = instance.version_id
    instance.version = target
    instance.version_id = target.id
    runtime.journal.add("migrated", from_version_id=old_version_id, to_version_id=target.id)
    _refresh_task_rows(runtime)
    runtime.run()
    runtime.save()


def _refresh_task_rows(runtime):
    """Open task rows keep id, claim and due date; queue, form, name and four-eyes follow the diagram."""
    engine = runtime.engine
    rows = runtime.session.execute(
        select(HumanTask).where(HumanTask.instance_id == runtime.instance.id, HumanTask.status.in_(OPEN_STATES))
    ).scalars()
    for row in rows:
        task = runtime.get_task(row.task_guid)
        if task is None or not task.has_state(TaskState.READY):
            continue
        fields = human_task_fields(task, engine.lane_roles, engine.holidays, row.created_at)
        for name in ("bpmn_id", "name", "queue", "form_name", "priority", "excluded_after"):
            setattr(row, name, fields[name])


def _versions(engine, from_version_id, to_version_id):
    session = engine.session
    source = session.get(ProcessVersion, from_version_id)
    target = session.get(ProcessVersion, to_version_id)
    if source is None or target is None:
        raise MigrationRefused("unknown version")
    if source.process_id != target.process_id:
        raise MigrationRefused(f"versions of different processes: {source.process_id} and {target.process_id}")
    if source.id == target.id:
        raise MigrationRefused("the two versions are the same")
    return source, target
