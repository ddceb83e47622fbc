"""engine.walk answers SpiffWorkflow's task queries with plain walks: the same tasks, in the same order."""

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import walk
from tests.unit.engine.test_step_key import _workflow

FILTERS = [
    {},
    {"state": TaskState.READY},
    {"state": TaskState.WAITING},
    {"state": TaskState.COMPLETED},
    {"state": TaskState.NOT_FINISHED_MASK},
    {"state": TaskState.PREDICTED_MASK},
    {"state": TaskState.READY, "manual": False},
    {"spec_name": "join"},
    {"state": TaskState.COMPLETED, "spec_name": "inc"},
]


def _ids(tasks):
    return [t.id for t in tasks]


def _same_answers(workflow):
    for kwargs in FILTERS:
        assert _ids(workflow.get_tasks(**kwargs)) == _ids(BpmnWorkflow.get_tasks(workflow, **kwargs)), kwargs
        assert _ids(walk.walk(workflow, **kwargs)) == _ids(BpmnWorkflow.get_tasks(workflow, **kwargs)), kwargs


def test_every_query_of_a_run_gets_the_iterator_s_tasks_in_its_order(tmp_path):
    workflow = walk.install(_workflow(tmp_path))
    rounds = 0

    def before(task):
        nonlocal rounds
        rounds += 1
        _same_answers(workflow)

    _same_answers(workflow)
    workflow.do_engine_steps(will_complete_task=before)
    _same_answers(workflow)
    assert workflow.completed and rounds > 30


def test_a_run_with_plain_walks_takes_the_same_steps_as_spiffworkflow_alone(tmp_path):
    plain, stock = walk.install(_workflow(tmp_path)), _workflow(tmp_path)
    steps = {"plain": [], "stock": []}
    plain.do_engine_steps(will_complete_task=lambda t: steps["plain"].append((t.task_spec.name, dict(t.data))))
    stock.do_engine_steps(will_complete_task=lambda t: steps["stock"].append((t.task_spec.name, dict(t.data))))
    assert steps["plain"] == steps["stock"]
    assert len(steps["plain"]) > 30
    shape = lambda wf: [(t.task_spec.name, t.state) for t in BpmnWorkflow.get_tasks(wf)]  # noqa: E731
    assert shape(plain) == shape(stock)
    assert plain.last_task.data == stock.last_task.data


def test_other_queries_and_large_trees_go_to_spiffworkflow(tmp_path, monkeypatch):
    workflow = walk.install(_workflow(tmp_path))
    workflow.do_engine_steps()
    asked = []
    monkeypatch.setattr(walk, "walk", lambda *a, **k: asked.append(k) or iter(()))
    first = workflow.task_tree
    assert _ids(workflow.get_tasks(first, state=TaskState.COMPLETED)) == _ids(
        BpmnWorkflow.get_tasks(workflow, first, state=TaskState.COMPLETED)
    )
    assert workflow.get_tasks(skip_subprocesses=True)  # a filter the walk does not take
    monkeypatch.setattr(walk, "PLAIN_TREE_LIMIT", 3)
    assert workflow.get_tasks(state=TaskState.COMPLETED)
    assert asked == []
