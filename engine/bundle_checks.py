"""Checks for diagrams brought from other modelers: everything that would crash, hang or overflow later.

Each finding is a problem dict (see spec._problem) with a stable code the editor translates: DMN
namespaces and prefixed roots normalised or refused, decisions missing, rule expressions compiled in
the sandbox, calls to missing processes, processes that call themselves, absurd timers, ids and
names longer than their database columns, chains too long to parse, files with nothing executable.
"""

import ast
import re

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .sandbox import validate as validate_script

DMN11 = "http://www.omg.org/spec/DMN/20151101/dmn.xsd"
DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
# DMN 1.2 is read as 1.3 (the same elements for what the engine uses); its own schema cannot be loaded.
DMN_RENAMES = {
    "http://www.omg.org/spec/DMN/20180521/MODEL/": DMN13,
    "http://www.omg.org/spec/DMN/20180521/DMNDI/": "https://www.omg.org/spec/DMN/20191111/DMNDI/",
}
DMN_NAMESPACES = {DMN11, DMN13}
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN}

# Column lengths of the tables that store ids and names (engine/models.py, cases).
MAX_PROCESS_ID = 100
MAX_PROCESS_NAME = 200
MAX_ELEMENT_ID = 100
MAX_ELEMENT_NAME = 200
MAX_FILE_NAME = 100
# The longest path of elements the parser may follow (it recurses once per element on a path).
MAX_CHAIN = 150
# The longest timer: ten years (ISO durations are expanded month by month).
MAX_TIMER_MONTHS = 120
MAX_TIMER_DAYS = 3660


def problem(file, element, message, code, element_id=None, **params):
    """One finding, in the shape spec._problem makes."""
    return {
        "file": file,
        "element": element,
        "message": message,
        "element_id": element_id or element,
        "code": code,
        "params": params,
    }


# --- DMN ---------------------------------------------------------------------------------------


def normalise_dmn(name, tree):
    """Return (tree, problems): DMN 1.2 read as 1.3; unknown namespaces and a missing decision refused."""
    namespace = etree.QName(tree).namespace
    if namespace in DMN_RENAMES:
        for element in tree.iter(etree.Element):
            qname = etree.QName(element)
            if qname.namespace in DMN_RENAMES:
                element.tag = f"{{{DMN_RENAMES[qname.namespace]}}}{qname.localname}"
        etree.cleanup_namespaces(tree)
        namespace = DMN13
    if namespace not in DMN_NAMESPACES or etree.QName(tree).localname != "definitions":
        return tree, [
            problem(
                name,
                None,
                f"not a DMN 1.1, 1.2 or 1.3 file (root {tree.tag})",
                "DMN_NAMESPACE",
                namespace=namespace or "-",
            )
        ]
    decisions = tree.findall(f"{{{namespace}}}decision")
    if not decisions:
        return tree, [
            problem(name, None, "the file holds no decision (only decision services or diagrams)", "DMN_NO_DECISION")
        ]
    tables = [d for d in decisions if d.find(f"{{{namespace}}}decisionTable") is not None]
    if len(decisions) > 1 or not tables:
        return tree, [
            problem(name, decisions[0].get("id"), "each DMN file must hold exactly one decision table", "DMN_ONE_TABLE")
        ]
    return tree, []


def dmn_expression_problems(name, decision):
    """Compile every input, rule and output expression of a parsed decision in the sandbox (one problem each)."""
    found = []

    def refuse(element_id, what, messages):
        if messages:
            found.append(
                problem(
                    name, element_id, f"{what}: {messages[0]}", "DMN_EXPRESSION_INVALID", detail="; ".join(messages)
                )
            )

    for table in decision.decisionTables:
        for entry in table.inputs:
            if entry.expression:
                refuse(entry.id, f"input {entry.expression!r}", validate_script(entry.expression, "eval"))
        for rule in table.rules:
            for entry in rule.inputEntries:
                for lhs in filter(None, entry.lhs):
                    refuse(entry.id, f"rule {rule.id} {lhs!r}", _rule_messages(entry.input.expression or "x", lhs))
            for entry in rule.outputEntries:
                if entry.text:
                    refuse(entry.id, f"rule {rule.id} output {entry.text!r}", validate_script(entry.text, "eval"))
    return found


