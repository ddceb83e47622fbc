"""Diagrams from other modelers (tests/data/foreign): never a 500, a traceback or a hang; a translated problem,
the draft kept and audited on the web, exit status 2 from `tepat deploy --folder`."""

import io
import shutil

import pytest
from flask import current_app
from sqlalchemy import func, select

from cases.audit import AuditEntry
from engine.db import db
from engine.deploy import latest_version
from engine.models import Incident, ProcessDraft, ProcessInstance, ProcessVersion
from engine.spec import SERIALIZER_VERSION, TepatBpmnParser, dump_spec
from tests.conftest import DATA_DIR, ROOT
from tests.integration.test_web import csrf_of, login, web  # noqa: F401  (fixture)

FOREIGN = DATA_DIR / "foreign"
REFUSED = {
    "calls_itself.bpmn": ("CALL_CYCLE", "again"),
    "call_cycle.bpmn": ("CALL_CYCLE", "call_ping"),
    "missing_called.bpmn": ("CALLED_PROCESS_MISSING", "call_ghost"),
    "timer_absurd.bpmn": ("TIMER_TOO_LONG", "wait_forever"),
    "duplicate_id.bpmn": ("DUPLICATE_ID", "twin"),
    "not_executable.bpmn": ("NOT_EXECUTABLE", None),
    "long_process_id.bpmn": ("ID_TOO_LONG", None),
    "long_process_name.bpmn": ("NAME_TOO_LONG", "long_process_name"),
    "long_chain.bpmn": ("CHAIN_TOO_LONG", "long_chain"),
    "dmn_no_decision.dmn": ("DMN_NO_DECISION", None),
    "dmn_bad_rule.dmn": ("DMN_EXPRESSION_INVALID", "foreign_bad_rule_r1_in"),
    "dmn_unknown_namespace.dmn": ("DMN_NAMESPACE", None),
}
ACCEPTED = ["dmn12_namespace.dmn", "dmn_prefixed_root.dmn"]
TEXTS = {  # a word of the Indonesian sentence each problem gets
    "CALL_CYCLE": "memanggil dirinya sendiri",
    "CALLED_PROCESS_MISSING": "ghost_process",
    "TIMER_TOO_LONG": "sepuluh tahun",
    "DUPLICATE_ID": "twin",
    "NOT_EXECUTABLE": "tidak dapat dijalankan",
    "ID_TOO_LONG": "100",
    "NAME_TOO_LONG": "200",
    "CHAIN_TOO_LONG": "150",
    "DMN_NO_DECISION": "tabel keputusan",
    "DMN_EXPRESSION_INVALID": "sandbox",
    "DMN_NAMESPACE": "DMN",
}


