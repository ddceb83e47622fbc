"""Fast unit tests of the case domain: an in-memory SQLite database with only the tables a test needs,
an app context for the settings the domain reads (no app, no registry, no engine run)."""

import pytest
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from engine.db import db


@pytest.fixture
def settings_context():
    app = Flask("unit")
    app.config["BANSOS_PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:1000"
    with app.app_context():
        yield app


@pytest.fixture
def session_with():
    """session_with("officers", ...) -> a Session on a new in-memory database holding those tables."""
    engines = []

    def make(*tables):
        engine = create_engine("sqlite://")
        engines.append(engine)
        db.metadata.create_all(engine, tables=[db.metadata.tables[name] for name in tables])
        return Session(engine)

    yield make
    for engine in engines:
        engine.dispose()
