"""Parsing, validation and serialization of process definitions."""

import hashlib
import json
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator, full_tag
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.dmn.parser.DMNParser import DMNParser
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask

from integrations.digits import is_ascii_digits

from . import bundle_checks as checks
from .contracts import contract_problems, reason_problems
from .errors import DeployRejected
from .sandbox import validate as validate_script

MAX_FILE_BYTES = 2 * 1024 * 1024


class TepatServiceTask(ServiceTask):
    """A service task whose call goes through the host: retries, incidents, BPMN errors."""

    def _execute(self, task):
        params = {name: p["value"] for name, p in self.evaluate_params(task).items()}
        # True: done; None: waiting for a retry (task stays STARTED); False: incident (ERROR).
        return task.workflow.script_engine.run_service(task, self, params)


class TepatBpmnParser(SpiffBpmnParser):
    """The Spiff parser with our service-task class; DMN files read whatever prefix their root uses."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (ServiceTaskParser, TepatServiceTask),
    }

    def add_dmn_xml(self, node, filename=None):
        # Spiff maps "dmn" only from a default namespace; `<semantic:definitions>` files name it otherwise.
        namespaces = {
            **self.namespaces,
            **{k: v for k, v in node.nsmap.items() if k},
            "dmn": etree.QName(node).namespace,
        }
        schema = self.dmn_schemas.get(namespaces["dmn"])
        if self.validator and schema is not None:
            BpmnValidator(schema).validate(node, filename)
        dmn_parser = DMNParser(self, node, namespaces, filename=filename)
        self.dmn_parsers[dmn_parser.bpmn_id] = dmn_parser
        self.dmn_parsers_by_name[dmn_parser.get_name()] = dmn_parser


class SpecRefWorkflowConverter(BpmnWorkflowConverter):
    """Saves instance state without its spec; the spec is stored once per version."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        # The runtime puts the already-restored spec objects into the dict.
        if isinstance(dct.get("spec"), dict):
            return super().from_dict(dct)
        spec = dct.pop("spec")
        subprocess_specs = dct.pop("subprocess_specs")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        from uuid import UUID

        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _config(spec_refs):
    config = dict(SPIFF_CONFIG)
    config[TepatServiceTask] = ServiceTaskConverter
    if spec_refs:
        config[BpmnWorkflow] = SpecRefWorkflowConverter
    return config


# Full serializer (specs included) for storing specs; state serializer (specs left out) for instances.
SPEC_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_config(False)))
STATE_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_config(True)))
SERIALIZER_VERSION = STATE_SERIALIZER.VERSION


def dump_state(workflow):
    """Serialize an instance's state (no spec) to JSON."""
    registry = STATE_SERIALIZER.registry
    registry._encoder_mode = True
    try:
        dct = STATE_SERIALIZER.to_dict(workflow)
        return json.dumps(dct, cls=STATE_SERIALIZER._encoder_cls, separators=(",", ":"))
    finally:
        registry._encoder_mode = False


def load_state(state_json, spec, subprocess_specs, stored_version, spec_json_loader):
    """Restore an instance from its JSON state and its version's spec objects."""
    dct = json.loads(state_json)
    if stored_version != SERIALIZER_VERSION:
        # Older state: migrations need the full document, spec included.
        full = json.loads(spec_json_loader())
        dct.update(spec=full["spec"], subprocess_specs=full["subprocess_specs"])
        dct[STATE_SERIALIZER.VERSION_KEY] = stored_version
        STATE_SERIALIZER.migrate(dct)
        return STATE_SERIALIZER.from_dict(dct)
    dct["spec"] = spec
    dct["subprocess_specs"] = subprocess_specs
    return STATE_SERIALIZER.from_dict(dct)


def dump_spec(spec, subprocess_specs):
    """Serialize a process spec and its subprocess specs."""
    registry = SPEC_SERIALIZER.registry
    return json.dumps(
        {
            "spec": registry.convert(spec),
            "subprocess_specs": SPEC_SERIALIZER.registry.convert(subprocess_specs),
        }
    )


