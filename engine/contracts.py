"""Process contracts: what the Python code relies on inside a diagram, checked at every deploy.

The domain modules declare them (cases/contracts.py, payments/contracts.py); the app wiring hands them to
the Engine (web.build_services), and parse_bundle runs `contract_problems` on every process of the bundle
that a contract names. The engine itself imports no domain module.

A contract only pins what code reads or compares: element ids and their kinds, the form of a user task,
the variables a script step must set, the caseStatus values the listeners understand, the messages the
code sends. Everything else in a diagram stays free to edit.

Two contracts apply across the bundle: a ProcessContract whose process_id is None (DEFAULT) gives the
statuses a process without a contract of its own may set, and a ReasonCatalogue the reason codes (and
their texts) a decision table or a script may emit.
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

    process_id: str | None  # None (DEFAULT): every process no other contract names
    elements: dict = field(default_factory=dict)  # {element id: Step}
    statuses: frozenset | None = None

    def __hash__(self):
        return hash(self.process_id)


DEFAULT = None  # ProcessContract(DEFAULT, statuses=...): for every process no other contract names


@dataclass(frozen=True)
class ReasonCatalogue:
    """The reason codes the code knows, and the texts a diagram that writes one must use.

    codes: every known code. texts: {code: {"id": ..., "en": ...}}; a literal text a diagram writes next to
    a code (a DMN output, a script's dict literal) must be the catalogue's (texts built at run time, such as
    a registry's message appended, are not checked).
    """

    codes: frozenset
    texts: dict = field(default_factory=dict)

    def __hash__(self):
        return hash(self.codes)


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


def element_problems(filename, process, contract, pid=None):
    """Problems of one process element tree (lxml, the <bpmn:process>) against its contract."""
    found = []
    by_id = {e.get("id"): e for e in process.iter(f"{{{BPMN}}}*") if e.get("id")}
    pid = pid or contract.process_id
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
    """Check every process of the bundle that a contract names (a process absent from the bundle is not checked);
    the other processes against the DEFAULT contract, if one is given."""
    found = []
    contracts = [c for c in contracts or () if isinstance(c, ProcessContract)]
    named = {c.process_id for c in contracts}
    for contract in contracts:
        if contract.process_id is DEFAULT:
            targets = [pid for pid in process_ids if pid not in named]
        elif contract.process_id in process_ids:
            targets = [contract.process_id]
        else:
            continue
        for pid in targets:
            process_parser = parser.get_process_parser(pid)
            found.extend(element_problems(process_parser.filename, process_parser.node, contract, pid))
    return found


def _emitted_reasons(source):
    """[(code, {"id": text or None, "en": text or None})]: the dict literals with a literal 'code' in an expression
    or a script (None when it does not compile); a text is None when built at run time."""
    try:
        tree = ast.parse(source or "")
    except SyntaxError:
        return None
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Dict):
            continue
        entries = {k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)}
        code = entries.get("code")
        if isinstance(code, ast.Constant) and isinstance(code.value, str):
            texts = {
                lang: entries[lang].value
                for lang in ("id", "en")
                if isinstance(entries.get(lang), ast.Constant) and isinstance(entries[lang].value, str)
            }
            found.append((code.value, texts))
    return found


def _reason_findings(filename, element_id, source, catalogue):
    found = []
    for code, texts in _emitted_reasons(source) or ():
        if code not in catalogue.codes:
            found.append(
                problem(
                    filename,
                    element_id,
                    f"the reason code {code!r} is not in the catalogue",
                    "CONTRACT_REASON_CODE",
                    reason=code,
                )
            )
            continue
        expected = catalogue.texts.get(code) or {}
        for lang, text in sorted(texts.items()):
            if expected.get(lang) is not None and text != expected[lang]:
                found.append(
                    problem(
                        filename,
                        element_id,
                        f"the {lang} text of {code!r} differs from the catalogue's: {expected[lang]!r}",
                        "CONTRACT_REASON_TEXT",
                        reason=code,
                        lang=lang,
                        expected=expected[lang],
                    )
                )
    return found


def reason_problems(parser, process_ids, contracts):
    """Check the reason codes the bundle's decision tables and scripts emit against the ReasonCatalogue."""
    catalogue = next((c for c in contracts or () if isinstance(c, ReasonCatalogue)), None)
    if catalogue is None:
        return []
    found = []
    for dmn_parser in parser.dmn_parsers.values():
        for table in dmn_parser.decision.decisionTables:
            for rule in table.rules:
                for entry in rule.outputEntries:
                    found.extend(_reason_findings(dmn_parser.filename, entry.id, entry.text, catalogue))
    for pid in process_ids:
        process_parser = parser.get_process_parser(pid)
        for element in process_parser.node.iter(f"{{{BPMN}}}*"):
            sources = [element.find(f"{{{BPMN}}}script")] if element.tag == f"{{{BPMN}}}scriptTask" else []
            sources += list(element.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}preScript"))
            sources += list(element.iterfind(f"{{{BPMN}}}extensionElements/{{{SPIFF}}}postScript"))
            for source in sources:
                if source is not None and source.text:
                    found.extend(_reason_findings(process_parser.filename, element.get("id"), source.text, catalogue))
    return found