def _rule_messages(source, lhs):
    """The expression the DMN engine evaluates for one input entry (see DMNEngine.evaluate), checked."""
    replaced = re.sub(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)', "dmninputexpr", lhs)
    if "dmninputexpr" in replaced:
        return validate_script(replaced, "eval")
    try:
        compile(lhs, "<dmn>", "eval")
        expression = f"({source}) == ({lhs})"
    except SyntaxError:
        expression = f"{source} {lhs}"
    return validate_script(expression, "eval")


# --- BPMN, before the parser walks it ----------------------------------------------------------


def bpmn_tree_problems(name, tree):
    """Duplicate ids, over-long ids and names, and chains too long to parse, read from the XML."""
    found, seen = [], {}
    for element in tree.iter(f"{{{BPMN}}}*"):  # xs:ID in the BPMN schema; extensions may repeat their ids
        element_id = element.get("id")
        if element_id is None:
            continue
        if element_id in seen:
            found.append(
                problem(name, element_id, f"the id {element_id!r} is used by more than one element", "DUPLICATE_ID")
            )
        seen[element_id] = element
        is_process = etree.QName(element).localname == "process"
        limit = MAX_PROCESS_ID if is_process else MAX_ELEMENT_ID
        if len(element_id) > limit:
            found.append(
                problem(
                    name,
                    element_id[:40] + "...",
                    f"the id is longer than {limit} characters",
                    "ID_TOO_LONG",
                    element_id=element_id,
                    limit=limit,
                )
            )
        label = element.get("name") or ""
        limit = MAX_PROCESS_NAME if is_process else MAX_ELEMENT_NAME
        if len(label) > limit:
            found.append(
                problem(name, element_id, f"the name is longer than {limit} characters", "NAME_TOO_LONG", limit=limit)
            )
    for process in tree.iterfind("bpmn:process", NS):
        longest = longest_chain(process)
        if longest > MAX_CHAIN:
            found.append(
                problem(
                    name,
                    process.get("id"),
                    f"a path of {longest} elements is longer than {MAX_CHAIN}",
                    "CHAIN_TOO_LONG",
                    length=longest,
                    limit=MAX_CHAIN,
                )
            )
    return found


def longest_chain(process):
    """How deep a depth-first walk of this process's sequence flows goes (the parser recurses that deep)."""
    targets, incoming = {}, set()
    for flow in process.iter(f"{{{BPMN}}}sequenceFlow"):
        targets.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
        incoming.add(flow.get("targetRef"))
    starts = [node for node in targets if node not in incoming] or list(targets)
    deepest, visited = 0, set()
    for start in starts:
        stack = [(start, 1)]
        while stack:
            node, depth = stack.pop()
            if node in visited:
                continue
            visited.add(node)
            deepest = max(deepest, depth)
            stack.extend((target, depth + 1) for target in targets.get(node, ()) if target not in visited)
    return deepest


def executable_problems(name, tree):
    """A BPMN file whose processes are all marked non-executable deploys nothing: say so."""
    processes = tree.findall("bpmn:process", NS)
    if processes and all(p.get("isExecutable", "true").lower() != "true" for p in processes):
        return [
            problem(
                name, None, "every process in the file is marked non-executable (isExecutable=false)", "NOT_EXECUTABLE"
            )
        ]
    return []


# --- after parsing -----------------------------------------------------------------------------


def call_problems(parser, process_ids):
    """Calls to processes that are not in the bundle, and processes that call themselves (directly or not)."""
    found, calls = [], {}
    known = set(parser.get_process_ids())
    for pid in process_ids:
        process_parser = parser.get_process_parser(pid)
        edges = calls.setdefault(pid, [])
        for call in process_parser.xpath(".//bpmn:callActivity"):
            called = call.get("calledElement")
            if called not in known:
                found.append(
                    problem(
                        process_parser.filename,
                        call.get("id"),
                        f"calls the process {called!r}, which no deployed file holds",
                        "CALLED_PROCESS_MISSING",
                        called=called or "-",
                    )
                )
            else:
                edges.append((called, call.get("id"), process_parser.filename))
    for pid in sorted(process_ids):
        cycle = _cycle_from(pid, calls, parser)
        if cycle:
            called, element, filename = cycle[-1]
            path = " -> ".join([pid, *[c[0] for c in cycle]])
            found.append(problem(filename, element, f"the process calls itself: {path}", "CALL_CYCLE", path=path))
    return found


