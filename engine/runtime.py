"""One runtime per instance: lock, load, act, run engine steps, save — in the caller's transaction."""

from datetime import UTC, datetime
from uuid import UUID

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update

from . import dispatch, signals, walk
from .db import utcnow
from .errors import InstanceNotFound
from .models import HumanTask, ProcessInstance
from .script_engine import RETRY_KEY, Journal
from .spec import SERIALIZER_VERSION, TepatServiceTask, dump_state, load_state, properties
from .workdays import add_calendar_days, add_working_days

OPEN_STATES = ("open", "claimed")
# Automatic steps one run may take, and subprocesses one instance may hold: a process that calls itself
# at run time (or loops without a wait) ends in an incident instead of holding the request for ever.
# The largest real run takes about a hundred steps and no subprocess. (Each nested call makes every
# later step slower, so the subprocess bound is what stops a self-call quickly.)
STEP_BUDGET = 2000
MAX_SUBPROCESSES = 100


class StepBudgetExceeded(WorkflowTaskException):
    """Raised inside do_engine_steps when a run took more automatic steps than STEP_BUDGET."""


class InstanceRuntime:
    """Owns one BpmnWorkflow between load and save; create with `Engine.open` or `Engine.create`."""

    def __init__(self, engine, instance, workflow, is_new=False):
        self.engine = engine
        self.session = engine.session
        self.instance = instance
        self.workflow = workflow
        self.is_new = is_new
        self.journal = Journal()
        self.completed_by_us = set()
        self.current_data = {}  # data at the case's current position, set by save()
        self.steps = 0
        self.deferred = False  # run() left the engine steps to a worker (engine.dispatch)
        self.save_batch = None  # the SaveBatch while listeners of a batched save run (save_new_many)
        workflow.tepat_journal = self.journal
        workflow.tepat_business_key = instance.business_key
        workflow.tepat_instance_id = instance.id
        workflow.tepat_session = self.session
        workflow.script_engine = engine.script_engine
        walk.install(workflow)  # its READY/WAITING queries as plain walks (same tasks, same order)

    # --- loading -----------------------------------------------------------------------------

    @classmethod
    def open(cls, engine, instance_id):
        """Lock the instance row (held until commit or rollback) and load its workflow."""
        session = engine.session
        # A write first: a row lock on PostgreSQL, the database write lock on SQLite.
        result = session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == instance_id)
            .values(lock_version=ProcessInstance.lock_version + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise InstanceNotFound(f"process instance {instance_id} does not exist")
        instance = session.execute(
            select(ProcessInstance).where(ProcessInstance.id == instance_id).execution_options(populate_existing=True)
        ).scalar_one()
        spec, subprocess_specs = engine.specs_for(instance.version)
        workflow = load_state(
            instance.state_json, spec, subprocess_specs, instance.serializer_version, lambda: instance.version.spec_json
        )
        return cls(engine, instance, workflow)

    @classmethod
    def create(cls, engine, version, business_key, data, region):
        """Make a new instance of `version` with start data; it is saved by `save`."""
        spec, subprocess_specs = engine.specs_for(version)
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=engine.script_engine)
        start = workflow.get_tasks(state=TaskState.READY)[0]
        start.data.update(data)
        instance = ProcessInstance(
            version=version,
            version_id=version.id,
            business_key=business_key,
            region=region,
            status="running",
            state_json="{}",
            serializer_version="",
            lock_version=0,
        )
        engine.session.add(instance)  # inserted by save(), with its state, in one statement
        runtime = cls(engine, instance, workflow, is_new=True)
        runtime.journal.add("started", process_id=version.process_id, version_id=version.id)
        return runtime

    # --- acting ------------------------------------------------------------------------------

    def run(self, defer=None):
        """Run every automatic task until only user tasks and waits remain.

        A script or rule that fails leaves its task in ERROR: saved as an incident, not a crash.
        With workers (`engine.defer_steps`, BANSOS_EXECUTION = "celery") the steps are left to a
        worker instead: save() marks the instance due now and a hint goes to the queue on commit.
        """
        if defer is None:
            defer = self.engine.defer_steps
        if defer:
            self.deferred = True
            return
        try:
            # Handlers only read; flushing before each of their queries would only cost time.
            with self.session.no_autoflush:
                self.workflow.do_engine_steps(will_complete_task=self._will_complete)
        except WorkflowException as exc:
            task = getattr(exc, "task", None)
            if task is None or not task.has_state(TaskState.ERROR):
                raise
            message = str(exc)
            notes = getattr(exc, "notes", None) or []
            if notes:
                message = f"{message} ({'; '.join(notes)})"
            task.internal_data["error"] = message[:4000]
            self.journal.add(
                "incident", bpmn_id=task.task_spec.bpmn_id, error=message[:500], attempts=1, task_guid=str(task.id)
            )

    def _will_complete(self, task):
        self.steps += 1
        if self.steps > STEP_BUDGET or len(self.workflow.subprocesses) > MAX_SUBPROCESSES:
            task.error()
            raise StepBudgetExceeded(
                f"more than {STEP_BUDGET} automatic steps or {MAX_SUBPROCESSES} subprocesses "
                "in one run (does the process call itself or loop without waiting?)",
                task=task,
            )
        status = properties(task.task_spec).get("caseStatus")
        if status:
            self.journal.add("milestone", status=status, bpmn_id=task.task_spec.bpmn_id)

    def get_task(self, task_guid):
        """Return the workflow task with this id, or None."""
        try:
            return self.workflow.get_task_from_id(UUID(task_guid))
        except (KeyError, ValueError, WorkflowException):
            return None

    def retry_due_services(self, now):
        """Re-run service tasks whose retry time has come."""
        count = 0
        for task in self.workflow.get_tasks(state=TaskState.STARTED):
            if not isinstance(task.task_spec, TepatServiceTask):
                continue
            retry = task.internal_data.get(RETRY_KEY) or {}
            due = retry.get("retry_at")
            if due and datetime.fromisoformat(due) <= now:
                task.run()
                count += 1
        return count

    # --- saving ------------------------------------------------------------------------------

    def save(self):
        """Write state, human tasks, status and next wake time; flush, and tell listeners."""
        now = utcnow()
        ready_manual, errors = self._prepare_save(now)
        if self.instance.id is None:
            # The new instance's id, for its task rows and listeners (inserted with its whole state).
            _insert_new_instance(self.session, self.instance)
            self.inserted()
        self._write_rows(ready_manual, errors, now)
        # Listeners first, then one flush: a row they change (the case) is written once, not once
        # before and once after them.
        signals.instance_saved.send(self.engine, runtime=self)
        self.session.flush()

    def inserted(self):
        """The new instance's row is in: its id is the workflow's from now on (service calls use it)."""
        self.workflow.tepat_instance_id = self.instance.id

    def _prepare_save(self, now):
        """Set the instance's state, status and wake time from the workflow; return (ready user tasks, errors)."""
        workflow = self.workflow
        inst = self.instance
        inst.state_json = dump_state(workflow)
        inst.serializer_version = SERIALIZER_VERSION
        inst.updated_at = now
        by_state = {}
        for task in workflow.get_tasks():  # one walk of the tree for everything below
            by_state.setdefault(task.state, []).append(task)
        errors = by_state.get(TaskState.ERROR, [])
        ready_manual = [t for t in by_state.get(TaskState.READY, []) if t.task_spec.manual]
        waiting = by_state.get(TaskState.WAITING, [])
        if workflow.completed:
            inst.status = "completed"
        elif errors:
            inst.status = "incident"
        elif ready_manual or waiting:
            inst.status = "waiting"
        else:
            inst.status = "running"
        inst.wake_at = None if workflow.completed else self._next_wake(by_state.get(TaskState.STARTED, []))
        if self.deferred and not workflow.completed:
            inst.wake_at = now  # the work it needs is in the database: due now (engine.dispatch)
        frontier = self._frontier(ready_manual + waiting)
        if frontier is not None:
            self.journal.add(
                "milestone", status=properties(frontier.task_spec)["caseStatus"], bpmn_id=frontier.task_spec.bpmn_id
            )
        self.current_data = (
            frontier.data
            if frontier is not None
            else (workflow.last_task.data if workflow.last_task is not None else workflow.data)
        )
        return ready_manual, errors

    def _write_rows(self, ready_manual, errors, now):
        """The saved instance's human task rows, incidents and work hint (its row has an id by now)."""
        self._sync_human_tasks(ready_manual, now)
        for task in errors:
            self.engine.open_incident(self, task)
        if self.deferred:
            dispatch.hint_after_commit(self.session, self.engine.hint_sender, self.instance.id)

    @staticmethod
    def _frontier(tasks):
        """Return the first ready or waiting task that names a case status, or None."""
        for task in tasks:
            if properties(task.task_spec).get("caseStatus"):
                return task
        return None

    def _next_wake(self, started):
        times = []
        for task in self.workflow.event_manager.tasks.values():
            value = task.internal_data.get("event_value")
            if isinstance(value, str):
                try:
                    times.append(TimerEventDefinition.get_datetime(value))
                except (ValueError, TypeError):
                    continue
        for task in started:
            due = (task.internal_data.get(RETRY_KEY) or {}).get("retry_at")
            if due:
                times.append(datetime.fromisoformat(due))
        times = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in times]
        return min(times) if times else None

    def _sync_human_tasks(self, ready_manual, now):
        ready = {str(t.id): t for t in ready_manual}
        existing = {}
        if not self.is_new:
            rows = self.session.execute(
                select(HumanTask).where(HumanTask.instance_id == self.instance.id, HumanTask.status.in_(OPEN_STATES))
            ).scalars()
            existing = {row.task_guid: row for row in rows}
        for guid, row in existing.items():
            if guid not in ready and guid not in self.completed_by_us:
                row.status = "cancelled"
                row.completed_at = now
                self.journal.add("task_cancelled", bpmn_id=row.bpmn_id, name=row.name)
        for guid, task in ready.items():
            if guid in existing:
                continue
            row = self.engine.human_task_row(self, task, now)
            self.session.add(row)
            self.journal.add(
                "task_created",
                bpmn_id=row.bpmn_id,
                name=row.name,
                queue=row.queue,
                due_at=row.due_at.isoformat() if row.due_at else None,
            )


