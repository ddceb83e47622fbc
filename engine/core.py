"""The engine facade: deploy, start, act on instances, fire timers, handle incidents.

Every method works inside the caller's transaction and only flushes; the caller commits once.
"""

import threading
from dataclasses import dataclass, field
from datetime import date

from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import make_transient_to_detached

from . import signals
from .db import utcnow
from .deploy import deploy_bundle, deploy_folder_files, latest_version, read_folder
from .errors import (
    IncidentNotFound,
    IncidentNotSkippable,
    MessageNotExpected,
    ProcessNotDeployed,
)
from .models import HumanTask, Incident, ProcessInstance, ProcessVersion
from .runtime import InstanceRuntime, human_task_fields
from .script_engine import RETRY_KEY, TepatScriptEngine
from .spec import load_spec, load_state
from .wakes import due_instances, is_wake_incident, record_wake_failure, reschedule_wake

_SPEC_CACHE: dict = {}
_SPEC_LOCK = threading.Lock()
# The files of deployed versions, per (version id, content hash): a version never changes once
# deployed, and a newly deployed one has a new id, so a cached bundle can never be stale.
_FILES_CACHE: dict = {}
# The plain (not deferred) columns of a version, copied into the engine's remembered version.
_VERSION_FIELDS = (
    "id",
    "process_id",
    "number",
    "origin",
    "name",
    "content_hash",
    "serializer_version",
    "deployed_at",
    "deployed_by",
)


@dataclass(frozen=True)
class Actor:
    """Who acts: an officer id with roles and regions (None = every region)."""

    id: str
    roles: frozenset = field(default_factory=frozenset)
    regions: frozenset | None = None
    name: str = ""

    def in_region(self, region):
        """Return True if this actor may work cases of `region` (the rule: engine/scope.py)."""
        from .scope import in_scope

        return in_scope(self, region)


SYSTEM = Actor("system", frozenset({"system"}))


