"""Liveness and readiness for load balancers and process managers: /healthz and /readyz (public).

/healthz answers while the process serves requests. /readyz also checks what a request needs: the
database, and with workers (BANSOS_EXECUTION = "celery") the message broker; 503 when one is not
there, so that a load balancer sends no traffic to this process. Neither says more than ok/failing.
"""

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from engine.db import db

from . import talisman

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
@talisman(force_https=False)  # probes speak plain HTTP to the process behind the TLS proxy
def live():
    return jsonify(status="ok")


@bp.get("/readyz")
@talisman(force_https=False)
def ready():
    checks = {"database": _database()}
    if current_app.config["BANSOS_EXECUTION"] == "celery":
        checks["broker"] = _broker()
    ok = all(checks.values())
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {name: "ok" if passed else "failing" for name, passed in checks.items()},
    }
    return jsonify(body), 200 if ok else 503


def _database():
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        log.warning("readiness: the database does not answer", exc_info=True)
        return False
    finally:
        db.session.rollback()


def _broker():
    from kombu import Connection

    try:
        with Connection(current_app.config["BANSOS_BROKER_URL"], connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        log.warning("readiness: the message broker does not answer", exc_info=True)
        return False