class SaveBatch:
    """New instances saved together (`save_new_many`): what their listeners may share.

    Each runtime of the batch has `save_batch` set while the listeners of `instance_saved` run. A
    listener may keep what the whole batch needs in `memo` (e.g. rows read once for every instance)
    and leave work to `after` (callables run once, in order, after every runtime's listeners and before
    the batch's one flush), e.g. one multi-row INSERT instead of one per instance.
    """

    def __init__(self, runtimes):
        self.runtimes = runtimes
        self.memo = {}
        self.after = []

    def run_after(self):
        for callback in self.after:
            callback()
        self.after = []


def save_new_many(engine, runtimes):
    """Save new runtimes (created and run, never saved) as `save` would, each one, with fewer statements.

    Every instance gets the state, status, wake time, human task rows, incidents, hints and listener
    calls `save` gives it; the differences are only in how the rows reach the database: the instances
    go in as one multi-row INSERT ... RETURNING (ids in the order given), their task rows and the
    listeners' rows with one flush at the end.
    """
    if not runtimes:
        return
    now = utcnow()
    prepared = [runtime._prepare_save(now) for runtime in runtimes]
    _insert_new_instances(engine.session, [runtime.instance for runtime in runtimes])
    batch = SaveBatch(runtimes)
    for runtime, (ready_manual, errors) in zip(runtimes, prepared, strict=True):
        runtime.inserted()
        runtime._write_rows(ready_manual, errors, now)
    try:
        for runtime in runtimes:
            runtime.save_batch = batch
            signals.instance_saved.send(engine, runtime=runtime)
        batch.run_after()
    finally:
        for runtime in runtimes:
            runtime.save_batch = None
    engine.session.flush()


