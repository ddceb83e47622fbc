"""Liveness and readiness for load balancers and process managers: /healthz and /readyz (public).

/healthz answers while the process serves requests. /readyz also checks what a request needs: the
database, and with workers (BANSOS_EXECUTION = "celery") the message broker; 503 when one is not
there, so that a load balancer sends no traffic to this process. Neither says more than ok/failing, except
/readyz's `details.payment_schedule`: which programmes the payment schedule stops paying within its warning
window (payments/schedule.py), a note for the operators that never makes the process unready.
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
        # Not a check (it never makes the process unready): the payment schedule must be extended soon.
        "details": {"payment_schedule": _schedule_runway()},
    }
    return jsonify(body), 200 if ok else 503


def _schedule_runway():
    """ "ok", or which programmes the payment schedule stops paying within its warning window (no months named)."""
    from datetime import datetime

    from payments.cycles import JAKARTA
    from payments.schedule import runway_warnings

    try:
        gaps = runway_warnings(current_app.config["BANSOS_PROCESS_DIR"], datetime.now(JAKARTA).date())
    except Exception:  # a detail, never a reason to be unready
        log.warning("readiness: the payment schedule could not be checked", exc_info=True)
        return "unknown"
    return "runs out soon: " + ", ".join(code for code, _months in gaps) if gaps else "ok"


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
