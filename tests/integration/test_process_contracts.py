"""Process contracts (engine/contracts.py; declared in cases/contracts.py, payments/contracts.py): a diagram that
breaks what the code relies on is refused by the editor's "Check and save" (problem on the element, translated)
and by `tepat deploy` (exit 2); the shipped diagrams pass."""

import re
import shutil

import pytest
from flask import current_app
from sqlalchemy import func, select

from engine.contracts import DEFAULT, ProcessContract, ReasonCatalogue, Step, contract_problems
from engine.db import db
from engine.deploy import read_folder
from engine.editing import current_bundle
from engine.errors import DeployRejected
from engine.models import ProcessVersion
from engine.spec import parse_bundle
from tests.conftest import ROOT
from tests.integration.test_web import csrf_of, login, web  # noqa: F401  (fixture)
from web import process_contracts


def renamed(xml, element_id):
    """The diagram with `element_id` gone (renamed, with its flows and shapes), as if deleted and redrawn."""
    return re.sub(
        rf'((?:id|sourceRef|targetRef|attachedToRef|bpmnElement)="){element_id}"', rf'\1{element_id}_gone"', xml
    ).replace(f"<bpmn:flowNodeRef>{element_id}<", f"<bpmn:flowNodeRef>{element_id}_gone<")


def as_script_task(xml, element_id):
    start = xml.index(f'<bpmn:userTask id="{element_id}"')
    end = xml.index("</bpmn:userTask>", start)
    block = xml[start:end].replace("<bpmn:userTask", "<bpmn:scriptTask", 1) + "</bpmn:scriptTask>"
    return xml[:start] + block + xml[end + len("</bpmn:userTask>") :]


# (file, change, problem code, element the problem is on, a word of the Indonesian text)
BREAKS = {
    "appeal_review_removed": (
        "application.bpmn",
        lambda x: renamed(x, "appeal_review"),
        "CONTRACT_ELEMENT_MISSING",
        "application",
        "appeal_review",
    ),
    "approve_form_changed": (
        "application.bpmn",
        lambda x: x.replace('value="approval"', 'value="case_review"', 1),
        "CONTRACT_FORM",
        "approve",
        "approval",
    ),
    "review_made_script": (
        "application.bpmn",
        lambda x: as_script_task(x, "review"),
        "CONTRACT_ELEMENT_KIND",
        "review",
        "scriptTask",
    ),
    "bogus_status": (
        "application.bpmn",
        lambda x: x.replace('value="IN_REVIEW"', 'value="BOGUS"', 1),
        "CONTRACT_STATUS",
        "review",
        "BOGUS",
    ),
    "approve_cycle_removed": (
        "payment_cycle.bpmn",
        lambda x: renamed(x, "approve_cycle"),
        "CONTRACT_ELEMENT_MISSING",
        "payment_cycle",
        "approve_cycle",
    ),
    "decide_sets_no_decision": (
        "application.bpmn",
        lambda x: x.replace("decided_by = 'rules'", "decider = 'rules'"),
        "CONTRACT_VARIABLE_MISSING",
        "decide",
        "decided_by",
    ),
    "appeal_message_renamed": (
        "recheck.bpmn",
        lambda x: x.replace('name="appeal_filed"', 'name="appeal_sent"'),
        "CONTRACT_MESSAGE",
        "exit_appeal_received",
        "appeal_filed",
    ),
    "return_timer_removed": (
        "payment_cycle.bpmn",
        lambda x: renamed(x, "return_due"),
        "CONTRACT_ELEMENT_MISSING",
        "payment_cycle",
        "return_due",
    ),
    "graduation_form_changed": (
        "graduation.bpmn",
        lambda x: x.replace('value="graduation_confirm"', 'value="payment_review"', 1),
        "CONTRACT_FORM",
        "confirm_graduation",
        "graduation_confirm",
    ),
    "payment_review_made_script": (
        "payment_review.bpmn",
        lambda x: as_script_task(x, "review_payment"),
        "CONTRACT_ELEMENT_KIND",
        "review_payment",
        "scriptTask",
    ),
    "objection_sets_status": (
        "objection.bpmn",
        lambda x: x.replace(
            '<spiffworkflow:property name="formName" value="objection_review" />',
            '<spiffworkflow:property name="formName" value="objection_review" />'
            '<spiffworkflow:property name="caseStatus" value="REMOVED" />',
            1,
        ),
        "CONTRACT_STATUS",
        "verify_objection",
        "REMOVED",
    ),
    # the reason catalogue (forms/reason_codes.py): an unknown code, a text drifted from the catalogue's
    "unknown_reason_code": (
        "eligibility.dmn",
        lambda x: x.replace("'code': 'VILLAGE_OFFICIAL'", "'code': 'VILLAGE_HEAD'"),
        "CONTRACT_REASON_CODE",
        "o_village_official",
        "VILLAGE_HEAD",
    ),
    "drifted_reason_text": (
        "eligibility.dmn",
        lambda x: x.replace("'Ada anggota keluarga perangkat desa.'", "'Ada anggota keluarga kepala desa.'"),
        "CONTRACT_REASON_TEXT",
        "o_village_official",
        "Ada anggota keluarga perangkat desa.",
    ),
    "unknown_reason_code_in_script": (
        "application.bpmn",
        lambda x: x.replace("[{'code': 'NO_PROGRAMME'", "[{'code': 'NO_PROGRAM'"),
        "CONTRACT_REASON_CODE",
        "check_enrolment",
        "NO_PROGRAM",
    ),
}


def broken(name):
    file, change, *_ = BREAKS[name]
    files = read_folder(ROOT / "processes")
    changed = change(files[file])
    assert changed != files[file], name  # the change applies to the shipped diagram
    return file, changed


