"""Fixtures for the integrations tests: a generated population in a SQLite file database."""

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from integrations.sandbox.faults import SandboxFaults
from integrations.sandbox.generator import generate_population
from integrations.sandbox.importer import import_extracts
from integrations.sandbox.tables import sandbox_metadata

POPULATION_SIZE = 5000
POPULATION_SEED = 11


def faces_dir() -> Path:
    """Return the shared test-faces folder (TEPAT_FACES_DIR overrides ../shared/faces)."""
    if os.environ.get("TEPAT_FACES_DIR"):
        return Path(os.environ["TEPAT_FACES_DIR"])
    here = Path(__file__).resolve()
    root = next((p for p in here.parents if (p / "integrations" / "base.py").is_file()), here.parents[3])
    return root.parent / "shared" / "faces"


@pytest.fixture(scope="session")
def faces():
    folder = faces_dir()
    if not (folder / "obama.jpg").is_file():
        pytest.skip(f"test faces not found in {folder} (set TEPAT_FACES_DIR)")
    return folder


@pytest.fixture(scope="session")
def population(tmp_path_factory):
    """Generate the extracts once per test session and return the generation report."""
    out = tmp_path_factory.mktemp("extracts")
    return generate_population(POPULATION_SIZE, POPULATION_SEED, out)


@pytest.fixture(scope="session")
def loaded_engine(population, tmp_path_factory):
    """A SQLite file database holding the imported population (committed once)."""
    path = tmp_path_factory.mktemp("db") / "sandbox.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    sandbox_metadata.create_all(engine)
    with Session(engine) as session:
        report = import_extracts(population.out_dir, session)
        session.commit()
    engine.import_report = report
    yield engine
    engine.dispose()


@pytest.fixture
def session(loaded_engine):
    """A session over the loaded database, rolled back after the test."""
    with Session(loaded_engine) as session:
        yield session
        session.rollback()


@pytest.fixture
def empty_session(tmp_path):
    """A session over a fresh, empty sandbox schema."""
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    sandbox_metadata.create_all(engine)
    with Session(engine) as session:
        yield session
        session.rollback()
    engine.dispose()


@pytest.fixture
def faults():
    return SandboxFaults()


@pytest.fixture
def personas(population):
    return population.personas


SMALL_POPULATION = 1000  # people in the `small_extracts` fixture (keep in step with test_sandbox_importer.py)


@pytest.fixture(scope="session")
def small_extracts(tmp_path_factory):
    """A small generated population's extract workbooks (importer tests), made once per session."""
    out = tmp_path_factory.mktemp("small")
    generate_population(SMALL_POPULATION, 21, out)
    return out


@pytest.fixture
def folder(small_extracts, tmp_path):
    """A private copy of the small extracts, free to edit."""
    copy = tmp_path / "extracts"
    shutil.copytree(small_extracts, copy)
    return copy
