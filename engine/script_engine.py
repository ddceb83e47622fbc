"""The script engine every workflow runs with: sandboxed scripts, host-run service tasks."""

import json
import logging
from datetime import timedelta

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.spiff.specs.event_definitions import ErrorEventDefinition
from SpiffWorkflow.util.task import TaskState

from tasks.base import REGISTRY, BpmnError, ServiceContext

from .db import utcnow
from .sandbox import SandboxedEnvironment
from .workdays import working_days_duration

log = logging.getLogger(__name__)

RETRY_KEY = "tepat_retry"


def transient_errors():
    """Exceptions that mean 'try again later' (timeouts, server errors, malformed answers)."""
    from integrations.base import TransientIntegrationError

    return (TransientIntegrationError, TimeoutError, ConnectionError)


class Journal(list):
    """What happened during one engine run, for the domain layer to record."""

    def add(self, kind, **fields):
        self.append({"kind": kind, "at": utcnow(), **fields})


class TepatScriptEngine(PythonScriptEngine):
    """Runs scripts in the sandbox and service tasks through the registered handlers."""

    def __init__(self, settings, integrations, handlers=None, photos=None):
        holidays = set(settings.get("BANSOS_HOLIDAYS") or [])
        helpers = {
            "working_days_duration": lambda n: working_days_duration(int(n), holidays=holidays),
        }
        super().__init__(
            environment=SandboxedEnvironment(
                environment_globals=helpers, time_limit=settings.get("BANSOS_SCRIPT_TIME_LIMIT", 1.0)
            )
        )
        self.settings = settings
        self.integrations = integrations
        self.photos = photos
        self.handlers = REGISTRY if handlers is None else handlers
        self.max_attempts = int(settings.get("BANSOS_SERVICE_RETRIES", 4))
        self.backoff = float(settings.get("BANSOS_SERVICE_BACKOFF_SECONDS", 30))

    def run_service(self, task, spec, params):
        """Call the handler of a service task; return True (done), None (retry later) or False (incident)."""
        top = task.workflow.top_workflow
        journal = getattr(top, "tepat_journal", None)
        retry = dict(task.internal_data.get(RETRY_KEY) or {})
        attempt = retry.get("attempts", 0) + 1
        context = ServiceContext(
            integrations=self.integrations,
            settings=self.settings,
            photos=self.photos,
            business_key=getattr(top, "tepat_business_key", ""),
            instance_id=getattr(top, "tepat_instance_id", None),
            attempt=attempt,
            idempotency_key=step_key(task),
            session=getattr(top, "tepat_session", None),
        )
        operator = spec.operation_name
        handler = self.handlers.get(operator)
        try:
            if handler is None:
                raise LookupError(f"no handler registered for operator {operator!r}")
            result = handler(context, **params)
            # Task data must stay JSON: normalise dates and tuples the way storage will.
            result = json.loads(json.dumps(result, default=str))
            evidence = result.pop("evidence", []) if isinstance(result, dict) else []
        except BpmnError as exc:
            payload = {"code": exc.code, "message": exc.message, **json.loads(json.dumps(exc.details, default=str))}
            task.data[spec.result_variable] = {"ok": False, "error": payload}
            task.internal_data.pop(RETRY_KEY, None)
            if journal is not None:
                journal.add(
                    "bpmn_error",
                    operator=operator,
                    bpmn_id=spec.bpmn_id,
                    code=exc.code,
                    message=exc.message,
                    details=payload,
                )
            event = BpmnEvent(ErrorEventDefinition(exc.code, code=exc.code), payload, target=task.workflow)
            top.catch(event)
            return True
        except transient_errors() as exc:
            return self._transient_failure(task, spec, retry, attempt, exc, journal)
        except Exception as exc:  # a bug or a bad diagram: an incident, not a crash of the whole run
            log.exception("service task %s failed", operator)
            task.internal_data[RETRY_KEY] = {"attempts": attempt, "last_error": _describe(exc), "final": True}
            if journal is not None:
                journal.add(
                    "incident",
                    operator=operator,
                    bpmn_id=spec.bpmn_id,
                    error=_describe(exc),
                    attempts=attempt,
                    task_guid=str(task.id),
                )
            return False
        task.data[spec.result_variable] = result
        task.internal_data.pop(RETRY_KEY, None)
        if journal is not None:
            journal.add(
                "service",
                operator=operator,
                bpmn_id=spec.bpmn_id,
                params=_safe(params),
                result=result,
                evidence=evidence,
                attempts=attempt,
            )
        return True

    def retry_policy(self, spec):
        """(attempts, first backoff in seconds) of a service task: its diagram's maxAttempts and
        retryBackoffSeconds properties where given, else the host's settings."""
        from .spec import properties

        props = properties(spec)
        attempts = props.get("maxAttempts")
        backoff = props.get("retryBackoffSeconds")
        return (
            int(attempts) if attempts not in (None, "") else self.max_attempts,
            float(backoff) if backoff not in (None, "") else self.backoff,
        )

    def _transient_failure(self, task, spec, retry, attempt, exc, journal):
        error = _describe(exc)
        max_attempts, backoff = self.retry_policy(spec)
        if attempt >= max_attempts:
            task.internal_data[RETRY_KEY] = {"attempts": attempt, "last_error": error, "final": True}
            if journal is not None:
                journal.add(
                    "incident",
                    operator=spec.operation_name,
                    bpmn_id=spec.bpmn_id,
                    error=error,
                    attempts=attempt,
                    task_guid=str(task.id),
                )
            return False
        delay = backoff * (2 ** (attempt - 1))
        # An outside system that said when to come back (HTTP Retry-After) is not called sooner.
        delay = max(delay, float(getattr(exc, "retry_after", None) or 0))
        retry_at = utcnow() + timedelta(seconds=delay)
        task.internal_data[RETRY_KEY] = {"attempts": attempt, "last_error": error, "retry_at": retry_at.isoformat()}
        if journal is not None:
            journal.add(
                "retry_scheduled",
                operator=spec.operation_name,
                bpmn_id=spec.bpmn_id,
                error=error,
                attempts=attempt,
                retry_at=retry_at.isoformat(),
            )
        return None


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"


