"""Many starts of one version whose first run cannot depend on their data: one run, the others derived.

`Engine.start_many` runs the first start of a batch as `start` does. When that run only went through
steps that do nothing with the data (the start event, then a ready user or manual task to wait at: no
script, no condition, no service, no timer, no message, no data input or output, no subprocess), the
run of any other start with data of the same shape (the same keys in the same order, plain JSON values)
is the same run with other data: the same tasks in the same states, the same status, wait and journal.
Such a start is not run again: its state is the first one's serialized state with new task ids (fresh
uuid4s, as the engine makes) and its own data in the start task, the only task that holds data in the
serialized state (the others hold deltas, which depend only on the keys). The second start of the batch
is run by the engine all the same and compared with what derivation gives it; any difference and the
batch is run start by start as before.

A derived start is an ordinary runtime (engine/runtime.py): it is saved with its human task rows,
journal and listener calls like any other, and its workflow is loaded from its state whenever someone
asks for it, a real SpiffWorkflow instance of the deployed version.
"""

import json
import re
from uuid import uuid4

from SpiffWorkflow.bpmn.specs.control import BpmnStartTask
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.spiff.specs.defaults import ManualTask, UserTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy.orm.attributes import set_committed_value

from .models import ProcessInstance
from .runtime import InstanceRuntime
from .script_engine import Journal
from .spec import SERIALIZER_VERSION, dump_state, load_state

_PLAIN = (str, int, float, bool, type(None))
_DATA_MARK = "__tepat_start_data__"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NOT_RUN = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE


def _plain(data):
    return isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, _PLAIN) for k, v in data.items())


def _inert(spec):
    """True for a step that, completed or waited at, did nothing with the data."""
    if getattr(spec, "prescript", None) or getattr(spec, "postscript", None):
        return False
    if getattr(spec, "data_input_associations", None) or getattr(spec, "data_output_associations", None):
        return False
    if getattr(spec, "io_specification", None) is not None:
        return False
    if type(spec) is BpmnStartTask:
        return True
    if isinstance(spec, StartEvent):
        return type(spec.event_definition) is NoneEventDefinition
    return type(spec) in (UserTask, ManualTask)


class StartTemplate:
    """The first run of a batch, kept to derive the others (None from `of` when that is not safe)."""

    @classmethod
    def of(cls, runtime, data):
        """The template of a created and run (not yet saved) runtime, or None if its run may depend on data."""
        workflow = runtime.workflow
        if runtime.deferred or runtime.steps == 0 or not _plain(data):
            return None
        if workflow.subprocesses or workflow.data or workflow.completed or workflow.bpmn_events:
            return None
        root = workflow.task_tree
        if type(root.task_spec) is not BpmnStartTask or dict(root.data) != data:
            return None
        ready = []
        for task in workflow.get_tasks():
            if task.has_state(_NOT_RUN):
                continue
            if task.state == TaskState.COMPLETED and _inert(task.task_spec):
                continue
            if task.state == TaskState.READY and task.task_spec.manual and _inert(task.task_spec):
                ready.append(task)
                continue
            return None  # waiting, started, in error, or a step that may have used the data
        if len(ready) != 1 or dict(ready[0].data) != data:
            return None
        return cls(runtime, data, ready[0])

    def __init__(self, runtime, data, ready):
        self.version = runtime.instance.version
        self.keys = list(data)
        self.journal = [dict(entry) for entry in runtime.journal]  # what the run recorded (before save)
        self.steps = runtime.steps
        self.ready_spec = ready.task_spec
        workflow = runtime.workflow
        self.ready_index = None
        self.checked = False
        marked = json.loads(dump_state(workflow))
        root = str(workflow.task_tree.id)
        for guid, task in marked["tasks"].items():
            if guid == root:
                task["data"] = _DATA_MARK
            elif task["data"] or task["delta"].get("updates"):
                self.valid = False
                return
        text = json.dumps(marked, separators=(",", ":"))
        ids = [str(t.id) for t in workflow.get_tasks()]
        if not set(_UUID.findall(text)) <= set(ids):  # an id that is not a task's: not derivable here
            self.valid = False
            return
        # The text split at each task id and at the start data: the odd parts are ids (or the data mark).
        self.ready_index = ids.index(str(ready.id))
        self.task_count = len(ids)
        pattern = re.compile("|".join(re.escape(x) for x in [*ids, f'"{_DATA_MARK}"']))
        self.parts = []
        last = 0
        for match in pattern.finditer(text):
            token = match.group(0)
            self.parts.append(text[last : match.start()])
            self.parts.append(-1 if token.startswith('"') else ids.index(token))
            last = match.end()
        self.parts.append(text[last:])
        self.valid = True
        self.checked = False  # set once a real run of another start matched its derivation

    def fits(self, data):
        return self.valid and _plain(data) and list(data) == self.keys

    def state_for(self, data):
        """(state JSON, the new task ids) of a start with `data`."""
        guids = [uuid4() for _ in range(self.task_count)]
        names = [str(g) for g in guids]
        encoded = json.dumps(data, separators=(",", ":"))
        text = "".join(part if isinstance(part, str) else (encoded if part < 0 else names[part]) for part in self.parts)
        return text, guids

    def matches(self, real_state, derived_state):
        """True if a real run's serialized state is the derived one but for task ids and change times."""
        return _normal(real_state) == _normal(derived_state)