def _cycle_from(root, calls, parser):
    """Return the call edges of a path from `root` back to `root`, or None (iterative search)."""
    stack, seen = [(root, [])], set()
    while stack:
        pid, path = stack.pop()
        if pid not in calls:
            known = pid in parser.get_process_ids()
            calls[pid] = (
                [
                    (c.get("calledElement"), c.get("id"), parser.get_process_parser(pid).filename)
                    for c in parser.get_process_parser(pid).xpath(".//bpmn:callActivity")
                ]
                if known
                else []
            )
        for edge in calls[pid]:
            if edge[0] == root:
                return [*path, edge]
            if edge[0] not in seen:
                seen.add(edge[0])
                stack.append((edge[0], [*path, edge]))
    return None


def timer_problems(parser, process_ids):
    """Timers whose literal duration is longer than ten years (or not an ISO 8601 duration) are refused."""
    found = []
    for pid in process_ids:
        process_parser = parser.get_process_parser(pid)
        for kind in ("timeDuration", "timeCycle"):
            for node in process_parser.xpath(f".//bpmn:{kind}"):
                event = node.getparent().getparent()
                try:
                    value = ast.literal_eval((node.text or "").strip())
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    continue  # an expression: bounded when it runs (see bounded_months)
                if not isinstance(value, str):
                    continue
                text = value.upper().split("/")[-1] if kind == "timeCycle" else value
                if not text.upper().startswith("P"):
                    continue
                try:
                    parsed = TimerEventDefinition.parse_iso_duration(text)
                except Exception:  # noqa: BLE001  (Spiff raises a bare Exception for a bad duration)
                    found.append(
                        problem(
                            process_parser.filename,
                            event.get("id"),
                            f"{value!r} is not an ISO 8601 duration",
                            "TIMER_INVALID",
                            value=value,
                        )
                    )
                    continue
                if too_long(parsed):
                    found.append(
                        problem(
                            process_parser.filename,
                            event.get("id"),
                            f"the timer {value!r} is longer than ten years",
                            "TIMER_TOO_LONG",
                            value=value,
                        )
                    )
    return found


def too_long(parsed):
    """True when a parsed ISO duration is longer than the longest timer allowed."""
    months = parsed.get("years", 0) * 12 + parsed.get("months", 0)
    days = (
        parsed.get("weeks", 0) * 7
        + parsed.get("days", 0)
        + parsed.get("hours", 0) / 24
        + parsed.get("minutes", 0) / 1440
        + parsed.get("seconds", 0) / 86400
    )
    return months > MAX_TIMER_MONTHS or days > MAX_TIMER_DAYS or months * 31 + days > MAX_TIMER_DAYS


class TimerTooLong(ValueError):
    """A timer expression evaluated to a duration longer than ten years."""


def bound_timers():
    """Make Spiff refuse, at run time, a duration longer than ten years instead of expanding it month by month.

    The timer's task goes to ERROR with a WorkflowTaskException, which the runtime records as an incident.
    """
    from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
        CycleTimerEventDefinition,
        DurationTimerEventDefinition,
    )

    cls = TimerEventDefinition
    if getattr(cls, "_tepat_bounded", False):
        return
    from_start, from_end = cls.get_timedelta_from_start, cls.get_timedelta_from_end

    def checked(parsed):
        if too_long(parsed):
            raise TimerTooLong("timer duration longer than ten years")

    def start(parsed_duration, start=None):
        checked(parsed_duration)
        return from_start(parsed_duration, start)

    def end(parsed_duration, end):
        checked(parsed_duration)
        return from_end(parsed_duration, end)

    def task_error(method):
        def wrapped(self, my_task, *args, **kwargs):
            try:
                return method(self, my_task, *args, **kwargs)
            except TimerTooLong as exc:
                my_task.error()
                raise WorkflowTaskException(str(exc), task=my_task, exception=exc) from exc

        return wrapped

    cls.get_timedelta_from_start = staticmethod(start)
    cls.get_timedelta_from_end = staticmethod(end)
    for timer in (DurationTimerEventDefinition, CycleTimerEventDefinition):
        for name in ("has_fired", "update_task", "details"):
            if name in vars(timer):
                setattr(timer, name, task_error(vars(timer)[name]))
    cls._tepat_bounded = True
