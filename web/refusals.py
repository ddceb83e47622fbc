"""Refused requests go into the audit log too: who tried what, from where, and why it was refused."""

from flask import request
from flask_login import current_user

from cases.audit import record
from engine.db import db, unit_of_work


def log_refusal(action, target_type=None, target_id=None, **detail):
    """Append a refusal to the audit log in a transaction of its own (the request did nothing else)."""
    db.session.rollback()
    actor = current_user.actor if getattr(current_user, "is_authenticated", False) else "anonymous"
    with unit_of_work(db.session):
        record(
            db.session,
            actor,
            action,
            target_type=target_type,
            target_id=target_id,
            ip=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:300],
            detail={"path": request.path[:200], "method": request.method, **detail},
        )
