"""Flask app factory: settings, database, engine, integrations, command line."""
from pathlib import Path

from flask import Flask, current_app
from flask_migrate import Migrate
from sqlalchemy import event
from sqlalchemy.engine import Engine as SqlEngine

from settings import load_settings

migrate = Migrate()
MIGRATIONS_DIR = str(Path(__file__).resolve().parent.parent / "migrations")


@event.listens_for(SqlEngine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """Make SQLite wait for locks, use WAL, and enforce foreign keys."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()


def create_app(overrides=None, scheduler=False):
    """Create the Tepat app; `scheduler=True` starts the in-process timer job."""
    from cases import listeners
    from engine.db import db

    settings = load_settings(overrides)
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(settings)
    app.config["SQLALCHEMY_DATABASE_URI"] = settings["BANSOS_DATABASE_URL"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    if settings["BANSOS_DATABASE_URL"].startswith("sqlite:///"):
        Path(settings["BANSOS_DATABASE_URL"][len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    listeners.connect()

    from .cli import register_cli
    from .routes import bp

    app.register_blueprint(bp)
    register_cli(app)
    if scheduler and settings["BANSOS_SCHEDULER_ENABLED"]:
        from .scheduler import start_scheduler

        start_scheduler(app)
    return app


def services():
    """Return this app's wired services (engine, integrations, photo store), built once."""
    state = current_app.extensions.get("tepat")
    if state is None:
        state = current_app.extensions["tepat"] = build_services(current_app.config)
    return state


def build_services(config):
    """Wire integrations, photo store and engine from settings."""
    from engine.core import Engine
    from engine.db import db
    from forms import FORMS
    from integrations.factory import build_integrations
    from integrations.photos import FilePhotoStore
    from tasks.base import load_handlers

    load_handlers()
    settings = dict(config)
    integrations = build_integrations(settings, lambda: db.session)
    photos = FilePhotoStore(settings["BANSOS_PHOTO_DIR"])
    engine = Engine(db.session, settings, integrations, FORMS, photos=photos)
    return Services(engine=engine, integrations=integrations, photos=photos)


class Services:
    """What request handlers, commands and jobs use."""

    def __init__(self, engine, integrations, photos):
        self.engine = engine
        self.integrations = integrations
        self.photos = photos
