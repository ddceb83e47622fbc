"""Every Tepat setting, with a default that runs on a laptop.

Settings are read from the environment (same name) and override these defaults.
All names start with ``BANSOS_`` except the few that Flask and its extensions
define themselves (``SECRET_KEY``, ``SQLALCHEMY_DATABASE_URI``).
"""

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("BANSOS_VAR_DIR", ROOT / "var"))


class DefaultSettings:
    # Where the embedded default keeps its database, photos and generated extracts.
    BANSOS_VAR_DIR = str(VAR_DIR)
    # SQLAlchemy URL; SQLite file by default, e.g. postgresql+psycopg://127.0.0.1/tepat
    BANSOS_DATABASE_URL = f"sqlite:///{VAR_DIR / 'tepat.sqlite'}"
    SECRET_KEY = "dev-only-change-me"
    # Officers' sessions expire after this many minutes without a request.
    BANSOS_SESSION_MINUTES = 30
    # How officers' passwords are hashed (a werkzeug method). Tests set a cheap "pbkdf2:sha256:1000";
    # the app refuses such a cheap method when BANSOS_FORCE_HTTPS is on (production).
    BANSOS_PASSWORD_HASH_METHOD = "scrypt"
    # Largest request body any route reads (upload views set their own, larger, streamed limit).
    BANSOS_MAX_REQUEST_BYTES = 16 * 1024 * 1024
    # Behind TLS in production: secure cookies, HSTS, redirects to https.
    BANSOS_FORCE_HTTPS = False

    # Folder of BPMN/DMN files deployed by `tepat deploy` and at start-up.
    BANSOS_PROCESS_DIR = str(ROOT / "processes")
    # BPMN lane name -> officer role.
    BANSOS_LANE_ROLES = {
        "Caseworker": "caseworker",
        "Supervisor": "supervisor",
        "AppealsOfficer": "appeals_officer",
        "Facilitator": "facilitator",
        "FinanceOfficer": "finance_officer",
        "System": "system",
    }

    # "sandbox" (answers from the imported extracts) or "http" per outside system; "http" needs the
    # matching BANSOS_<SYSTEM>_URL, the service's base URL (API: docs/integrations-http.md).
    BANSOS_IDENTITY_BACKEND = "sandbox"
    BANSOS_DTSEN_BACKEND = "sandbox"
    BANSOS_BPJS_HEALTH_BACKEND = "sandbox"
    BANSOS_BPJS_EMPLOYMENT_BACKEND = "sandbox"
    BANSOS_ASSETS_BACKEND = "sandbox"
    BANSOS_CIVIL_SERVICE_BACKEND = "sandbox"
    BANSOS_PAYMENTS_BACKEND = "sandbox"
    BANSOS_NOTIFY_BACKEND = "sandbox"
    BANSOS_IDENTITY_URL = ""  # e.g. https://dukcapil.example.go.id/api/v1
    BANSOS_DTSEN_URL = ""
    BANSOS_BPJS_HEALTH_URL = ""
    BANSOS_BPJS_EMPLOYMENT_URL = ""
    BANSOS_ASSETS_URL = ""
    BANSOS_CIVIL_SERVICE_URL = ""
    BANSOS_PAYMENTS_URL = ""
    BANSOS_NOTIFY_URL = ""
    # Every "http" backend: read and connect timeouts per attempt (seconds); retries after the first
    # attempt within one call, first backoff (doubles, plus jitter); the circuit opens after this
    # many consecutive failed attempts and lets one trial call through after the reset. Longer
    # outages are the engine's business (BANSOS_SERVICE_RETRIES), so these stay short.
    BANSOS_HTTP_TIMEOUT_SECONDS = 5.0
    BANSOS_HTTP_CONNECT_TIMEOUT_SECONDS = 2.0
    BANSOS_HTTP_RETRIES = 2
    BANSOS_HTTP_BACKOFF_SECONDS = 0.5
    BANSOS_HTTP_BREAKER_FAILURES = 5
    BANSOS_HTTP_BREAKER_RESET_SECONDS = 30.0
    # A Retry-After up to this many seconds is waited out within a call; longer ones end the call and
    # the engine retries the task no sooner than asked.
    BANSOS_HTTP_MAX_RETRY_AFTER_SECONDS = 10.0
    # Paying channels that take batches by API: {"BRI": "https://h2h.bri.example/api/v1", "POS": "file"}.
    # A channel not named (or "file") is dispatched by bank file; named with a URL, the cycle's dispatch
    # step sends its batch over HTTP (docs/payments.md, "Dispatch over HTTP").
    BANSOS_PAYMENT_CHANNELS: dict[str, str] = {}
    # Where the banks post their results (sent with each batch), e.g. https://tepat.example/api/payments/callback
    BANSOS_PAYMENT_CALLBACK_URL = ""
    # Each paying channel's secret of its callbacks' HMAC-SHA256 signature (at least 16 characters, no two
    # channels alike); during a rotation also the previous one: {"BRI": "<secret>", "BNI": {"current":
    # "<new>", "previous": "<old>"}}. A channel without one cannot post callbacks; none: all are refused.
    BANSOS_PAYMENT_CALLBACK_SECRETS: dict[str, str | dict[str, str]] = {}
    # Replaced by BANSOS_PAYMENT_CALLBACK_SECRETS: when set, the services refuse to start (and say so).
    BANSOS_PAYMENT_CALLBACK_SECRET = ""
    # A callback whose timestamp is further than this from now (seconds) is refused as a possible replay.
    BANSOS_PAYMENT_CALLBACK_WINDOW_SECONDS = 300
    BANSOS_FACE_BACKEND = "face_recognition"
    # Sandbox fault injection per source: {"dtsen": {"timeout_rate": 0.01, "malformed_rate": 0.0}}
    BANSOS_SANDBOX_FAULTS: dict[str, dict[str, float]] = {}
    # Folder holding the registry reference photos named in the civil-registry extract.
    BANSOS_SANDBOX_PHOTO_DIR = str(ROOT.parent / "shared" / "faces")
    # Where applicants' selfies are kept (outside the database and the web root).
    BANSOS_PHOTO_DIR = str(VAR_DIR / "photos")
    # Days a selfie is kept; decisions keep the face template and the evidence, not the photo.
    BANSOS_PHOTO_RETENTION_DAYS = 90
    # Face distance at or below which two photos are the same person.
    BANSOS_FACE_MATCH_THRESHOLD = 0.6
    # Photos larger than this many bytes are refused before they are read (IMAGE_TOO_LARGE).
    BANSOS_FACE_MAX_IMAGE_BYTES = 10 * 1024 * 1024
    # Pictures with more pixels than this are refused from their header (IMAGE_DIMENSIONS_TOO_LARGE).
    BANSOS_FACE_MAX_IMAGE_PIXELS = 64_000_000
    # 1:N deduplication: a face this close to another NIK's face is a suspected duplicate. Stricter
    # than the 1:1 threshold because one probe is compared with every applicant, not with one photo.
    BANSOS_FACE_DEDUP_THRESHOLD = 0.5
    # Optional file the face-template index starts from instead of reading every row (holds
    # biometric templates: keep it on the server's own disk, readable by the service account only).
    BANSOS_FACE_INDEX_SNAPSHOT = None
    # From this many templates on, the index searches an approximate-nearest-neighbour index (faiss
    # IVF, 8-bit) whose candidates are re-checked exactly; below it every distance is measured.
    BANSOS_FACE_INDEX_ANN_MIN_SIZE = 200_000

    # Service-task retries for transient failures: attempts, first delay in seconds (doubles).
    BANSOS_SERVICE_RETRIES = 4
    BANSOS_SERVICE_BACKOFF_SECONDS = 30
    # Scripts and expressions inside diagrams: wall-clock limit in seconds.
    BANSOS_SCRIPT_TIME_LIMIT = 1.0

    # Eligibility and benefit parameters handed to the rules (see docs/domain facts).
    BANSOS_REGIONAL_MINIMUM_WAGE = 2_810_000  # UMK Banyuwangi, rupiah per month
    BANSOS_APPEAL_WINDOW = "P30D"
    # Programme amounts in rupiah (domain facts; configuration, not code).
    BANSOS_BENEFITS = {
        "PKH": {
            "pregnant": 3_000_000,
            "child_0_6": 3_000_000,
            "SD": 900_000,
            "SMP": 1_500_000,
            "SMA": 2_000_000,
            "disability": 2_400_000,
            "elderly_70": 2_400_000,
            "caps": {"pregnant": 2, "child_0_6": 2, "elderly_70": 1, "disability": 1},
            "stages_per_year": 4,
        },
        "BPNT": {"monthly": 200_000, "per_stage": 600_000},
        "PBI": {"premium_per_person_monthly": 42_000},
    }
    BANSOS_REVIEW_SLA_WORKING_DAYS = 3
    # Graduation by criteria (graduasi): an enrolled family whose last `consecutive_checks` re-checks all found
    # a DTSEN decile of at least `min_decile` and a household wage (BPJS Ketenagakerjaan) of at least
    # `min_monthly_income` rupiah is proposed for graduation; a caseworker confirms (processes/graduation.bpmn).
    # Below the exclusion thresholds on purpose: a family over those is removed by the re-check instead.
    BANSOS_GRADUATION = {"min_decile": 4, "min_monthly_income": 2_000_000, "consecutive_checks": 2}
    # Public holidays (ISO dates) skipped when counting working days.
    BANSOS_HOLIDAYS: list[str] = []

    # Public figures: village counts under this are published as "<5"; recomputed at most this often.
    BANSOS_PUBLIC_MIN_CELL = 5
    BANSOS_PUBLIC_FIGURES_CACHE_SECONDS = 60
    # Community objections (sanggah) one resident may file in 24 hours.
    BANSOS_OBJECTIONS_PER_DAY = 3

    # Where engine steps run (docs/deploy.md): "inline" runs them in the request or command, as the
    # embedded default does; "celery" leaves them to `tepat worker` processes fed from the broker.
    BANSOS_EXECUTION = "inline"
    # The message broker of the workers (RabbitMQ), and the queue their hints go to.
    BANSOS_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    BANSOS_QUEUE = "tepat"
    # `tepat scheduler` (one leader per deployment, the others wait): how often it looks for due work,
    # and after how many seconds a hint sent for work still not done is sent again (a lost message).
    BANSOS_DISPATCH_INTERVAL_SECONDS = 5.0
    BANSOS_DISPATCH_RESEND_SECONDS = 60.0
    # Threads the native math libraries (numpy's OpenBLAS, faiss's OpenMP) of EACH process may use. A
    # deployment runs one process per core, so 1; 0 leaves the libraries their default (all cores), whose
    # idle threads spin and take cores from the other processes (engine/native_threads.py).
    BANSOS_NATIVE_THREADS = 1

    # In-process scheduler for timers and retries (off in tests; they call the job directly).
    # Off in the web processes of a deployment: `tepat scheduler` runs the one scheduler instead.
    BANSOS_SCHEDULER_ENABLED = True
    BANSOS_SCHEDULER_INTERVAL_SECONDS = 30

    # The audit trail is this many hash chains (shards, by target): appends to different shards never
    # wait on each other. The scheduler anchors every shard's head in the anchor chain this often
    # (`tepat audit anchor` does it at once). Raising the number later is safe; lowering it too (the
    # higher shards stay and are verified, they just get no new entries).
    BANSOS_AUDIT_SHARDS = 64
    # Officers' notifications (new task in their queue, a deadline near, a task reassigned to them) are
    # shown in the app and mailed: "sandbox" keeps the mail in sandbox_mail_outbox, "smtp" sends it
    # through this server. Deadline reminders go this many hours before a task's deadline, once each.
    BANSOS_MAIL_BACKEND = "sandbox"
    BANSOS_SMTP_HOST = "localhost"
    BANSOS_SMTP_PORT = 587
    BANSOS_SMTP_USER = ""
    BANSOS_SMTP_PASSWORD = ""
    BANSOS_SMTP_STARTTLS = True
    BANSOS_MAIL_FROM = "tepat@localhost"
    # The address officers open Tepat at (e.g. https://tepat.dinsos.example, a path prefix allowed): the
    # base of the links in officers' e-mails. Empty: a link made during a request uses its host, one
    # made by the scheduler is the page's path only.
    BANSOS_PUBLIC_URL = ""
    BANSOS_DEADLINE_REMINDER_HOURS = [24, 2]
    BANSOS_AUDIT_ANCHOR_SECONDS = 300
    # Rows per queue and district behind the inbox's open-task counts (summed on read): concurrent
    # task changes in one busy queue mostly update different rows.
    BANSOS_COUNTER_SLOTS = 8
    # One scheduler run wakes due instances in batches of this size until none is due, but stops
    # after this many instances or seconds so that the run ends (the next run goes on).
    BANSOS_SCHEDULER_BATCH_SIZE = 100
    BANSOS_SCHEDULER_MAX_PER_RUN = 5000
    BANSOS_SCHEDULER_MAX_SECONDS = 20.0
    # An instance whose wake fails (an exception, not a BPMN error) is tried again after this many
    # seconds, doubling each time up to the cap; after this many failures in a row it becomes an
    # incident and is not woken again until an administrator retries it.
    BANSOS_WAKE_BACKOFF_SECONDS = 60
    BANSOS_WAKE_BACKOFF_MAX_SECONDS = 6 * 3600
    BANSOS_WAKE_MAX_FAILURES = 5

    # Tracked runs (engine/runs.py: imports, programme-wide re-checks, later payment cycles): items
    # per chunk (the unit a worker takes); a failing item is tried again after this many seconds,
    # doubling, and reported as failed after this many attempts; `tepat submit` waits this long.
    BANSOS_RUN_CHUNK_SIZE = 50
    BANSOS_RUN_ITEM_BACKOFF_SECONDS = 30
    BANSOS_RUN_ITEM_MAX_ATTEMPTS = 3
    # Quarterly re-verification of every enrolled family (cases/programme.py): the scheduler starts the
    # quarter's run from this day of the quarter's first month, once, when enabled.
    BANSOS_REVERIFY_SCHEDULE_ENABLED = False
    BANSOS_REVERIFY_DAY = 1
    BANSOS_SUBMIT_WAIT_SECONDS = 60

    # `tepat sandbox import` refuses an import that would delete more than this share (0-1) of the
    # rows stored in any registry table (a sheet saved with its header only would empty the civil
    # registry); `--allow-mass-delete` overrides it.
    BANSOS_IMPORT_MAX_DELETE_SHARE = 0.10
    # Registry extracts uploaded in the browser: where they are kept for the worker that applies them
    # (with several machines, storage every worker reads), and the largest workbook taken.
    BANSOS_IMPORT_DIR = str(VAR_DIR / "imports")
    BANSOS_IMPORT_MAX_FILE_BYTES = 512 * 1024 * 1024
    # Days the uploaded extracts (the whole population's NIKs) and their error workbook are kept after
    # their import ended; then the daily housekeeping deletes them (the run's counts stay). Payment results
    # files are financial records and are kept.
    BANSOS_IMPORT_RETENTION_DAYS = 30

    # Demo data loaded by `make run` on an empty database.
    BANSOS_DEMO_PEOPLE = 2000
    BANSOS_DEMO_SEED = 7

    # Applicant portal (docs/portal.md). Sign-in with the digital ID: "sandbox" (the built-in provider:
    # NIK + date of birth from the civil registry, then a one-time code by SMS) or "oidc" (a real
    # OpenID Connect provider found at BANSOS_IDP_ISSUER/.well-known/openid-configuration).
    BANSOS_IDP_BACKEND = "sandbox"
    BANSOS_IDP_ISSUER = ""  # "oidc" only, e.g. https://id.dukcapil.example.go.id
    BANSOS_IDP_CLIENT_ID = "tepat-portal"
    BANSOS_IDP_CLIENT_SECRET = "sandbox-client-secret"  # set the provider's secret with "oidc"
    BANSOS_IDP_NIK_CLAIM = "nik"  # the ID-token claim holding the NIK
    BANSOS_IDP_SCOPE = "openid"
    # The sandbox provider's issuer name (in its tokens) and signing key (generated on first use).
    BANSOS_IDP_SANDBOX_ISSUER = "http://sandbox-idp.invalid/idp"
    BANSOS_IDP_SANDBOX_KEY_FILE = str(VAR_DIR / "idp" / "sandbox-signing-key.json")
    # Show the sandbox provider's one-time code on screen (the embedded demo has no phones).
    BANSOS_DEMO_SHOW_OTP = True
    # Applicants are signed out after this many idle minutes, and after this many minutes in any case.
    BANSOS_APPLICANT_SESSION_MINUTES = 20
    BANSOS_APPLICANT_SESSION_MAX_MINUTES = 240
    # Version of the consent text applicants agree to (recorded on each application).
    BANSOS_CONSENT_VERSION = "2026-01"
    # Registrations sent through the API (a field app queueing them offline): the consent time they carry
    # may be at most this many days old.
    BANSOS_API_OFFLINE_MAX_DAYS = 30
    # Appeal evidence files (PDF, JPEG, PNG): where they are kept (outside the web root), the size
    # of one file, how many per appeal.
    BANSOS_EVIDENCE_DIR = str(VAR_DIR / "evidence")
    BANSOS_EVIDENCE_MAX_BYTES = 5 * 1024 * 1024
    BANSOS_EVIDENCE_MAX_FILES = 5


def _coerce(default, raw):
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, (dict, list)):
        return json.loads(raw)
    return raw


class UnknownSettings(ValueError):
    """A BANSOS_* name that no setting has (a typo would otherwise be ignored silently)."""

    def __init__(self, names, known):
        import difflib

        hints = []
        for name in names:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
        super().__init__("Unknown setting(s): " + ", ".join(hints) + ". Every setting is listed in settings.py.")
        self.names = names


def load_settings(overrides=None, environ=None):
    """Return the settings dict: defaults, then environment, then overrides.

    A ``BANSOS_*`` name in the environment or the overrides that is not a setting is refused
    (UnknownSettings), so that a misspelt variable never leaves a default silently in force.
    """
    environ = os.environ if environ is None else environ
    values = {k: getattr(DefaultSettings, k) for k in dir(DefaultSettings) if k.isupper()}
    unknown = sorted({k for k in [*environ, *(overrides or {})] if k.startswith("BANSOS_") and k not in values})
    if unknown:
        raise UnknownSettings(unknown, list(values))
    for key, default in list(values.items()):
        if key in environ:
            values[key] = _coerce(default, environ[key])
    values.update(overrides or {})
    return values