_INSERT_INSTANCE: dict = {}  # {columns the INSERT returns: statement}


def _insert_new_instance(session, inst):
    """INSERT a new (pending) instance with one Core statement and make it persistent, as a flush would.

    A Core INSERT ... RETURNING (the id and the columns Python-side defaults filled in; not the state
    sent, about 15 KB) instead of a unit-of-work flush of the whole session: the flush machinery cost
    more than the statement. Other pending rows are left for the caller's next flush, as before.
    """
    from sqlalchemy import insert
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy.orm import make_transient_to_detached

    state = sa_inspect(inst)
    columns = [(prop.key, prop.columns[0]) for prop in state.mapper.column_attrs]
    values = {key: state.dict[key] for key, column in columns if key in state.dict and not column.primary_key}
    returned = tuple(key for key, _column in columns if key not in values)
    stmt = _INSERT_INSTANCE.get(returned)
    if stmt is None:
        table = ProcessInstance.__table__
        stmt = _INSERT_INSTANCE[returned] = insert(table).returning(
            *(column for key, column in columns if key in returned)
        )
    session.expunge(inst)
    row = session.execute(stmt, values, execution_options={"autoflush": False}).one()
    state.dict.update(zip(returned, row, strict=False))
    make_transient_to_detached(inst)  # loaded state, nothing pending: later changes are one UPDATE
    session.add(inst)