def load_spec(spec_json):
    """Restore (spec, subprocess_specs) from their JSON."""
    dct = json.loads(spec_json)
    registry = SPEC_SERIALIZER.registry
    spec = registry.restore(dct["spec"])
    subprocess_specs = {k: registry.restore(v) for k, v in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


# --- safe XML -----------------------------------------------------------------------------

_SAFE_XML = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=False,
    dtd_validation=False,
)


def parse_untrusted_xml(name, content):
    """Parse uploaded XML with entities, DTDs and network off, and a size limit."""
    raw = content.encode("utf-8") if isinstance(content, str) else content
    if len(raw) > MAX_FILE_BYTES:
        raise DeployRejected(
            f"{name}: file is larger than {MAX_FILE_BYTES // 1024} KiB",
            [_problem(name, None, "file too large", code="FILE_TOO_LARGE")],
        )
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise DeployRejected(
            f"{name}: DOCTYPE and entity declarations are not allowed",
            [_problem(name, None, "DOCTYPE/ENTITY not allowed", code="XML_DTD")],
        )
    try:
        return etree.fromstring(raw, etree.XMLParser(**_SAFE_XML))
    except etree.XMLSyntaxError as exc:
        raise DeployRejected(
            f"{name}: not well-formed XML: {exc}",
            [_problem(name, None, f"not well-formed XML: {exc}", code="XML_MALFORMED", detail=str(exc))],
        ) from exc


@dataclass
class ParsedBundle:
    """The result of parsing one set of BPMN/DMN files."""

    files: dict
    content_hash: str
    specs: dict  # process_id -> (spec, subprocess_specs)
    dependencies: dict  # process_id -> sorted names of the files it uses (its own, called processes, DMN)


