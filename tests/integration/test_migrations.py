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

    app = create_app(
        {"BANSOS_DATABASE_URL": migration_url, "BANSOS_VAR_DIR": str(tmp_path), "BANSOS_SCHEDULER_ENABLED": False}
    )
    with app.app_context():
        upgrade()
        names = set(inspect(db.engine).get_table_names())
        assert {
            "process_versions",
            "process_instances",
            "human_tasks",
            "incidents",
            "applications",
            "evidence",
            "case_events",
            "officers",
            "sandbox_people",
            "face_templates",
            "rechecks",
            "alembic_version",
        } <= names
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), all_metadata())
        assert diff == [], f"models and migrations differ: {diff}"
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO officers (username, name, roles, active, created_at) "
                    "VALUES ('keep', 'Keep Me', '[]', true, CURRENT_TIMESTAMP)"
                )
            )
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

    app = create_app(
        {"BANSOS_DATABASE_URL": migration_url, "BANSOS_VAR_DIR": str(tmp_path), "BANSOS_SCHEDULER_ENABLED": False}
    )
    with app.app_context():
        upgrade(revision="0015")
        with db.engine.begin() as conn:
            for n, (process_id, by) in enumerate(
                [
                    ("application", "setup"),
                    ("objection", "setup"),
                    ("application", "admin"),
                    ("recheck", None),
                    ("application", "setup"),
                ]
            ):
                conn.execute(
                    text(
                        "INSERT INTO process_versions (process_id, name, content_hash, files, spec_json, "
                        "serializer_version, deployed_at, deployed_by) VALUES (:p, :p, :h, '{}', '{}', "
                        "'1', CURRENT_TIMESTAMP, :by)"
                    ),
                    {"p": process_id, "by": by, "h": f"h{n}"},
                )
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT process_id, number, origin FROM process_versions ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [
            ("application", 1, "folder"),
            ("objection", 1, "folder"),
            ("application", 2, "editor"),
            ("recheck", 1, "folder"),
            ("application", 3, "folder"),
        ]
        downgrade(revision="base")
        db.session.remove()
        db.engine.dispose()


def test_the_single_audit_chain_becomes_shard_0_and_still_verifies(migration_url, tmp_path):
    """0024: entries chained before the shards keep their hashes; shard 0 goes on from them, other
    shards and the anchor chain start, and the whole trail verifies."""
    from cases import audit
    from engine.db import db
    from web import create_app

    app = create_app(
        {
            "BANSOS_DATABASE_URL": migration_url,
            "BANSOS_VAR_DIR": str(tmp_path),
            "BANSOS_SCHEDULER_ENABLED": False,
            "BANSOS_AUDIT_SHARDS": 4,
        }
    )
    with app.app_context():
        upgrade(revision="0021")
        prev, rows = audit.GENESIS_HASH, []
        for i in range(1, 4):  # a chain as the single-chain code wrote it (no shard, no seq in the hash)
            row = {
                "id": i,
                "at": f"2026-01-0{i}T08:00:00.000000+00:00",
                "actor": "cw1",
                "actor_roles": ["caseworker"],
                "action": "case.view",
                "target_type": "case",
                "target_id": f"TPT-{i}",
                "ip": None,
                "user_agent": None,
                "detail": None,
                "format": audit.LEGACY_FORMAT,
            }
            row["prev_hash"], row["hash"] = prev, audit.entry_hash(row, prev)
            rows.append(row)
            prev = row["hash"]
        with db.engine.begin() as conn:
            for row in rows:
                conn.execute(
                    text(
                        "INSERT INTO audit_log (id, at, actor, actor_roles, action, target_type, target_id, "
                        "prev_hash, hash) VALUES (:id, :at, :actor, '[\"caseworker\"]', :action, "
                        ":target_type, :target_id, :prev_hash, :hash)"
                    ),
                    {**row, "at": row["at"].replace("T", " ").replace("+00:00", "")},
                )
            conn.execute(text("UPDATE audit_head SET last_id = 3, last_hash = :h WHERE id = 1"), {"h": prev})
        upgrade()
        result = audit.verify_chain(db.session)
        assert result.ok and result.checked == 3, result
        assert audit.chain_heads(db.session) == {0: (3, prev)}

        for i in range(12):  # new entries in several shards, shard 0 among them
            audit.record(db.session, "cw1", "case.view", "case", f"TPT-NEW-{i}")
            db.session.commit()
        assert audit.anchor(db.session, "test") is not None
        db.session.commit()
        entries = db.session.execute(select_entries()).all()
        assert {e.shard for e in entries} >= {0, audit.ANCHOR_SHARD} and len({e.shard for e in entries}) > 2
        assert len({e.id for e in entries}) == 16 and min(e.id for e in entries if e.format == 2) > 3
        assert [e.seq for e in entries if e.shard == 0][:3] == [1, 2, 3]
        result = audit.verify_chain(db.session)
        assert result.ok and result.checked == 16, result

        with db.engine.begin() as conn:  # shard 0's legacy part is still checked
            conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"))
        result = audit.verify_chain(db.session)
        assert (result.ok, result.shard, result.first_bad_seq, result.first_bad_id) == (False, 0, 2, 2)

        db.session.remove()
        with pytest.raises(SystemExit):  # flask-migrate reports the migration's refusal and exits
            downgrade(revision="0021")
        with db.engine.connect() as conn:
            # Still at 0024 or a later revision (PostgreSQL rolls the whole downgrade back; SQLite may
            # have stepped down the later revisions before 0024 refused): never below the shards.
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert version not in ("0021", "0022", "0023")
            assert conn.execute(text("SELECT count(*) FROM audit_chain_heads")).scalar() > 0
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 16
        db.session.remove()
        db.engine.dispose()