def _insert_new_instances(session, instances):
    """INSERT new (pending) instances with one multi-row Core statement per shape of columns and make
    them persistent, as `_insert_new_instance` does for one (ids returned in the order given)."""
    from sqlalchemy import insert
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy.orm import make_transient_to_detached

    groups = {}
    columns = None
    for inst in instances:
        state = sa_inspect(inst)
        if columns is None:
            columns = [(prop.key, prop.columns[0]) for prop in state.mapper.column_attrs]
        values = {key: state.dict[key] for key, column in columns if key in state.dict and not column.primary_key}
        groups.setdefault(tuple(sorted(values)), []).append((inst, state, values))
    table = ProcessInstance.__table__
    for keys, members in groups.items():
        returned = tuple(key for key, _column in columns if key not in keys)
        stmt = insert(table).returning(
            *(column for key, column in columns if key in returned), sort_by_parameter_order=True
        )
        for inst, _state, _values in members:
            session.expunge(inst)
        rows = session.execute(
            stmt, [values for _inst, _state, values in members], execution_options={"autoflush": False}
        ).all()
        for (inst, state, _values), row in zip(members, rows, strict=True):
            state.dict.update(zip(returned, row, strict=False))
            make_transient_to_detached(inst)
            session.add(inst)


def human_task_fields(task, lane_roles, holidays, now):
    """Queue, form, due date, priority and four-eyes list of a ready user task, from the diagram."""
    spec = task.task_spec
    props = properties(spec)
    sla, calendar_days = props.get("slaWorkingDays"), props.get("slaCalendarDays")
    if sla is not None:
        due = add_working_days(now, int(sla), holidays)
    elif calendar_days is not None:  # deadlines set in calendar days (objections: 14 days)
        due = add_calendar_days(now, int(calendar_days))
    else:
        due = None
    exclude = [x.strip() for x in props.get("excludeActorsOf", "").split(",") if x.strip()]
    flags = task.data.get("review_flags") or []
    return {
        "bpmn_id": spec.bpmn_id,
        "name": spec.bpmn_name or spec.bpmn_id,
        "queue": lane_roles.get(spec.lane, spec.lane or "unassigned"),
        "form_name": props.get("formName"),
        "priority": int(props.get("priority", 50)),
        "due_at": due,
        "excluded_after": exclude,
        "flags": [str(f) for f in flags][:10],
    }
