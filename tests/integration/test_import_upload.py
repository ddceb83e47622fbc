"""Registry extracts uploaded in the browser: checked at once, kept for the worker, applied as a tracked run."""

import io
import shutil

import openpyxl
import pytest
from flask import current_app
from sqlalchemy import func, select

from cases.audit import AuditEntry
from cases.operations import create_officer
from engine.db import db
from engine.runs import Run
from tests.integration.test_web import PASSWORD, csrf_of, login, web  # noqa: F401  (fixture)
from tests.unit.integrations.test_sandbox_import_guards import billion_laughs, rewrite_part
from web.admin.imports import WORKBOOKS
from web.runs_exec import run_in_process

COVERED_ENDPOINTS = {"admin.imports", "admin.start_import"}


@pytest.fixture
def import_dir(tmp_path, ctx):
    kept = current_app.config["BANSOS_IMPORT_DIR"]
    current_app.config["BANSOS_IMPORT_DIR"] = str(tmp_path / "imports")
    yield tmp_path / "imports"
    current_app.config["BANSOS_IMPORT_DIR"] = kept


def upload(client, folder, names=WORKBOOKS, **fields):
    token = csrf_of(client, "/admin/imports")
    files = [(io.BytesIO((folder / n).read_bytes()), n) for n in names]
    return client.post(
        "/admin/imports", data={"csrf_token": token, "workbooks": files, **fields}, content_type="multipart/form-data"
    )


def kept_folders(import_dir):
    return sorted(p for p in import_dir.glob("*")) if import_dir.exists() else []


def runs():
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Run).where(Run.kind == "import"))


@pytest.mark.parametrize(
    "role",
    [
        None,
        "caseworker",
        "appeals_officer",
        "facilitator",
        "auditor",
        "supervisor",
        "administrator",
        "district administrator",
    ],
)
def test_who_may_upload_an_extract(web, svc, role, population, import_dir):
    if role == "district administrator":
        create_officer(db.session, "w_dadmin", "District Admin", ["administrator"], ["05"], password=PASSWORD)
        db.session.commit()
        assert login(web, "w_dadmin").status_code == 302
    elif role is not None:
        assert login(web, f"w_{role}").status_code == 302
    page = web.get("/admin/imports")
    if role is None:
        assert page.status_code == 302 and web.post("/admin/imports").status_code in (302, 400)
        return
    expected = 200 if role == "administrator" else 403
    assert page.status_code == expected
    if role == "administrator":
        return
    token = csrf_of(web, "/inbox")
    sent = web.post(
        "/admin/imports",
        data={
            "csrf_token": token,
            "workbooks": [(io.BytesIO((population["dir"] / n).read_bytes()), n) for n in WORKBOOKS],
        },
        content_type="multipart/form-data",
    )
    assert sent.status_code == 403 and runs() == 0 and kept_folders(import_dir) == []


def test_an_uploaded_extract_is_kept_and_applied_by_a_run(web, svc, population, import_dir):
    assert login(web, "w_administrator").status_code == 302
    page = web.get("/admin/imports").get_data(as_text=True)
    assert "Impor ekstrak registri" in page and "dukcapil.xlsx" in page
    sent = upload(web, population["dir"])
    assert sent.status_code == 302 and "/admin/runs/" in sent.headers["Location"], sent.get_data(as_text=True)[:2000]
    run = db.session.scalar(select(Run).where(Run.kind == "import"))
    folder = kept_folders(import_dir)[0]
    assert run.params["folder"] == str(folder) and sorted(p.name for p in folder.glob("*.xlsx")) == sorted(WORKBOOKS)
    run_in_process(svc.engine, run.id, wait=True)  # what a worker (or the in-process scheduler) does
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert (run.status, run.done) == ("done", 1) and run.result["rows_read"] > 1000
    shown = web.get(f"/admin/runs/{run.id}").get_data(as_text=True)
    assert "sandbox_people" in shown
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "run")))
    assert "run.start" in actions


def test_refused_rows_come_back_as_an_error_workbook(web, svc, population, import_dir, tmp_path):
    folder = tmp_path / "extract"
    shutil.copytree(population["dir"], folder)
    book = openpyxl.load_workbook(folder / "dtsen.xlsx")
    book["DTSEN"].cell(row=2, column=2, value="sebelas")  # a decile that is no number
    book.save(folder / "dtsen.xlsx")
    assert login(web, "w_administrator").status_code == 302
    sent = upload(web, folder)
    assert sent.status_code == 302
    run = db.session.scalar(select(Run).where(Run.kind == "import"))
    run_in_process(svc.engine, run.id, wait=True)
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    assert run.status == "done" and run.result["refused_rows"] >= 1
    workbook = web.get(f"/admin/runs/{run.id}/errors.xlsx")
    assert workbook.status_code == 200 and workbook.data[:2] == b"PK"
    workbook.close()