def select_entries():
    from sqlalchemy import select

    from cases.audit import AuditEntry

    return select(AuditEntry.id, AuditEntry.shard, AuditEntry.seq, AuditEntry.format).order_by(
        AuditEntry.shard, AuditEntry.seq
    )


def test_existing_enrolments_get_their_components(migration_url, tmp_path):
    """0025: enrolments made before payment cycles get their component counts from the benefits document."""
    import json

    from engine.db import db
    from web import create_app

    app = create_app(
        {"BANSOS_DATABASE_URL": migration_url, "BANSOS_VAR_DIR": str(tmp_path), "BANSOS_SCHEDULER_ENABLED": False}
    )
    benefits = {
        "components": [
            {"programme": "PKH", "category": "SD", "annual": 900000},
            {"programme": "PKH", "category": "SD", "annual": 900000},
            {"programme": "PKH", "category": "elderly_70", "annual": 2400000},
            {"programme": "BPNT", "category": "food", "annual": 2400000},
        ]
    }
    with app.app_context():
        upgrade(revision="0021")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO applications (id, nik, channel, consent_version, consent_at, status, reasons, "
                    "review_flags, programmes, created_at, updated_at) VALUES (1, '3510014101900001', 'self', "
                    "'v1', CURRENT_TIMESTAMP, 'ENROLLED', '[]', '[]', '[\"PKH\"]', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO enrolments (id, application_id, nik, programmes, benefits, enrolled_at) "
                    "VALUES (1, 1, '3510014101900001', '[\"PKH\"]', :b, CURRENT_TIMESTAMP)"
                ),
                {"b": json.dumps(benefits)},
            )
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT programme, category, units FROM enrolment_components "
                    "WHERE enrolment_id = 1 ORDER BY category"
                )
            ).all()
        # Only the programmes the family is enrolled in (PKH here), counted per category.
        assert [tuple(r) for r in rows] == [("PKH", "SD", 2), ("PKH", "elderly_70", 1)]
        with db.engine.begin() as conn:
            for table in ("enrolment_components", "enrolments", "applications"):
                conn.execute(text(f"DELETE FROM {table}"))
        downgrade(revision="base")
        db.session.remove()
        db.engine.dispose()