def _normal(state):
    seen = {}
    text = _UUID.sub(lambda m: seen.setdefault(m.group(0), f"#{len(seen)}"), state)
    dct = json.loads(text)
    for task in dct["tasks"].values():
        task.pop("last_state_change", None)
    return dct


class _ReadyTask:
    """The ready user task of a derived start, as the queue row needs it (id, spec, data)."""

    def __init__(self, guid, spec, data):
        self.id, self.task_spec, self.data = guid, spec, data


class DerivedStart(InstanceRuntime):
    """A start whose state was derived from the batch's template; its workflow is loaded on demand."""

    def __init__(self, engine, template, business_key, data, region):
        instance = ProcessInstance(
            version_id=template.version.id,
            business_key=business_key,
            region=region,
            status="running",
            state_json="{}",
            serializer_version="",
            lock_version=0,
        )
        set_committed_value(instance, "version", template.version)  # as create's, without the set event
        engine.session.add(instance)
        self.engine = engine
        self.session = engine.session
        self.instance = instance
        self.is_new = True
        self.journal = Journal()
        for entry in template.journal:
            self.journal.add(**{k: v for k, v in entry.items() if k != "at"})
        self.completed_by_us = set()
        self.current_data = {}
        self.steps = template.steps
        self.deferred = False
        self.save_batch = None
        self._workflow = None
        self.template = template
        self.state_json, guids = template.state_for(data)
        self.ready = _ReadyTask(guids[template.ready_index], template.ready_spec, dict(data))

    @property
    def workflow(self):
        if self._workflow is None:
            spec, subprocess_specs = self.engine.specs_for(self.instance.version)
            workflow = load_state(
                self.state_json, spec, subprocess_specs, SERIALIZER_VERSION, lambda: self.instance.version.spec_json
            )
            workflow.tepat_journal = self.journal
            workflow.tepat_business_key = self.instance.business_key
            workflow.tepat_instance_id = self.instance.id
            workflow.tepat_session = self.session
            workflow.script_engine = self.engine.script_engine
            self._workflow = workflow
        return self._workflow

    @workflow.setter
    def workflow(self, value):
        self._workflow = value

    def inserted(self):
        if self._workflow is not None:  # else it takes the id when loaded
            self._workflow.tepat_instance_id = self.instance.id

    def _prepare_save(self, now):
        inst = self.instance
        inst.state_json = self.state_json
        inst.serializer_version = SERIALIZER_VERSION
        inst.updated_at = now
        inst.status = "waiting"  # a ready user task, nothing else (StartTemplate.of)
        inst.wake_at = None
        frontier = self._frontier([self.ready])
        if frontier is not None:
            self.journal.add(
                "milestone", status=_properties(frontier.task_spec)["caseStatus"], bpmn_id=frontier.task_spec.bpmn_id
            )
        self.current_data = self.ready.data
        return [self.ready], []


def _properties(spec):
    from .spec import properties

    return properties(spec)


def start_all(engine, version, starts):
    """Created and run runtimes, one per (business key, data, region), deriving where it is safe."""
    runtimes, template = [], None
    for index, (business_key, data, region) in enumerate(starts):
        if template is not None and template.checked and template.fits(data):
            runtimes.append(DerivedStart(engine, template, business_key, data, region))
            continue
        runtime = InstanceRuntime.create(engine, version, business_key, data, region)
        runtime.run()
        runtimes.append(runtime)
        if index == 0:
            template = StartTemplate.of(runtime, data)
            if template is not None and not template.valid:
                template = None
        elif template is not None and not template.checked and template.fits(data):
            # The engine's own run of the first other start of the same shape checks the derivation.
            if _same_as_derived(template, runtime, data):
                template.checked = True
            else:
                template = None
    return runtimes


def _same_as_derived(template, runtime, data):
    derived, _guids = template.state_for(data)
    if not template.matches(dump_state(runtime.workflow), derived):
        return False
    again = StartTemplate.of(runtime, data)
    return (
        again is not None
        and again.ready_spec is template.ready_spec
        and [e["kind"] for e in again.journal] == [e["kind"] for e in template.journal]
    )
