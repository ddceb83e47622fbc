"""Migrations: an empty database upgrades to exactly the models' schema, and upgrades keep data."""
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from tests.conftest import ROOT


@pytest.fixture
def migration_url(tmp_path):
    url = os.environ.get("TEPAT_TEST_MIGRATION_DATABASE_URL") or f"sqlite:///{tmp_path / 'migrate.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:  # start from an empty database
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def test_upgrade_from_empty_matches_models_and_keeps_data(migration_url, tmp_path):
    from engine.db import db
    from web import create_app
    from web.schema import all_metadata

    app = create_app({"BANSOS_DATABASE_URL": migration_url, "BANSOS_VAR_DIR": str(tmp_path),
                      "BANSOS_SCHEDULER_ENABLED": False})
    with app.app_context():
        upgrade()
        names = set(inspect(db.engine).get_table_names())
        assert {"process_versions", "process_instances", "human_tasks", "incidents", "applications",
                "evidence", "case_events", "officers", "sandbox_people", "face_templates", "rechecks",
                "alembic_version"} <= names
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), all_metadata())
        assert diff == [], f"models and migrations differ: {diff}"
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO officers (username, name, roles, active, created_at) "
                              "VALUES ('keep', 'Keep Me', '[]', true, CURRENT_TIMESTAMP)"))
        upgrade()  # running the set-up again upgrades in place
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM officers WHERE username = 'keep'")).scalar() == "Keep Me"
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        db.session.remove()
        db.engine.dispose()
    assert (ROOT / "migrations" / "versions").is_dir()


def test_existing_versions_are_numbered_per_process(migration_url, tmp_path):
    """0016: rows deployed before get 1, 2, 3 per process in deployment order, and where they came from."""
    from engine.db import db
    from web import create_app

    app = create_app({"BANSOS_DATABASE_URL": migration_url, "BANSOS_VAR_DIR": str(tmp_path),
                      "BANSOS_SCHEDULER_ENABLED": False})
    with app.app_context():
        upgrade(revision="0015")
        with db.engine.begin() as conn:
            for n, (process_id, by) in enumerate([("application", "setup"), ("objection", "setup"),
                                                  ("application", "admin"), ("recheck", None), ("application", "setup")]):
                conn.execute(text("INSERT INTO process_versions (process_id, name, content_hash, files, spec_json, "
                                  "serializer_version, deployed_at, deployed_by) VALUES (:p, :p, :h, '{}', '{}', "
                                  "'1', CURRENT_TIMESTAMP, :by)"), {"p": process_id, "by": by, "h": f"h{n}"})
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT process_id, number, origin FROM process_versions ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [("application", 1, "folder"), ("objection", 1, "folder"),
                                            ("application", 2, "editor"), ("recheck", 1, "folder"),
                                            ("application", 3, "folder")]
        downgrade(revision="base")
        db.session.remove()
        db.engine.dispose()