def content_hash(files):
    """Return the sha256 of a bundle of files, independent of their order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(files[name].encode() if isinstance(files[name], str) else files[name])
        digest.update(b"\0")
    return digest.hexdigest()


def _problem(file, element, message, element_id=None, code="INVALID", **params):
    """One finding: `element_id` is the BPMN/DMN id the editor marks (None for file-level problems),
    `code` and `params` let a screen translate it, `message` is the English text."""
    return {
        "file": file,
        "element": element,
        "message": message,
        "element_id": element_id or element,
        "code": code,
        "params": params,
    }


def _parse_failure(name, exc):
    """A parser exception as a problem (deep paths as CHAIN_TOO_LONG, never a traceback)."""
    if isinstance(exc, RecursionError):
        return _problem(
            name,
            None,
            "a path of elements is too long to read",
            code="CHAIN_TOO_LONG",
            length="?",
            limit=checks.MAX_CHAIN,
        )
    return _problem(
        getattr(exc, "file_name", None) or name,
        getattr(exc, "id", None) or None,
        str(exc),
        code="PARSE_ERROR",
        detail=str(exc)[:500],
    )


def _add_file(parser, name, text):
    """Check one file and hand it to the parser; return its problems (then it is left out)."""
    if len(name) > checks.MAX_FILE_NAME:
        return [
            _problem(
                name[:40] + "...",
                None,
                "the file name is too long",
                code="FILE_NAME_TOO_LONG",
                limit=checks.MAX_FILE_NAME,
            )
        ]
    if not name.endswith((".bpmn", ".dmn")):
        return [_problem(name, None, "only .bpmn and .dmn files can be deployed", code="FILE_TYPE")]
    tree = parse_untrusted_xml(name, text)
    if name.endswith(".dmn"):
        tree, found = checks.normalise_dmn(name, tree)
        if not found:
            parser.add_dmn_xml(tree, filename=name)
        return found
    found = checks.bpmn_tree_problems(name, tree) or checks.executable_problems(name, tree)
    for process in tree.iterfind("bpmn:process", checks.NS):
        other = parser.process_parsers.get(process.get("id"))
        if other is not None:
            found.append(
                _problem(
                    name,
                    process.get("id"),
                    f"the process id is also used in {other.filename}",
                    code="DUPLICATE_ID",
                    other=other.filename,
                )
            )
    if not found:
        parser.add_bpmn_xml(tree, filename=name)
    return found


def _dmn_problems(parser):
    """Parse every decision table now (Spiff parses them lazily) and check its expressions; map tables to files."""
    problems, table_files = [], {}
    for dmn_parser in parser.dmn_parsers.values():
        try:
            dmn_parser.parse()
        except Exception as exc:  # noqa: BLE001  (any parser failure is the file's problem, not a crash)
            problems.append(_parse_failure(dmn_parser.filename, exc))
            continue
        for table in dmn_parser.decision.decisionTables:
            table_files[table.id] = dmn_parser.filename
        problems.extend(checks.dmn_expression_problems(dmn_parser.filename, dmn_parser.decision))
    return problems, table_files


def _dependencies(parser, spec, subprocess_specs, table_files):
    names = set()
    for proc in [spec, *[s for s in subprocess_specs.values() if s is not None]]:
        if getattr(proc, "file", None):
            names.add(proc.file)
        for ts in proc.task_specs.values():
            table = getattr(getattr(ts, "dmnEngine", None), "decision_table", None)
            if table is not None and table.id in table_files:
                names.add(table_files[table.id])
    return sorted(names)


def parse_bundle(files, operators, forms, lane_roles, contracts=()):
    """Parse and check a bundle {name: xml}; raise DeployRejected listing every problem.

    `contracts`: the ProcessContracts the code declares (engine/contracts.py), checked on the processes they name.
    """
    parser = TepatBpmnParser(validator=VALIDATOR)
    problems = []
    for name in sorted(files):
        try:
            problems.extend(_add_file(parser, name, files[name]))
        except DeployRejected as exc:
            problems.extend(exc.problems)
        except Exception as exc:  # noqa: BLE001  (Spiff and lxml raise many kinds; each is a problem here)
            problems.append(_parse_failure(name, exc))
    dmn_problems, table_files = _dmn_problems(parser)
    problems.extend(dmn_problems)
    if problems:
        raise DeployRejected(_summary(problems), problems)

    executable = [pid for pid in parser.get_process_ids() if _is_executable(parser, pid)]
    problems.extend(checks.call_problems(parser, executable))
    problems.extend(checks.timer_problems(parser, executable))
    if problems:
        raise DeployRejected(_summary(problems), problems)
    specs, dependencies = {}, {}
    for pid in executable:
        try:
            spec = parser.get_spec(pid)
            subprocess_specs = parser.get_subprocess_specs(pid)
        except Exception as exc:  # noqa: BLE001
            problems.append(_parse_failure(parser.get_process_parser(pid).filename, exc))
            continue
        problems.extend(check_spec(spec, subprocess_specs, operators, forms, lane_roles))
        specs[pid] = (spec, subprocess_specs)
        dependencies[pid] = _dependencies(parser, spec, subprocess_specs, table_files)
    problems.extend(contract_problems(parser, list(specs), contracts))  # what the code relies on
    problems.extend(reason_problems(parser, list(specs), contracts))  # the reason codes it knows
    if not executable and not problems:
        problems.append(_problem(None, None, "the bundle holds no executable process", code="NO_PROCESS"))
    if problems:
        raise DeployRejected(_summary(problems), problems)
    return ParsedBundle(files=files, content_hash=content_hash(files), specs=specs, dependencies=dependencies)


def _is_executable(parser, pid):
    node = parser.get_process_parser(pid).node
    return node.get("isExecutable", "true").lower() == "true"


def _summary(problems):
    first = problems[0]
    where = " ".join(x for x in (first.get("file"), first.get("element")) if x)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first['message']}{more}" if where else f"{first['message']}{more}"


def properties(task_spec):
    """Return the Spiff extension properties of a task spec (empty when none)."""
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {})


def _retry_problems(props, problem):
    """A service task's own retry policy must be sane: 1-20 attempts, a first backoff of 1 s to 1 day."""
    found = []
    attempts, backoff = props.get("maxAttempts"), props.get("retryBackoffSeconds")
    if attempts is not None and not (is_ascii_digits(str(attempts)) and 1 <= int(attempts) <= 20):
        found.append(problem("ATTEMPTS_RANGE", "maxAttempts must be a whole number from 1 to 20"))
    if backoff is not None and not (is_ascii_digits(str(backoff)) and 1 <= int(backoff) <= 86_400):
        found.append(problem("BACKOFF_RANGE", "retryBackoffSeconds must be a whole number from 1 to 86400"))
    return found