class Engine:
    """Deploys process versions and runs instances on a SQLAlchemy session."""

    def __init__(self, session, settings, integrations, forms, handlers=None, photos=None, contracts=()):
        self.session = session
        # The ProcessContracts the domain declares (cases/contracts.py, payments/contracts.py):
        # every deploy checks them.
        self.contracts = tuple(contracts)
        self.settings = settings
        self.forms = forms
        self.script_engine = TepatScriptEngine(settings, integrations, handlers, photos)
        self.handlers = self.script_engine.handlers
        self.lane_roles = settings["BANSOS_LANE_ROLES"]
        self.holidays = {date.fromisoformat(d) for d in settings.get("BANSOS_HOLIDAYS") or []}
        # With workers, requests and commands leave engine steps to them (engine.dispatch); the
        # workers' own engines run them. `hint_sender(ids)` tells the queue after a commit.
        self.defer_steps = settings.get("BANSOS_EXECUTION", "inline") == "celery"
        self.hint_sender = None
        self.chunk_hint_sender = None  # `sender([(run, chunk)])`: hints for tracked runs (engine/runs.py)
        # {process id: a detached copy of the newest version this engine has read}: what a submission
        # prepares with before it writes. It may be stale; the submission's INSERT reads the newest
        # version's id in the same statement and the engine re-reads it on a mismatch (see
        # `remembered_version`), so a version deployed before that statement is never missed.
        self._latest = {}

    # --- definitions -------------------------------------------------------------------------

    def deploy_folder(self, folder=None, deployed_by=None, force=False):
        """Deploy the BPMN/DMN files of a folder (the settings' process folder by default); return a FolderReport.

        Only processes whose files changed since the folder last deployed them get a new version; a
        version an administrator deployed in the editor stays current unless `force`.
        """
        files = read_folder(folder or self.settings["BANSOS_PROCESS_DIR"])
        return deploy_folder_files(
            self.session, files, self.handlers, self.forms, self.lane_roles, deployed_by, force, self.contracts
        )

    def deploy_files(self, files, deployed_by=None, origin="editor"):
        """Deploy a bundle {name: xml}; return (versions, newly created ids)."""
        return deploy_bundle(
            self.session, files, self.handlers, self.forms, self.lane_roles, deployed_by, origin, self.contracts
        )

    def latest_version(self, process_id):
        """Return the newest version of a process or raise ProcessNotDeployed."""
        version = latest_version(self.session, process_id)
        if version is None:
            raise ProcessNotDeployed(f"process {process_id!r} has not been deployed")
        self._remember(version)
        return version

    def _remember(self, version):
        copy = ProcessVersion(**{name: getattr(version, name) for name in _VERSION_FIELDS})
        make_transient_to_detached(copy)
        self._latest[version.process_id] = copy

    def remembered_version(self, process_id):
        """The newest version of a process as this engine last read it, in this session without a
        query; None when none was read yet. It may be stale: use it only where the caller then checks
        the newest version's (id, content hash) in a statement it sends anyway, and calls
        `latest_version` on a mismatch (cases.operations.submit_application does, in its INSERT)."""
        seen = self._latest.get(process_id)
        # Only while its operators are known without reading its spec: the row may be gone (tests reset
        # the schema), and only the caller's check tells.
        if seen is None or ("operators", seen.id, seen.content_hash) not in _FILES_CACHE:
            return None
        return self.session.merge(seen, load=False)

    def specs_for(self, version):
        """Return the (spec, subprocess_specs) objects of a version, restored once per process."""
        key = (version.id, version.content_hash)
        cached = _SPEC_CACHE.get(key)
        if cached is None:
            with _SPEC_LOCK:
                cached = _SPEC_CACHE.get(key)
                if cached is None:
                    cached = _SPEC_CACHE[key] = load_spec(version.spec_json)
        return cached

    def version_files(self, version):
        """Return the {name: xml} files of a deployed version, read from the database once per process."""
        key = (version.id, version.content_hash)
        cached = _FILES_CACHE.get(key)
        if cached is None:
            cached = _FILES_CACHE[key] = dict(version.files)
        return cached

    def operators(self, version):
        """Return the set of service-task operators a version's diagrams call (cached per version)."""
        key = ("operators", version.id, version.content_hash)
        cached = _FILES_CACHE.get(key)
        if cached is None:
            spec, subprocess_specs = self.specs_for(version)
            cached = _FILES_CACHE[key] = frozenset(
                name
                for s in (spec, *subprocess_specs.values())
                for ts in s.task_specs.values()
                if (name := getattr(ts, "operation_name", None))
            )
        return cached

    # --- instances ---------------------------------------------------------------------------

    def start(self, process_id, business_key, data, region=None, version=None):
        """Start an instance of the latest (or given) version and run it as far as it goes."""
        if version is None:
            # No autoflush: a deployed version is flushed when deployed, and the caller's pending rows
            # (a new case) are better written once, with the run's results, at save().
            with self.session.no_autoflush:
                version = self.latest_version(process_id)
        runtime = InstanceRuntime.create(self, version, business_key, data, region)
        runtime.run()
        runtime.save()
        return runtime.instance

    def start_many(self, process_id, starts, version=None):
        """Start one instance of the latest (or given) version per (business key, data, region) of `starts`.

        Each instance gets what `start` gives it: its own workflow state with its own task ids, status,
        human task rows, journal and listener calls. Where the first start's run cannot have used its
        data (only the start event, then a user task to wait at), the others of the same data shape
        are derived from it instead of run again (engine/startbatch.py, checked against a real run);
        all are saved together (runtime.save_new_many): one multi-row INSERT for the instances and one
        flush for their rows, instead of one each. Returns the instances in the order of `starts`.
        """
        from .runtime import save_new_many
        from .startbatch import start_all

        starts = list(starts)
        if not starts:
            return []
        if version is None:
            with self.session.no_autoflush:
                version = self.latest_version(process_id)
        runtimes = start_all(self, version, starts)
        save_new_many(self, runtimes)
        return [runtime.instance for runtime in runtimes]

    def open(self, instance_id):
        """Lock and load an instance; the caller acts, runs and saves."""
        return InstanceRuntime.open(self, instance_id)

    def load_readonly(self, instance):
        """Load an instance's workflow without locking it (to look, never to save)."""
        spec, subprocess_specs = self.specs_for(instance.version)
        return load_state(
            instance.state_json, spec, subprocess_specs, instance.serializer_version, lambda: instance.version.spec_json
        )

    def positions(self, instance_id):
        """Return (bpmn files, process id, active element ids, completed element ids) of an instance, read-only."""
        instance = self.session.get(ProcessInstance, instance_id)
        if instance is None:
            return None
        workflow = self.load_readonly(instance)
        active, done = set(), set()
        for task in workflow.get_tasks():
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if not bpmn_id:
                continue
            if task.has_state(TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR):
                active.add(bpmn_id)
            elif task.has_state(TaskState.COMPLETED):
                done.add(bpmn_id)
        bpmn = {n: x for n, x in instance.version.files.items() if n.endswith(".bpmn")}
        return bpmn, instance.version.process_id, sorted(active), sorted(done - active)

    def instance_for_key(self, business_key):
        """Return the newest unfinished instance with this business key, or None."""
        return self.session.execute(
            select(ProcessInstance)
            .where(
                ProcessInstance.business_key == business_key, ProcessInstance.status.notin_(("completed", "cancelled"))
            )
            .order_by(ProcessInstance.id.desc())
            .limit(1)
        ).scalar_one_or_none()

    def send_message(self, business_key, name, payload):
        """Deliver a message to the instance waiting for it under `business_key`."""
        instance = self.instance_for_key(business_key)
        if instance is None:
            raise MessageNotExpected(f"no open process for {business_key}", business_key=business_key)
        runtime = self.open(instance.id)
        waiting = {e.name for e in runtime.workflow.waiting_events() if e.event_type.startswith("Message")}
        waiting |= {
            n
            for e in runtime.workflow.waiting_events()
            if e.event_type == "MultipleEventDefinition"
            for n in _multiple_message_names(runtime.workflow, e)
        }
        if name not in waiting:
            raise MessageNotExpected(
                f"the process for {business_key} is not waiting for {name!r}",
                business_key=business_key,
                message_name=name,
            )
        runtime.workflow.send_event(BpmnEvent(MessageEventDefinition(name), payload))
        runtime.journal.add("message", name=name)
        runtime.run()
        runtime.save()
        return runtime.instance

    def due_instances(self, now=None, limit=100, after=None):
        """Return [(id, wake_at)] of instances whose timer or retry is due (engine.wakes)."""
        return due_instances(self.session, now or utcnow(), limit, after)

    def wake_due(self, now=None, limit=100):
        """Return ids of instances whose timer or retry is due, earliest first."""
        return [instance_id for instance_id, _ in self.due_instances(now, limit)]

    def wake(self, instance_id, now=None):
        """Fire due timers and retries of one instance and run on."""
        now = now or utcnow()
        runtime = self.open(instance_id)
        if runtime.instance.wake_at is None or runtime.instance.wake_at > now:
            return runtime.instance  # another worker got here first
        runtime.workflow.refresh_timers()
        runtime.retry_due_services(now)
        runtime.run(defer=False)  # a wake is the work itself, wherever it runs
        runtime.save()
        if runtime.instance.wake_failures:
            runtime.instance.wake_failures = 0  # it woke: the next failure starts the backoff afresh
        return runtime.instance

    def wake_failed(self, instance_id, error, now=None):
        """Record a wake that raised (after the caller's rollback): backoff, or an incident at the bound."""
        return record_wake_failure(self.session, self.settings, instance_id, error, now)

    # --- human tasks (rows) --------------------------------------------------------------------

    def human_task_row(self, runtime, task, now):
        """Build the queue row for a ready user task."""
        fields = human_task_fields(task, self.lane_roles, self.holidays, now)
        return HumanTask(
            instance_id=runtime.instance.id,
            task_guid=str(task.id),
            region=runtime.instance.region,
            business_key=runtime.instance.business_key,
            status="open",
            **fields,
        )

    # --- incidents ---------------------------------------------------------------------------

    def open_incident(self, runtime, task):
        """Record an incident for a task in ERROR, once."""
        guid = str(task.id)
        exists = self.session.execute(
            select(Incident.id).where(
                Incident.instance_id == runtime.instance.id, Incident.task_guid == guid, Incident.status == "open"
            )
        ).first()
        if exists:
            return
        retry = task.internal_data.get(RETRY_KEY) or {}
        error = retry.get("last_error") or task.internal_data.get("error") or "task failed"
        incident = Incident(
            instance_id=runtime.instance.id,
            business_key=runtime.instance.business_key,
            task_guid=guid,
            bpmn_id=task.task_spec.bpmn_id or task.task_spec.name,
            operator=getattr(task.task_spec, "operation_name", None),
            error=str(error)[:4000],
            attempts=retry.get("attempts", 1),
        )
        self.session.add(incident)

    def incident_or_404(self, incident_id):
        """Return an open incident or raise IncidentNotFound."""
        incident = self.session.get(Incident, incident_id)
        if incident is None or incident.status != "open":
            raise IncidentNotFound(f"no open incident {incident_id}")
        return incident

    def _incident_task(self, incident_id, actor):
        """Lock the incident's instance and return (incident, runtime, the task in ERROR), in `actor`'s districts."""
        from .scope import require_in_scope

        incident = self.incident_or_404(incident_id)
        runtime = self.open(incident.instance_id)
        require_in_scope(actor, runtime.instance.region, "incident", incident_id)
        incident = self.incident_or_404(incident_id)  # re-read under the lock
        task = runtime.get_task(incident.task_guid)
        if task is None or not task.has_state(TaskState.ERROR):
            raise IncidentNotFound(f"incident {incident_id} is no longer pending")
        return incident, runtime, task

    def retry_incident(self, incident_id, actor):
        """Run the failed task again from a fresh attempt count (a failed wake: wake it again soon)."""
        if is_wake_incident(self.incident_or_404(incident_id)):
            return self._retry_wake(incident_id, actor)
        incident, runtime, task = self._incident_task(incident_id, actor)
        task.internal_data.pop(RETRY_KEY, None)
        task.internal_data.pop("error", None)
        task._set_state(TaskState.READY)
        incident.status, incident.resolved_by, incident.resolved_at = "retried", actor.id, utcnow()
        runtime.journal.add("incident_retried", bpmn_id=incident.bpmn_id, actor=actor.id)
        runtime.run()
        runtime.save()
        signals.incident_resolved.send(self, incident=incident, actor=actor, action="retry")
        return runtime.instance

    def _retry_wake(self, incident_id, actor):
        from .scope import require_in_scope

        incident = self.incident_or_404(incident_id)
        # Checked before anything changes: a refusal is audited and committed, and must carry nothing else.
        require_in_scope(actor, self.session.get(ProcessInstance, incident.instance_id).region, "incident", incident_id)
        instance = reschedule_wake(self.session, incident.instance_id)
        incident = self.incident_or_404(incident_id)  # re-read under the lock
        incident.status, incident.resolved_by, incident.resolved_at = "retried", actor.id, utcnow()
        self.session.flush()
        signals.incident_resolved.send(self, incident=incident, actor=actor, action="retry")
        return instance

    def skip_incident(self, incident_id, actor, result=None):
        """Complete the failed task without running it, with an optional result, and go on."""
        if is_wake_incident(self.incident_or_404(incident_id)):
            raise IncidentNotSkippable(
                f"incident {incident_id} is a failed wake, not a task: retry it", incident_id=incident_id
            )
        incident, runtime, task = self._incident_task(incident_id, actor)
        variable = getattr(task.task_spec, "result_variable", None)
        if variable:
            task.data[variable] = result if result is not None else {"ok": False, "skipped": True}
        task.internal_data.pop(RETRY_KEY, None)
        task.complete()
        incident.status, incident.resolved_by, incident.resolved_at = "skipped", actor.id, utcnow()
        runtime.journal.add("incident_skipped", bpmn_id=incident.bpmn_id, actor=actor.id)
        runtime.run()
        runtime.save()
        signals.incident_resolved.send(self, incident=incident, actor=actor, action="skip")
        return runtime.instance


def _multiple_message_names(workflow, pending):
    names = set()
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        for sub in getattr(definition, "event_definitions", []) or []:
            if isinstance(sub, MessageEventDefinition):
                names.add(sub.name)
    return names
