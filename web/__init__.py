"""Flask app factory: settings, database, engine, integrations, command line."""

from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, g, render_template, request, session
from flask_babel import Babel, format_datetime, get_locale
from flask_migrate import Migrate
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine as SqlEngine

from settings import load_settings

migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()
talisman = Talisman()
LANGUAGES = ("id", "en")  # Indonesian first
CSP = {
    "default-src": "'self'",
    "img-src": "'self' data:",
    "style-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
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
    from engine.db import db

    from .bootstrap import wire

    settings = load_settings(overrides)
    from cases import accounts

    if settings["BANSOS_FORCE_HTTPS"] and accounts.is_cheap(settings["BANSOS_PASSWORD_HASH_METHOD"]):
        raise ValueError(
            "BANSOS_PASSWORD_HASH_METHOD is a cheap test method; production (BANSOS_FORCE_HTTPS) "
            "needs scrypt or pbkdf2 with at least 100,000 iterations"
        )
    accounts.check_hash_method(settings["BANSOS_PASSWORD_HASH_METHOD"])
    from .links import check_public_url

    check_public_url(settings["BANSOS_PUBLIC_URL"])
    from engine import native_threads

    native_threads.limit(settings["BANSOS_NATIVE_THREADS"])  # one process per core: no spinning helpers
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(settings)
    app.config["SQLALCHEMY_DATABASE_URI"] = settings["BANSOS_DATABASE_URL"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    if settings["BANSOS_DATABASE_URL"].startswith("sqlite:///"):
        Path(settings["BANSOS_DATABASE_URL"][len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    wire()  # handlers, listeners and run kinds (web/bootstrap.py)
    from cases import notifications  # officers told of new, due and reassigned tasks

    notifications.connect()

    _init_web(app, settings)
    from . import health  # /healthz, /readyz (docs/deploy.md)

    app.register_blueprint(health.bp)
    from .cli import register_cli

    register_cli(app)
    if scheduler and settings["BANSOS_SCHEDULER_ENABLED"] and settings["BANSOS_EXECUTION"] != "celery":
        from .scheduler import start_scheduler

        start_scheduler(app)
    return app


def select_locale():
    """Indonesian unless the officer chose English (offices' browsers are often set to English)."""
    chosen = session.get("lang") if request else None
    return chosen if chosen in LANGUAGES else "id"


def _init_web(app, settings):
    """Sign-in, CSRF, security headers, translations, blueprints and error pages."""
    from cases.audit import reset_origin, set_origin

    from . import auditpages, auth, casepages, desk, editor, guards, inbox, labels, routes, search, versions

    guards.install(app)  # bounded ids, NUL characters refused, 503 when the database is unreachable
    app.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings["BANSOS_SESSION_MINUTES"]),
        SESSION_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=settings["BANSOS_MAX_REQUEST_BYTES"],
        MAX_FORM_PARTS=100,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["BANSOS_FORCE_HTTPS"],
        BABEL_DEFAULT_LOCALE="id",
        BABEL_DEFAULT_TIMEZONE="Asia/Jakarta",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).resolve().parent / "translations"),
        WTF_CSRF_TIME_LIMIT=None,  # the session's own lifetime bounds the token
    )
    auth.login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    talisman.init_app(
        app,
        force_https=settings["BANSOS_FORCE_HTTPS"],
        strict_transport_security=settings["BANSOS_FORCE_HTTPS"],
        session_cookie_secure=settings["BANSOS_FORCE_HTTPS"],
        frame_options="DENY",
        content_security_policy=CSP,
        referrer_policy="same-origin",
    )
    for blueprint in (
        routes.bp,
        auth.bp,
        inbox.bp,
        casepages.bp,
        auditpages.bp,
        desk.bp,
        editor.bp,
        versions.bp,
        search.bp,
    ):
        app.register_blueprint(blueprint)
    labels.register(app)
    from . import menu  # the officers' main menu, per role (web/menu.py)

    menu.register(app)
    app.jinja_env.globals.update(landing_page=auth.landing_page)
    from . import admin  # officer administration, profiles

    for blueprint in (admin.bp, admin.profile_bp):
        app.register_blueprint(blueprint)
    csrf.exempt(admin.imports.start_import)  # reads its upload with limits first, then checks the CSRF token
    from . import graduation, objections, public, reports  # public figures, objections, reports, graduation

    for blueprint in (public.bp, objections.bp, reports.bp, graduation.bp):
        app.register_blueprint(blueprint)
    from . import api, tokens  # the JSON API (/api/v1) and the officers' API tokens

    app.register_blueprint(tokens.bp)
    api.init_api(app)
    from . import (
        papers,  # decision letters and receipts as PDF (its portal routes join the portal's blueprints)
        portal,  # the applicant portal, facilitators' assisted registration, sandbox digital ID
    )

    papers.register(app)

    portal.register(app)
    from . import taskcontext  # the appeal and earlier decisions beside a task form

    taskcontext.register(app)
    from . import cycles  # payment cycles: figures, maker-checker tasks, bank files, results

    app.register_blueprint(cycles.bp)
    cycles.register(app)
    from . import payment_callbacks  # the banks' signed result callbacks (no session, no CSRF token)

    csrf.exempt(payment_callbacks.bp)
    app.register_blueprint(payment_callbacks.bp)
    from . import commitments  # PKH commitments: quarterly school/health lists, field recordings

    app.register_blueprint(commitments.bp)
    from . import notifications, taskbatch  # officers' daily work: many tasks at once, notifications

    app.register_blueprint(taskbatch.bp)
    notifications.register(app)

    @app.before_request
    def _remember_origin():
        # Engine-signal audit entries (claims, completions) carry the client address.
        # A stack: a request made inside another (the sandbox sign-in's token call) shares the app context's g.
        g.setdefault("audit_origins", []).append(
            set_origin(request.remote_addr, (request.user_agent.string or "")[:300])
        )

    @app.teardown_request
    def _forget_origin(exc=None):
        tokens = g.get("audit_origins")
        if tokens:
            reset_origin(tokens.pop())

    app.jinja_env.globals.update(current_locale=lambda: str(get_locale() or "id"), format_datetime=format_datetime)

    @app.errorhandler(CSRFError)
    def csrf_refused(exc):
        from .refusals import log_refusal

        log_refusal("csrf.refused", reason=str(exc.description)[:100])
        return render_template("error.html", code=400, reason="csrf"), 400

    for code in (403, 404, 413, 429):
        app.register_error_handler(code, lambda exc, code=code: (render_template("error.html", code=code), code))


