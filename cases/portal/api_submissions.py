"""Applications sent through the JSON API (a facilitators' field app, village systems) with an idempotency key.

The key is claimed in the same transaction that creates the case: a retried upload (the field app lost
the answer, or sends again after coming back online) finds the case made the first time; two uploads
with the same key at the same moment make one case (the unique key waits for the first to commit).
"""

import hashlib
import json
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine.db import open_transaction

from ..operations import CaseError
from .models import ApiSubmission

KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{8,64}")


class IdempotencyKeyInvalid(CaseError):
    code = "IDEMPOTENCY_KEY_INVALID"


class IdempotencyKeyReused(CaseError):
    code = "IDEMPOTENCY_KEY_REUSED"


def check_key(key):
    """Return the key if it is 8-64 characters of letters, digits and `_ . : -`; else refuse it."""
    if not key or not KEY_PATTERN.fullmatch(key):
        raise IdempotencyKeyInvalid("the Idempotency-Key header must be 8-64 letters, digits, _ . : or -")
    return key


def request_hash(application, selfie):
    """SHA-256 over the application's fields (key order ignored) and the selfie's bytes."""
    digest = hashlib.sha256(json.dumps(application, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\x00")
    digest.update(hashlib.sha256(selfie or b"").digest())
    return digest.hexdigest()


def earlier_submission(session, officer, key, digest):
    """Return the row of an earlier submission with this key (refused if it carried another request)."""
    row = session.execute(
        select(ApiSubmission).where(ApiSubmission.officer == officer, ApiSubmission.idempotency_key == key)
    ).scalar_one_or_none()
    if row is not None and row.request_hash != digest:
        raise IdempotencyKeyReused("this Idempotency-Key was used for another application", case_number=row.case_number)
    return row


def claim_key(session, officer, key, digest):
    """Claim the key in this transaction; return None, or the earlier row when another request holds it."""
    row = ApiSubmission(officer=officer, idempotency_key=key, request_hash=digest)
    open_transaction(session, ApiSubmission)  # else on SQLite the savepoint's release commits at once
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same key at the same moment: the other request committed first
        return earlier_submission(session, officer, key, digest)
    return row