def test_every_process_the_code_uses_has_a_contract_and_the_shipped_bundle_passes(svc):
    contracts = process_contracts()
    assert {c.process_id for c in contracts if isinstance(c, ProcessContract) and c.process_id} == {
        "application",
        "recheck",
        "graduation",
        "objection",
        "payment_cycle",
        "payment_review",
    }
    assert svc.engine.contracts == contracts
    # every other process may set only a case status of cases/statuses.py; reasons come from one catalogue
    assert any(isinstance(c, ProcessContract) and c.process_id is DEFAULT for c in contracts)
    assert any(isinstance(c, ReasonCatalogue) for c in contracts)
    files = read_folder(ROOT / "processes")
    parse_bundle(files, svc.engine.handlers, svc.engine.forms, svc.engine.lane_roles, contracts)  # no refusal


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_the_deploy_check_refuses_a_broken_contract_with_the_code_on_the_element(svc, name):
    file, xml = broken(name)
    files = {**read_folder(ROOT / "processes"), file: xml}
    with pytest.raises(DeployRejected) as refused:
        parse_bundle(files, svc.engine.handlers, svc.engine.forms, svc.engine.lane_roles, process_contracts())
    code, element = BREAKS[name][2:4]
    assert [(p["code"], p["element_id"], p["file"]) for p in refused.value.problems] == [(code, element, file)]
    # Without the contracts the same bundle deploys: the refusal is the contract's, no other check's.
    parse_bundle(files, svc.engine.handlers, svc.engine.forms, svc.engine.lane_roles, ())


@pytest.mark.parametrize(
    "name",
    [
        "appeal_review_removed",
        "approve_form_changed",
        "review_made_script",
        "bogus_status",
        "approve_cycle_removed",
        "unknown_reason_code",
        "drifted_reason_text",
    ],
)
def test_editor_save_lists_the_translated_problem_on_the_element_and_deploy_refuses(web, svc, name):
    file, xml = broken(name)
    code, element, word = BREAKS[name][2:]
    assert login(web, "w_administrator").status_code == 302
    token = csrf_of(web, "/admin/processes")
    answer = web.post(f"/admin/processes/files/{file}/draft", json={"xml": xml}, headers={"X-CSRFToken": token})
    answer = answer.get_json()
    assert answer["saved"] is True
    found = [p for p in answer["problems"] if p["code"] == code]
    assert [p["element_id"] for p in found] == [element], answer["problems"]
    text = found[0]["text"]
    assert word in text and ("bergantung" in text or "tidak mengenal" in text), text
    before = db.session.scalar(select(func.count()).select_from(ProcessVersion))
    assert web.post("/admin/processes/deploy", data={"csrf_token": csrf_of(web, "/admin/processes")}).status_code == 303
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ProcessVersion)) == before


@pytest.mark.parametrize(
    "name",
    ["appeal_review_removed", "approve_form_changed", "review_made_script", "bogus_status", "approve_cycle_removed"],
)
def test_tepat_deploy_prints_the_problem_and_exits_2(svc, tmp_path, name):
    file, xml = broken(name)
    folder = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", folder)
    (folder / file).write_text(xml, encoding="utf-8")
    before = db.session.scalar(select(func.count()).select_from(ProcessVersion))
    result = current_app.test_cli_runner().invoke(args=["deploy", "--folder", str(folder)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    code, element = BREAKS[name][2:4]
    assert code in result.output and element in result.output
    assert db.session.scalar(select(func.count()).select_from(ProcessVersion)) == before


def test_a_process_absent_from_the_bundle_is_not_checked_and_an_empty_status_set_refuses_any(svc):
    files = current_bundle(db.session)[0]
    only = {"graduation.bpmn": files["graduation.bpmn"]}
    strict = ProcessContract(
        "graduation", {"confirm_graduation": Step("userTask", form="graduation_confirm")}, statuses=frozenset()
    )
    with pytest.raises(DeployRejected) as refused:
        parse_bundle(only, svc.engine.handlers, svc.engine.forms, svc.engine.lane_roles, (strict,))
    assert {p["code"] for p in refused.value.problems} == {"CONTRACT_STATUS"}
    assert len(refused.value.problems) == 3  # GRADUATION_REVIEW, ENROLLED, GRADUATED
    parse_bundle(only, svc.engine.handlers, svc.engine.forms, svc.engine.lane_roles, process_contracts())
    assert contract_problems(None, [], process_contracts()) == []


def test_a_new_process_may_set_only_a_status_of_the_list(svc):
    """A process no contract names (an administrator's new one) is checked against cases/statuses.py."""
    files = read_folder(ROOT / "processes")
    copy = (
        files["graduation.bpmn"]
        .replace('processRef="graduation"', 'processRef="graduation_copy"')
        .replace('<bpmn:process id="graduation"', '<bpmn:process id="graduation_copy"')
    )
    assert copy.count("graduation_copy") == 2
    parse_bundle({**files, "copy.bpmn": copy}, svc.engine.handlers, svc.engine.forms, svc.engine.lane_roles,
                 process_contracts())  # fmt: skip
    bogus = copy.replace('value="GRADUATED"', 'value="SELF_SUFFICIENT"')
    with pytest.raises(DeployRejected) as refused:
        parse_bundle({**files, "copy.bpmn": bogus}, svc.engine.handlers, svc.engine.forms, svc.engine.lane_roles,
                     process_contracts())  # fmt: skip
    assert [(p["code"], p["file"], p["params"]["status"]) for p in refused.value.problems] == [
        ("CONTRACT_STATUS", "copy.bpmn", "SELF_SUFFICIENT")
    ]