def services():
    """Return this app's wired services (engine, integrations, photo store), built once."""
    state = current_app.extensions.get("tepat")
    if state is None:
        state = current_app.extensions["tepat"] = build_services(current_app.config)
    return state


def process_contracts():
    """Every process contract the domain declares (what the code relies on in the diagrams; engine/contracts.py)."""
    from cases.contracts import case_contracts
    from payments.contracts import payment_contracts

    return (*case_contracts(), *payment_contracts())


def build_services(config):
    """Wire integrations, photo store and engine from settings."""
    from engine.core import Engine
    from engine.db import db
    from forms import FORMS
    from integrations.factory import build_integrations
    from integrations.photos import FilePhotoStore

    settings = dict(config)
    integrations = build_integrations(settings, lambda: db.session)
    from payments.dispatch import callback_secrets, http_channels

    http_channels(settings)  # a wrong BANSOS_PAYMENT_CHANNELS is refused here, not at a cycle's dispatch
    callback_secrets(settings)  # so are shared, short or misnamed callback secrets
    photos = FilePhotoStore(settings["BANSOS_PHOTO_DIR"])
    engine = Engine(db.session, settings, integrations, FORMS, photos=photos, contracts=process_contracts())
    if settings.get("BANSOS_EXECUTION") == "celery":  # engine steps on workers (web/worker.py)
        from .worker import hint_sender

        engine.hint_sender = hint_sender(settings)
        from .runs_exec import chunk_hint_sender

        engine.chunk_hint_sender = chunk_hint_sender(settings)
    return Services(engine=engine, integrations=integrations, photos=photos)


class Services:
    """What request handlers, commands and jobs use."""

    def __init__(self, engine, integrations, photos):
        self.engine = engine
        self.integrations = integrations
        self.photos = photos