def check_spec(spec, subprocess_specs, operators, forms, lane_roles):
    """Our own checks: operators registered, forms exist, lanes mapped, scripts compile."""
    problems = []
    for proc in [spec, *subprocess_specs.values()]:
        filename = getattr(proc, "file", None) or getattr(proc, "filename", None)
        for ts in proc.task_specs.values():
            bpmn_id = getattr(ts, "bpmn_id", None)
            if bpmn_id is None:
                continue
            label = f"{bpmn_id} ({ts.bpmn_name})" if getattr(ts, "bpmn_name", None) else bpmn_id

            def problem(code, message, _label=label, _id=bpmn_id, _file=filename, **params):
                return _problem(_file, _label, message, _id, code, **params)

            if isinstance(ts, ServiceTask):
                if not isinstance(ts, TepatServiceTask):
                    problems.append(problem("SERVICE_NOT_HOSTED", "service task not handled by the host"))
                elif ts.operation_name not in operators:
                    problems.append(
                        problem(
                            "OPERATOR_UNKNOWN",
                            f"operator {ts.operation_name!r} is not registered in tasks/",
                            operator=ts.operation_name,
                        )
                    )
                problems.extend(_retry_problems(properties(ts), problem))
                for pname, param in ts.operation_params.items():
                    for msg in validate_script(param["value"], "eval"):
                        problems.append(
                            problem("PARAMETER_INVALID", f"parameter {pname}: {msg}", name=pname, detail=msg)
                        )
            lane = getattr(ts, "lane", None)
            if lane is not None and lane not in lane_roles:
                problems.append(problem("LANE_UNMAPPED", f"lane {lane!r} maps to no role", lane=lane))
            if isinstance(ts, UserTask):
                props = properties(ts)
                form = props.get("formName")
                if not form:
                    problems.append(problem("FORM_MISSING", "user task has no formName property"))
                elif form not in forms:
                    problems.append(problem("FORM_UNKNOWN", f"form {form!r} does not exist in forms/", form=form))
                if ts.lane is None:
                    problems.append(problem("NOT_IN_LANE", "user task is not in a lane"))
                sla = props.get("slaWorkingDays")
                if sla is not None and not is_ascii_digits(str(sla)):
                    problems.append(problem("SLA_NOT_NUMBER", "slaWorkingDays must be a whole number"))
                calendar_days = props.get("slaCalendarDays")
                if calendar_days is not None and not is_ascii_digits(str(calendar_days)):
                    problems.append(problem("SLA_CALENDAR_NOT_NUMBER", "slaCalendarDays must be a whole number"))
                if sla is not None and calendar_days is not None:
                    problems.append(problem("SLA_TWICE", "give slaWorkingDays or slaCalendarDays, not both"))
            script = getattr(ts, "script", None)
            for source in filter(None, [script, getattr(ts, "prescript", None), getattr(ts, "postscript", None)]):
                for msg in validate_script(source, "exec"):
                    problems.append(problem("SCRIPT_INVALID", f"script: {msg}", detail=msg))
            for cond, _target in getattr(ts, "cond_task_specs", []) or []:
                source = cond.args[0] if getattr(cond, "args", None) else None
                if isinstance(source, str):
                    for msg in validate_script(source, "eval"):
                        problems.append(problem("CONDITION_INVALID", f"condition {source!r}: {msg}", detail=msg))
    return problems


checks.bound_timers()  # a timer expression that evaluates to an absurd duration fails its task, never hangs