def upload(client, name, content):
    token = csrf_of(client, "/admin/processes")
    return client.post(
        "/admin/processes/upload",
        data={"csrf_token": token, "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def versions():
    return db.session.scalar(select(func.count()).select_from(ProcessVersion))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_web_upload_keeps_a_draft_with_the_translated_problem_and_deploy_refuses_it(web, svc, name):
    code, element = REFUSED[name]
    assert login(web, "w_administrator").status_code == 302
    before = versions()
    response = upload(web, name, (FOREIGN / name).read_bytes())
    assert response.status_code == 303
    draft = db.session.scalars(select(ProcessDraft).where(ProcessDraft.file_name == name)).one()
    assert code in [p["code"] for p in draft.problems], draft.problems
    if element:
        assert element in [p["element_id"] for p in draft.problems if p["code"] == code]
    source = web.get(f"/admin/processes/files/{name}/source.json").get_json()
    assert source["source"] == "draft"
    assert any(TEXTS[code] in p["text"] for p in source["problems"]), source["problems"]
    response = web.post("/admin/processes/deploy", data={"csrf_token": csrf_of(web, "/admin/processes")})
    assert response.status_code == 303
    db.session.expire_all()
    assert versions() == before
    assert db.session.scalars(select(ProcessDraft.file_name)).all() == [name]  # the work is kept
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert "process.draft_uploaded" in actions and "process.deploy_refused" in actions


@pytest.mark.parametrize("name", sorted(REFUSED) + ["not_utf8.bpmn"])
def test_deploy_folder_prints_the_problem_and_exits_2(svc, tmp_path, name):
    folder = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", folder)
    shutil.copy(FOREIGN / name, folder / name)
    before = versions()
    result = current_app.test_cli_runner().invoke(args=["deploy", "--folder", str(folder)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    code = REFUSED.get(name, ("NOT_UTF8",))[0]
    assert f"[{code}]" in result.output and name in result.output
    assert versions() == before


def test_non_utf8_upload_is_refused_and_logged(web, svc):
    assert login(web, "w_administrator").status_code == 302
    assert upload(web, "not_utf8.bpmn", (FOREIGN / "not_utf8.bpmn").read_bytes()).status_code == 303
    assert db.session.scalar(select(func.count()).select_from(ProcessDraft)) == 0
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "process.upload_refused")).one()
    assert entry.detail["code"] == "DEPLOY_REJECTED"


@pytest.mark.parametrize("name", ACCEPTED)
def test_dmn_12_and_prefixed_roots_are_read_and_deploy(web, svc, tmp_path, name):
    assert login(web, "w_administrator").status_code == 302
    assert upload(web, name, (FOREIGN / name).read_bytes()).status_code == 303
    draft = db.session.scalars(select(ProcessDraft).where(ProcessDraft.file_name == name)).one()
    assert draft.problems == []
    folder = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", folder)
    shutil.copy(FOREIGN / name, folder / name)
    result = current_app.test_cli_runner().invoke(args=["deploy", "--folder", str(folder)])
    assert result.exit_code == 0, result.output


def _unchecked_version(name, process_id):
    """Store a version the deploy checks would refuse (as an older Tepat may have): the run-time defences."""
    parser = TepatBpmnParser()
    parser.add_bpmn_file(str(FOREIGN / name))
    spec = parser.get_spec(process_id)
    version = ProcessVersion(
        process_id=process_id,
        number=1,
        origin="folder",
        name=process_id,
        content_hash="unchecked-calls-itself",
        files={name: (FOREIGN / name).read_text()},
        spec_json=dump_spec(spec, parser.get_subprocess_specs(process_id)),
        serializer_version=SERIALIZER_VERSION,
    )
    db.session.add(version)
    db.session.flush()
    return version


def test_a_process_that_calls_itself_at_run_time_ends_in_an_incident(svc):
    version = _unchecked_version("calls_itself.bpmn", "calls_itself")
    instance = svc.engine.start("calls_itself", "LOOP-1", {}, version=version)
    db.session.commit()
    assert db.session.get(ProcessInstance, instance.id).status == "incident"
    incident = db.session.scalars(select(Incident).where(Incident.instance_id == instance.id)).one()
    assert "automatic steps" in incident.error


def test_an_absurd_timer_at_run_time_ends_in_an_incident(svc, tmp_path):
    xml = (FOREIGN / "timer_absurd.bpmn").read_text().replace('"P99999999999Y"', '"P" + "99999999999Y"')
    path = tmp_path / "timer_expression.bpmn"
    path.write_text(xml)
    parser = TepatBpmnParser()
    parser.add_bpmn_file(str(path))
    spec = parser.get_spec("timer_absurd")
    version = ProcessVersion(
        process_id="timer_absurd",
        number=1,
        origin="folder",
        name="t",
        content_hash="unchecked-timer",
        files={"timer_absurd.bpmn": xml},
        spec_json=dump_spec(spec, {}),
        serializer_version=SERIALIZER_VERSION,
    )
    db.session.add(version)
    db.session.flush()
    instance = svc.engine.start("timer_absurd", "TIMER-1", {}, version=version)
    db.session.commit()
    assert db.session.get(ProcessInstance, instance.id).status == "incident"
    incident = db.session.scalars(select(Incident).where(Incident.instance_id == instance.id)).one()
    assert "ten years" in incident.error
    assert latest_version(db.session, "timer_absurd").id == version.id
