"""step_key counts an element's earlier visits without SpiffWorkflow's task iterator: the same count."""

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.script_engine import completed_count, step_key

# A loop (visited five times) around a parallel split whose branches join again.
LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="loop" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:scriptTask id="init"><bpmn:script>n = 0</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="again"/>
    <bpmn:parallelGateway id="split"/>
    <bpmn:scriptTask id="left"><bpmn:script>a = n</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="right"><bpmn:script>b = n</bpmn:script></bpmn:scriptTask>
    <bpmn:parallelGateway id="join"/>
    <bpmn:scriptTask id="inc"><bpmn:script>n = n + 1</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="more" default="back"/>
    <bpmn:endEvent id="end"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init"/>
    <bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="again"/>
    <bpmn:sequenceFlow id="f3" sourceRef="again" targetRef="split"/>
    <bpmn:sequenceFlow id="f4" sourceRef="split" targetRef="left"/>
    <bpmn:sequenceFlow id="f5" sourceRef="split" targetRef="right"/>
    <bpmn:sequenceFlow id="f6" sourceRef="left" targetRef="join"/>
    <bpmn:sequenceFlow id="f7" sourceRef="right" targetRef="join"/>
    <bpmn:sequenceFlow id="f8" sourceRef="join" targetRef="inc"/>
    <bpmn:sequenceFlow id="f9" sourceRef="inc" targetRef="more"/>
    <bpmn:sequenceFlow id="done" sourceRef="more" targetRef="end">
      <bpmn:conditionExpression>n &gt;= 5</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="back" sourceRef="more" targetRef="again"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow(tmp_path):
    path = tmp_path / "loop.bpmn"
    path.write_text(LOOP)
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(path))
    return BpmnWorkflow(parser.get_spec("loop"), parser.get_subprocess_specs("loop"))


def _iterated(workflow, name):
    return len(workflow.get_tasks(state=TaskState.COMPLETED, spec_name=name))


def test_the_count_is_the_task_iterator_s_at_every_step_of_a_loop(tmp_path):
    workflow = _workflow(tmp_path)
    names = list(workflow.spec.task_specs)
    keys, checked = {}, 0

    def before(task):
        nonlocal checked
        for name in names:
            assert completed_count(workflow, name) == _iterated(workflow, name), name
            checked += 1
        keys.setdefault(task.task_spec.name, []).append(step_key(task))

    workflow.do_engine_steps(will_complete_task=before)
    assert workflow.completed
    assert checked > 100
    for name in names:
        assert completed_count(workflow, name) == _iterated(workflow, name), name
    assert completed_count(workflow, "inc") == 5
    # Each visit of a looped element has its own key, numbered from 1; every key names the instance.
    root = workflow.task_tree.id
    assert keys["inc"] == [f"tepat:{root}:inc:{visit}" for visit in range(1, 6)]
    assert len(set(keys["left"])) == 5


def test_tasks_below_an_unfinished_one_are_not_counted_as_the_iterator_does_not(tmp_path):
    workflow = _workflow(tmp_path)
    workflow.do_engine_steps()
    # Mark a finished task below an unfinished one (as a multi-instance parent holds its finished
    # instances): the iterator does not look there, and neither does the count.
    start = workflow.get_tasks(spec_name="init")[0]
    start._state = TaskState.STARTED
    for name in workflow.spec.task_specs:
        assert completed_count(workflow, name) == _iterated(workflow, name), name
    assert completed_count(workflow, "inc") == 0
