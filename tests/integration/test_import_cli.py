"""`tepat sandbox import` refuses a mass deletion and bombs with exit status 2 and a bilingual message."""

import shutil

from flask import current_app
from sqlalchemy import func, select

from engine.db import db
from integrations.sandbox import tables as t
from integrations.sandbox.importer import import_extracts
from tests.unit.integrations.test_sandbox_import_guards import billion_laughs, keep_header_only, rewrite_part


def _people():
    return db.session.scalar(select(func.count()).select_from(t.people))


def _copy(population, tmp_path):
    folder = tmp_path / "extracts"
    shutil.copytree(population["dir"], folder)
    return folder


def test_a_header_only_people_sheet_is_refused_with_status_2(ctx, population, tmp_path):
    before = _people()
    assert before > 0
    folder = _copy(population, tmp_path)
    keep_header_only(folder / "dukcapil.xlsx", "PENDUDUK")
    result = current_app.test_cli_runner().invoke(args=["sandbox", "import", str(folder)])
    assert result.exit_code == 2, result.output
    assert "Impor ditolak: akan menghapus lebih dari 10% baris yang tersimpan; tidak ada yang diubah." in result.output
    assert "Import refused: it would delete more than 10% of the stored rows; nothing was changed." in result.output
    assert f"sandbox_people: {before} dari/of {before} baris/rows (100%)" in result.output
    assert "--allow-mass-delete" in result.output
    db.session.expire_all()
    assert _people() == before


def test_allow_mass_delete_lets_the_deletion_through(ctx, population, tmp_path):
    folder = _copy(population, tmp_path)
    keep_header_only(folder / "kepegawaian.xlsx", "PEGAWAI")
    runner = current_app.test_cli_runner()
    try:
        assert runner.invoke(args=["sandbox", "import", str(folder)]).exit_code == 2
        result = runner.invoke(args=["sandbox", "import", str(folder), "--allow-mass-delete"])
        assert result.exit_code == 0, result.output
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(t.civil_service)) == 0
    finally:  # the other tests share this registry
        db.session.rollback()
        import_extracts(population["dir"], db.session, max_delete_share=None)
        db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(t.civil_service)) > 0


def test_an_xml_bomb_is_refused_with_a_clear_error(ctx, population, tmp_path):
    folder = _copy(population, tmp_path)
    rewrite_part(folder / "dukcapil.xlsx", "xl/worksheets/sheet1.xml", billion_laughs)
    result = current_app.test_cli_runner().invoke(args=["sandbox", "import", str(folder)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Ekstrak tidak dapat diimpor; tidak ada yang diubah. / The extracts cannot be imported" in result.output
    assert "dukcapil.xlsx is refused: its part xl/worksheets/sheet1.xml declares a DTD" in result.output
    assert "Traceback" not in result.output
