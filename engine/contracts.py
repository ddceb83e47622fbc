"""Process contracts: what the Python code relies on inside a diagram, checked at every deploy.

The domain modules declare them (cases/contracts.py, payments/contracts.py); the app wiring hands them to
the Engine (web.build_services), and parse_bundle runs `contract_problems` on every process of the bundle
that a contract names. The engine itself imports no domain module.

A contract only pins what code reads or compares: element ids and their kinds, the form of a user task,
the variables a script step must set, the caseStatus values the listeners understand, the messages the
code sends. Everything else in a diagram stays free to edit.
"""

import ast
from dataclasses import dataclass, field

from .bundle_checks import BPMN, problem

SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
# Kinds that are not an element name: an event (catch, boundary or start) with this event definition.
EVENT_KINDS = {"timer": "timerEventDefinition", "message": "messageEventDefinition"}


@dataclass(frozen=True)
class Step:
    """One element the code relies on.

    kind: the BPMN element name ("userTask", "serviceTask", "scriptTask", ...) or "timer"/"message" for an
    event with that definition. form: the user task's formName. produces: variables a script task must assign.
    message: the message name a "message" event must catch.
    """

    kind: str
    form: str | None = None
    produces: frozenset = frozenset()
    message: str | None = None


@dataclass(frozen=True)
class ProcessContract:
    """What the code relies on in one process.

    statuses: the caseStatus values the code understands (None: not checked; empty: none may be set).
    """

    process_id: str
    elements: dict = field(default_factory=dict)  # {element id: Step}
    statuses: frozenset | None = None

    def __hash__(self):
        return hash(self.process_id)


def _properties(element):
    return {
        p.get("name"): p.get("value")
        for p in element.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/{{{SPIFF}}}property")
    }


def _assigned(source):
    """Names a script assigns at its top level or in its branches (None when it does not compile)."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    names = set()
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AugAssign, ast.AnnAssign))
            else []
        )
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _kind_matches(element, kind):
    local = element.tag.split("}")[-1]
    if kind in EVENT_KINDS:
        return local.endswith("Event") and element.find(f"{{{BPMN}}}{EVENT_KINDS[kind]}") is not None
    return local == kind


def _caught_message(element):
    definition = element.find(f"{{{BPMN}}}messageEventDefinition")
    ref = definition.get("messageRef") if definition is not None else None
    if not ref:
        return None
    message = element.getroottree().getroot().find(f"{{{BPMN}}}message[@id='{ref}']")
    return message.get("name") if message is not None else None


def element_problems(filename, process, contract):
    """Problems of one process element tree (lxml, the <bpmn:process>) against its contract."""
    found = []
    by_id = {e.get("id"): e for e in process.iter(f"{{{BPMN}}}*") if e.get("id")}
    pid = contract.process_id
    for element_id, step in sorted(contract.elements.items()):
        element = by_id.get(element_id)
        if element is None:
            found.append(
                problem(
                    filename,
                    pid,
                    f"the element {element_id!r} ({step.kind}) the code relies on is missing",
                    "CONTRACT_ELEMENT_MISSING",
                    id=element_id,
                    kind=step.kind,
                )
            )
            continue
        if not _kind_matches(element, step.kind):
            found.append(
                problem(
                    filename,
                    element_id,
                    f"must be a {step.kind}, is a {element.tag.split('}')[-1]}",
                    "CONTRACT_ELEMENT_KIND",
                    kind=step.kind,
                    found=element.tag.split("}")[-1],
                )
            )
            continue
        if step.form is not None:
            form = _properties(element).get("formName")
            if form != step.form:
                found.append(
                    problem(
                        filename,
                        element_id,
                        f"must use the form {step.form!r}, uses {form!r}",
                        "CONTRACT_FORM",
                        form=step.form,
                        found=form or "-",
                    )
                )
        if step.message is not None and _caught_message(element) != step.message:
            found.append(
                problem(
                    filename,
                    element_id,
                    f"must catch the message {step.message!r}",
                    "CONTRACT_MESSAGE",
                    name=step.message,
                )
            )
        if step.produces:
            script = element.find(f"{{{BPMN}}}script")
            assigned = _assigned(script.text if script is not None else "")
            missing = sorted(step.produces - assigned) if assigned is not None else []
            if missing:
                found.append(
                    problem(
                        filename,
                        element_id,
                        f"must set {', '.join(missing)}",
                        "CONTRACT_VARIABLE_MISSING",
                        names=", ".join(missing),
                    )
                )
    if contract.statuses is not None:
        for element_id, element in sorted(by_id.items()):
            status = _properties(element).get("caseStatus")
            if status is not None and status not in contract.statuses:
                found.append(
                    problem(
                        filename,
                        element_id,
                        f"the caseStatus {status!r} is not one the code knows",
                        "CONTRACT_STATUS",
                        status=status,
                        allowed=", ".join(sorted(contract.statuses)) or "-",
                    )
                )
    return found


def contract_problems(parser, process_ids, contracts):
    """Check every process of the bundle that a contract names (a process absent from the bundle is not checked)."""
    found = []
    for contract in contracts or ():
        if contract.process_id not in process_ids:
            continue
        process_parser = parser.get_process_parser(contract.process_id)
        found.extend(element_problems(process_parser.filename, process_parser.node, contract))
    return found