def _safe(params):
    return json.loads(json.dumps(params, default=str))


def step_key(task):
    """A key naming this run of this step of this instance, the same when the step runs again.

    The instance's root task id (saved with the instance, before any step), the element, and how
    many times the element has completed before (its visit: a loop back is a new visit). A re-run
    after a crash starts from the same saved state, so it computes the same key.
    """
    top = task.workflow.top_workflow
    name = task.task_spec.name
    if top.subprocesses:
        # SpiffWorkflow's BPMN iterator also walks into subprocesses (so their tasks count for the
        # top workflow and again for their own): kept as it is.
        visits = sum(
            len(wf.get_tasks(state=TaskState.COMPLETED, spec_name=name)) for wf in (top, *top.subprocesses.values())
        )
    else:
        visits = completed_count(top, name)
    return f"tepat:{top.task_tree.id}:{name}:{visits + 1}"


# How deep SpiffWorkflow's TaskIterator (Workflow.get_tasks) looks: it does not go below this depth.
_ITERATOR_MAX_DEPTH = 1000


def completed_count(workflow, spec_name):
    """len(workflow.get_tasks(state=TaskState.COMPLETED, spec_name=spec_name)) for a workflow without
    subprocesses, without SpiffWorkflow's task iterator (its per-task bookkeeping cost more than the
    rest of a service call's idempotency key).

    The same tasks as the iterator finds for that filter: it only goes down through finished tasks
    (a filter on COMPLETED sets its minimum state to COMPLETED) and not below depth 1000. Counting
    needs no order, so a plain walk over the finished part of the tree does.
    """
    tasks = workflow.tasks
    completed = TaskState.COMPLETED  # and every state above it (ERROR, CANCELLED) is finished
    count = 0
    stack = [(workflow.task_tree, 0)]
    while stack:
        node, depth = stack.pop()
        state = node._state
        if state == completed and node.task_spec.name == spec_name:
            count += 1
        if state >= completed and node._children and depth < _ITERATOR_MAX_DEPTH:
            depth += 1
            stack.extend((tasks[child], depth) for child in node._children)
    return count