def test_uploaded_extracts_are_deleted_after_their_retention_and_the_run_says_so(
    web, svc, population, import_dir, tmp_path
):
    from datetime import timedelta

    from cases.runkinds import start_import_run
    from engine.core import Actor
    from engine.db import utcnow
    from web.scheduler import purge_evidence

    folder = tmp_path / "extract"
    shutil.copytree(population["dir"], folder)
    book = openpyxl.load_workbook(folder / "dtsen.xlsx")
    book["DTSEN"].cell(row=2, column=2, value="sebelas")  # a refused row: an error workbook is written
    book.save(folder / "dtsen.xlsx")
    assert login(web, "w_administrator").status_code == 302
    assert upload(web, folder).status_code == 302
    run = db.session.scalar(select(Run).where(Run.kind == "import"))
    run_in_process(svc.engine, run.id, wait=True)
    # An import of an operator's own folder (`tepat sandbox import`): never deleted by the housekeeping.
    own = start_import_run(svc.engine, Actor("operator", frozenset({"administrator"})), folder)
    own.status, own.finished_at = "done", utcnow()
    db.session.commit()
    [kept] = kept_folders(import_dir)
    days = current_app.config["BANSOS_IMPORT_RETENTION_DAYS"]
    purge_evidence(current_app._get_current_object())
    assert kept.is_dir()  # still within the retention period
    workbook = web.get(f"/admin/runs/{run.id}/errors.xlsx")
    assert workbook.status_code == 200
    workbook.close()
    db.session.expire_all()
    for old in db.session.scalars(select(Run).where(Run.kind == "import")):
        old.finished_at = utcnow() - timedelta(days=days + 1)
    db.session.commit()
    purge_evidence(current_app._get_current_object())
    assert not kept.exists() and kept_folders(import_dir) == [] and (folder / "dtsen.xlsx").is_file()
    assert web.get(f"/admin/runs/{run.id}/errors.xlsx").status_code == 404
    page = web.get(f"/admin/runs/{run.id}").get_data(as_text=True)
    assert "data-files-purged" in page and "di akhir masa simpannya" in page and "sandbox_people" in page
    assert "data-files-purged" not in web.get(f"/admin/runs/{own.id}").get_data(as_text=True)
    db.session.expire_all()
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "import.files_purged")).all()
    assert entry.detail["runs"] == [run.id]
    purge_evidence(current_app._get_current_object())  # a second pass: nothing more
    db.session.expire_all()
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "import.files_purged")
        )
        == 1
    )


@pytest.mark.parametrize("problem", ["missing", "unknown name", "xml bomb", "not a workbook", "twice"])
def test_a_bad_upload_is_refused_with_the_reason_and_nothing_is_kept(
    web, svc, population, import_dir, tmp_path, problem
):
    folder = tmp_path / "extract"
    shutil.copytree(population["dir"], folder)
    names = list(WORKBOOKS)
    if problem == "missing":
        names.remove("aset.xlsx")
    elif problem == "unknown name":
        (folder / "gaji.xlsx").write_bytes((folder / "aset.xlsx").read_bytes())
        names.append("gaji.xlsx")
        names.remove("dtsen.xlsx")
    elif problem == "xml bomb":
        rewrite_part(folder / "dukcapil.xlsx", "xl/worksheets/sheet1.xml", billion_laughs)
    elif problem == "not a workbook":
        (folder / "dtsen.xlsx").write_bytes(b"%PDF-1.4 not a workbook")
    else:
        names.remove("aset.xlsx")
        names.append("dtsen.xlsx")
    assert login(web, "w_administrator").status_code == 302
    sent = upload(web, folder, names)
    text = sent.get_data(as_text=True)
    assert sent.status_code == 422 and "Ekstrak tidak diterima; tidak ada yang diubah." in text
    expected = {
        "missing": "aset.xlsx",
        "unknown name": "gaji.xlsx",
        "xml bomb": "dukcapil.xlsx",
        "not a workbook": "dtsen.xlsx",
        "twice": "dtsen.xlsx",
    }[problem]
    assert expected in text.split('id="import-problems"')[1]
    assert runs() == 0 and kept_folders(import_dir) == []
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "import.refused"))
