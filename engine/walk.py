"""SpiffWorkflow's task-tree queries, answered without its task iterator where that gives the same tasks.

An engine run asks the tree again and again: which tasks are READY (before every round of steps),
which are WAITING (after every completed task, `Workflow.update_waiting_tasks`). SpiffWorkflow answers
each with a `TaskIterator`, whose per-task bookkeeping (a filter object, depth tracking, a list of
children built per task, the task list shifted from the front) cost about as much as the steps
themselves on a diagram of a few dozen tasks. `install(workflow)` gives one top workflow plain walks
that return the same tasks in the same order:

* depth first, children in their order, a task before its children;
* the iterator's pruning: it only goes below a task whose state is at least the filter's minimum
  state (MAYBE for a filter that takes predicted tasks, FUTURE for definite ones, else COMPLETED),
  and not below depth 1000;
* lazily where SpiffWorkflow iterates lazily (update_waiting_tasks updates each task as it is found:
  a task's children are taken when the task is reached, before it is updated, as the iterator does).

Only the plain case is answered here: a top workflow without subprocesses (the BPMN iterator walks
into subprocesses, and a subprocess's own tree has its own rules), of a size far from the depth
bound, and only the filters the engine's runs use (state, manual, spec name); every other call goes
to SpiffWorkflow unchanged.
"""

from types import MethodType

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

MAX_DEPTH = 1000  # TaskIterator's default max_depth
# Above this many tasks, SpiffWorkflow's own iterator answers: a tree this small is far shallower
# than the iterator's depth bound, so where that bound would cut is never in question.
PLAIN_TREE_LIMIT = MAX_DEPTH // 2
_FILTERS = frozenset({"state", "manual", "spec_name"})


def _min_state(state):
    """The state below which TaskIterator does not go down (TaskIterator.__init__)."""
    if state & TaskState.PREDICTED_MASK:
        return TaskState.MAYBE
    if state & TaskState.DEFINITE_MASK:
        return TaskState.FUTURE
    return TaskState.COMPLETED


def _plain(workflow):
    return not workflow.subprocesses and len(workflow.tasks) < PLAIN_TREE_LIMIT


def walk(workflow, state=TaskState.ANY_MASK, manual=None, spec_name=None):
    """Yield the tasks `workflow.get_tasks_iterator(state=..., manual=..., spec_name=...)` yields,
    in the same order, for a workflow without subprocesses."""
    tasks = workflow.tasks
    floor = _min_state(state)
    stack = [(workflow.task_tree, 0)]
    pop, extend = stack.pop, stack.extend
    while stack:
        task, depth = pop()
        children = task._children
        if children and task._state >= floor and depth < MAX_DEPTH:
            depth += 1
            extend([(tasks.get(child), depth) for child in reversed(children)])
        if (
            task._state & state
            and (manual is None or task.task_spec.manual == manual)
            and (spec_name is None or task.task_spec.name == spec_name)
        ):
            yield task


def _get_tasks(self, first_task=None, **kwargs):
    if first_task is None and _FILTERS.issuperset(kwargs) and _plain(self):
        return list(walk(self, **kwargs))
    return BpmnWorkflow.get_tasks(self, first_task, **kwargs)


def _update_waiting_tasks(self):
    if not _plain(self):
        return BpmnWorkflow.update_waiting_tasks(self)
    for task in walk(self, state=TaskState.WAITING):
        task.task_spec._update(task)
    return None


def install(workflow):
    """Answer `workflow`'s own READY/WAITING/... queries with plain walks (see the module docstring)."""
    workflow.get_tasks = MethodType(_get_tasks, workflow)
    workflow.update_waiting_tasks = MethodType(_update_waiting_tasks, workflow)
    return workflow
