"""The banks' result callbacks: POST /api/payments/callback, signed with the paying channel's own secret.

No officer signs in here: the bank proves itself with an HMAC-SHA256 signature of the timestamp and
the body (`X-Tepat-Timestamp`, `X-Tepat-Signature`, docs/payments.md). An unsigned or badly signed
callback gets 401, a stale or replayed one, or one signed with another channel's secret, 403; every
refusal is audited. Lines of a good callback
are matched, refused line by line and reconciled exactly as a results file's lines.
"""

from flask import Blueprint, jsonify, request

from cases.audit import record
from engine.db import db, unit_of_work
from integrations.http.paying_bank import SIGNATURE_HEADER, TIMESTAMP_HEADER
from payments.dispatch import MAX_CALLBACK_BYTES, CallbackRefused, take_callback

from . import services

bp = Blueprint("payment_callbacks", __name__)


def _refused(exc):
    with unit_of_work(db.session):  # the refusal alone (the callback's unit, if any, was rolled back)
        record(
            db.session,
            "bank",
            "cycle.callback_refused",
            "payment_callback",
            None,
            ip=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:300],
            detail={"reason": exc.reason, "path": request.path, "bytes": request.content_length, **exc.detail},
        )
    return jsonify({"error": exc.reason, "message": exc.message}), exc.status


@bp.post("/api/payments/callback")
def callback():
    """Take one bank callback.

    The body: {"callback_id", "batch", "results": [{reference, amount, status, failure_code, date}]}.
    """
    if (request.content_length or 0) > MAX_CALLBACK_BYTES:
        return _refused(CallbackRefused("the callback is too large", "TOO_LARGE", 413))
    body = request.get_data(cache=False)
    s = services()
    try:
        with unit_of_work(db.session):
            row = take_callback(
                s.engine,
                s.engine.settings,
                body,
                request.headers.get(TIMESTAMP_HEADER, ""),
                request.headers.get(SIGNATURE_HEADER, ""),
            )
    except CallbackRefused as exc:
        return _refused(exc)  # a second unit: the refusal is kept, nothing of the callback
    return jsonify(
        {"accepted": row.accepted, "repeated": row.repeated, "refused": row.refused, "refusals": row.refusals}
    ), 200
