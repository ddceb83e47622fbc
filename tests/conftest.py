"""Fixtures: one app per session on the configured database, a clean case schema per test."""

import os
from pathlib import Path

import pytest
from sqlalchemy import delete

ROOT = Path(__file__).resolve().parent.parent
FACES_DIR = Path(os.environ.get("TEPAT_FACES_DIR", ROOT.parent / "shared" / "faces"))
DATA_DIR = Path(__file__).resolve().parent / "data"


def database_url(tmp_root):
    """The test database: TEPAT_TEST_DATABASE_URL, else a SQLite file."""
    return os.environ.get("TEPAT_TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.sqlite'}"


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory):
    return tmp_path_factory.mktemp("tepat")


@pytest.fixture(scope="session")
def population(tmp_root):
    """A synthetic registry of 1,000 people, generated once per session."""
    from integrations.sandbox.generator import generate_population

    out = tmp_root / "extracts"
    report = generate_population(1000, 11, out)
    return {"dir": out, "personas": report.personas, "photo_holders": report.photo_holders}


@pytest.fixture(scope="session")
def settings_overrides(tmp_root):
    return {
        "BANSOS_DATABASE_URL": database_url(tmp_root),
        "BANSOS_VAR_DIR": str(tmp_root / "var"),
        "BANSOS_PHOTO_DIR": str(tmp_root / "photos"),
        "BANSOS_SANDBOX_PHOTO_DIR": str(FACES_DIR),
        "BANSOS_SCHEDULER_ENABLED": False,
        "BANSOS_SERVICE_RETRIES": 3,
        "BANSOS_SERVICE_BACKOFF_SECONDS": 60,
        "BANSOS_SANDBOX_FAULTS": {},
        "BANSOS_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # cheap: officers are created in most tests
    }


@pytest.fixture(scope="session")
def app(settings_overrides, population):
    """The app, with a fresh schema and the sandbox registry imported."""
    from engine.db import db
    from integrations.sandbox.importer import import_extracts
    from web import create_app
    from web.schema import reset_schema

    app = create_app(settings_overrides)
    with app.app_context():
        reset_schema(db.engine)
        import_extracts(population["dir"], db.session)
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _clean(db):
    """Delete every case and engine row (the sandbox registry stays)."""
    from integrations.face_index import face_templates
    from integrations.registry_faces import registry_face_templates
    from integrations.sandbox.tables import disbursements, outbox

    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(delete(table))
    db.session.execute(delete(disbursements))
    db.session.execute(delete(outbox))
    db.session.execute(delete(face_templates))
    db.session.execute(delete(registry_face_templates))
    db.session.commit()


@pytest.fixture
def ctx(app):
    """An app context on a clean case schema."""
    from engine.db import db

    with app.app_context():
        _clean(db)
        yield app
        db.session.rollback()
        from web import services

        services().integrations.faults.clear()
        _clean(db)
        db.session.remove()


@pytest.fixture
def svc(ctx):
    """The wired services: engine, integrations, photos; processes deployed."""
    from engine.db import db
    from web import services

    s = services()
    s.engine.deploy_folder(deployed_by="tests")
    db.session.commit()
    return s


@pytest.fixture
def personas(population):
    return population["personas"]


@pytest.fixture
def officers(ctx):
    """Create the usual officers; returns {username: Actor}."""
    from cases.operations import actor_for, create_officer
    from engine.db import db

    specs = {
        "cw1": ["caseworker"],
        "cw2": ["caseworker"],
        "sup1": ["supervisor"],
        "sup2": ["supervisor"],
        "app1": ["appeals_officer"],
        "admin": ["administrator", "supervisor"],
        "cwsup": ["caseworker", "supervisor"],
        "cw_far": ["caseworker"],
    }
    actors = {}
    for name, roles in specs.items():
        regions = ["25"] if name == "cw_far" else None
        actors[name] = actor_for(create_officer(db.session, name, name.upper(), roles, regions))
    db.session.commit()
    return actors


def faces_or_skip():
    """Return the shared faces folder, or skip the test when it is absent."""
    if not (FACES_DIR / "manifest.csv").exists():
        pytest.skip(f"shared faces folder not found at {FACES_DIR}")
    return FACES_DIR
