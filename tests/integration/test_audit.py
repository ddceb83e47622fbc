"""Audit trail: the hash chain verifies, tampering is found at the row, appends never fork, export is whole.

Also a worker for the concurrency test: `python -m tests.integration.test_audit append COUNT NAME START_AT`.
"""
import csv
import io
import json
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cases import audit
from cases.audit import AuditChainBroken, AuditEntry, entry_hash, export_csv, read_csv_row, record, verify_chain
from engine import signals
from engine.core import Actor
from engine.db import db
from tests.conftest import ROOT

NIK = "3510011204870003"


def _append(n, actor="cw1", commit_every=1):
    for i in range(n):
        record(db.session, actor, "case.view", "case", f"TPT-2026-{i:07d}", ip="10.0.0.1", user_agent="pytest",
               detail={"i": i, "section": "evidence"}, roles=("caseworker",))
        if (i + 1) % commit_every == 0:
            db.session.commit()
    db.session.commit()


def _raw(sql, **params):
    db.session.execute(text(sql), params)
    db.session.commit()


def _found(result):
    """(ok, checked, first_bad_id) of a VerifyResult."""
    return result.ok, result.checked, result.first_bad_id


def _ids():
    return list(db.session.scalars(select(AuditEntry.id).order_by(AuditEntry.id)))


def test_empty_log_verifies(ctx):
    assert verify_chain(db.session) == audit.VerifyResult(True, 0)


def test_chain_of_entries_verifies_in_any_batch_size(ctx):
    _append(7, commit_every=3)
    record(db.session, Actor("sup1", frozenset({"supervisor"})), "task.complete", "task", 12,
           detail={"fields": ["approval_decision"]})
    record(db.session, "anonymous", "login.failed")  # no target, no origin, no detail
    db.session.commit()

    for batch in (10_000, 1, 4):
        assert verify_chain(db.session, batch=batch) == audit.VerifyResult(True, 9)
    rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [r.id for r in rows] == list(range(1, 10))
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
    assert rows[7].actor == "sup1" and rows[7].actor_roles == ["supervisor"] and rows[7].target_id == "12"
    assert rows[8].target_type is None and rows[8].detail is None
    assert audit.chain_head(db.session) == (9, rows[8].hash)


def test_hash_is_sha256_of_canonical_json_then_prev_hash(ctx):
    import hashlib

    entry = record(db.session, "cw1", "case.view", "case", "TPT-1", detail={"b": 1, "a": [1, 2]}, roles=("x", "a"))
    db.session.commit()
    doc = {"id": 1, "at": entry.at.isoformat(timespec="microseconds"), "actor": "cw1", "actor_roles": ["a", "x"],
           "action": "case.view", "target_type": "case", "target_id": "TPT-1", "ip": None, "user_agent": None,
           "detail": {"a": [1, 2], "b": 1}}
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "0" * 64
    assert entry.at.utcoffset().total_seconds() == 0 and entry.at.isoformat().endswith("+00:00")
    assert entry.hash == hashlib.sha256(payload.encode()).hexdigest()


TAMPERED = {
    "at": "2020-01-01 00:00:00.000000",
    "actor": "mallory",
    "actor_roles": '["administrator"]',
    "action": "case.edit",
    "target_type": "officer",
    "target_id": "TPT-2026-9999999",
    "ip": "192.0.2.66",
    "user_agent": "curl/8",
    "detail": '{"i": 2, "section": "photo"}',
    "prev_hash": "f" * 64,
    "hash": "e" * 64,
}


@pytest.mark.parametrize("column", sorted(TAMPERED))
def test_changing_any_field_of_a_row_is_found_at_that_row(ctx, column):
    _append(6)
    assert verify_chain(db.session).ok
    _raw(f"UPDATE audit_log SET {column} = :value WHERE id = 3", value=TAMPERED[column])

    result = verify_chain(db.session)
    assert (result.ok, result.first_bad_id, result.checked) == (False, 3, 2), result


def test_changing_a_time_by_one_microsecond_is_found(ctx):
    _append(3)
    at = db.session.scalar(select(AuditEntry.at).where(AuditEntry.id == 2))
    db.session.rollback()
    shifted = at.replace(microsecond=(at.microsecond + 1) % 1_000_000, tzinfo=None)
    _raw("UPDATE audit_log SET at = :value WHERE id = 2", value=shifted.isoformat(sep=" ", timespec="microseconds"))
    assert _found(verify_chain(db.session)) == (False, 1, 2)


def test_renumbering_a_row_is_found(ctx):
    _append(5)
    _raw("UPDATE audit_log SET id = 1000 WHERE id = 3")
    result = verify_chain(db.session)
    assert (result.ok, result.first_bad_id) == (False, 4) and "missing" in result.reason


def test_deleting_a_middle_row_is_found(ctx):
    _append(5)
    _raw("DELETE FROM audit_log WHERE id = 3")
    result = verify_chain(db.session)
    assert (result.ok, result.first_bad_id, result.checked) == (False, 4, 2)
    assert "3..3 are missing" in result.reason


def test_deleting_the_last_rows_is_found_through_the_head(ctx):
    _append(5)
    _raw("DELETE FROM audit_log WHERE id >= 4")
    result = verify_chain(db.session)
    assert (result.ok, result.first_bad_id, result.checked) == (False, 4, 3)
    assert "head" in result.reason


def test_deleting_every_row_is_found_through_the_head(ctx):
    _append(2)
    _raw("DELETE FROM audit_log")
    assert _found(verify_chain(db.session)) == (False, 0, 1)


def _forge(entry_id, prev_hash, **fields):
    row = {"id": entry_id, "at": "2026-01-01T00:00:00.000000+00:00", "actor": "mallory", "actor_roles": [],
           "action": "case.view", "target_type": "case", "target_id": "TPT-1", "ip": None, "user_agent": None,
           "detail": None}
    row.update(fields)
    good_hash = entry_hash(row, prev_hash)
    db.session.execute(
        text("INSERT INTO audit_log (id, at, actor, actor_roles, action, target_type, target_id, detail, "
             "prev_hash, hash) VALUES (:id, :at, :actor, '[]', :action, :target_type, :target_id, NULL, "
             ":prev_hash, :hash)"),
        {**row, "at": "2026-01-01 00:00:00.000000", "prev_hash": prev_hash, "hash": fields.get("hash", good_hash)},
    )
    db.session.commit()


def test_a_forged_row_after_the_last_is_found_even_with_a_correct_hash(ctx):
    _append(4)
    last_hash = db.session.scalar(select(AuditEntry.hash).where(AuditEntry.id == 4))
    _forge(5, last_hash)
    result = verify_chain(db.session)
    assert (result.ok, result.first_bad_id, result.checked) == (False, 5, 5) and "head" in result.reason


def test_a_forged_row_in_place_of_a_deleted_one_is_found(ctx):
    _append(5)
    hash_2 = db.session.scalar(select(AuditEntry.hash).where(AuditEntry.id == 2))
    _raw("DELETE FROM audit_log WHERE id = 3")
    _forge(3, hash_2)  # a correct hash over forged content: the next entry no longer links to it
    assert _found(verify_chain(db.session)) == (False, 3, 4)

    _raw("DELETE FROM audit_log WHERE id = 3")
    _forge(3, hash_2, hash="a" * 64)  # a made-up hash: found at the forged row itself
    assert _found(verify_chain(db.session)) == (False, 2, 3)


def test_tampering_with_the_head_is_found_and_a_missing_head_stops_appends(ctx):
    _append(3)
    _raw("UPDATE audit_head SET last_hash = :h WHERE id = 1", h="b" * 64)
    assert _found(verify_chain(db.session)) == (False, 3, 3)

    _raw("DELETE FROM audit_head")
    result = verify_chain(db.session)
    assert (result.ok, result.first_bad_id) == (False, 3) and "head" in result.reason
    with pytest.raises(AuditChainBroken):
        record(db.session, "cw1", "case.view")
    db.session.rollback()


def test_an_entry_rolled_back_leaves_no_gap(ctx):
    _append(2)
    record(db.session, "cw1", "case.view", "case", "TPT-X")
    db.session.rollback()
    _append(1)
    assert _ids() == [1, 2, 3] and verify_chain(db.session).ok


def test_an_append_waits_for_the_open_transaction_holding_the_head(ctx):
    _append(1)
    engine = db.engine
    first, second = Session(engine), Session(engine)
    done = threading.Event()
    errors = []

    def append_second():
        try:
            record(second, "cw2", "case.view", "case", "TPT-B")
            second.commit()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    try:
        record(first, "cw1", "case.view", "case", "TPT-A")
        thread = threading.Thread(target=append_second)
        thread.start()
        assert not done.wait(1.0), "the second append did not wait for the first transaction"
        first.commit()
        assert done.wait(30) and not errors, errors
        thread.join()
    finally:
        first.close()
        second.close()
    rows = db.session.execute(select(AuditEntry.id, AuditEntry.actor).order_by(AuditEntry.id)).all()
    assert [tuple(r) for r in rows] == [(1, "cw1"), (2, "cw1"), (3, "cw2")]
    assert verify_chain(db.session) == audit.VerifyResult(True, 3)


def _worker_env(app):
    env = dict(os.environ)
    env.update(BANSOS_DATABASE_URL=app.config["BANSOS_DATABASE_URL"], BANSOS_VAR_DIR=app.config["BANSOS_VAR_DIR"],
               BANSOS_PHOTO_DIR=app.config["BANSOS_PHOTO_DIR"], PYTHONPATH=str(ROOT))
    return env


def test_concurrent_appends_from_processes_make_one_chain(ctx):
    _append(1)
    start_at, count, names = time.time() + 2, 30, ("w1", "w2", "w3")
    workers = [subprocess.Popen([sys.executable, "-m", "tests.integration.test_audit", "append", str(count), name,
                                 str(start_at)], cwd=ROOT, env=_worker_env(ctx), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for name in names]
    outputs = [w.communicate(timeout=180) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == {"appended": count}

    total = 1 + count * len(names)
    assert verify_chain(db.session) == audit.VerifyResult(True, total)
    assert _ids() == list(range(1, total + 1))
    assert db.session.scalar(select(func.count(func.distinct(AuditEntry.prev_hash)))) == total  # no fork
    actors = db.session.scalars(select(AuditEntry.actor).where(AuditEntry.id > 1).order_by(AuditEntry.id)).all()
    assert sorted(actors) == sorted(n for n in names for _ in range(count))


def test_export_has_every_row_and_an_auditor_can_recompute_the_chain_from_it(ctx):
    _append(5)
    record(db.session, "anonymous", "login.failed", ip="2001:db8::1", detail={"username": "x,\"y\"\nz"})
    record(db.session, "sup1", "deploy", "process_version", "7", detail={"note": "été 2026 ✓", "n": 1.5})
    db.session.commit()

    out = io.StringIO()
    assert export_csv(db.session, out, batch=2) == 7
    lines = list(csv.DictReader(io.StringIO(out.getvalue())))
    stored = db.session.execute(select(AuditEntry.id, AuditEntry.prev_hash, AuditEntry.hash).order_by(AuditEntry.id))
    assert [(int(r["id"]), r["prev_hash"], r["hash"]) for r in lines] == [tuple(r) for r in stored]
    assert list(lines[0]) == list(audit.CSV_COLUMNS)

    prev = "0" * 64
    for line in lines:
        fields = read_csv_row(line)
        assert fields["prev_hash"] == prev and entry_hash(fields, prev) == line["hash"]
        prev = line["hash"]
    assert read_csv_row(lines[5])["detail"] == {"username": "x,\"y\"\nz"}


def test_personal_data_is_masked_before_it_is_stored(ctx):
    photo = b"\xff\xd8\xff\xe0" + b"\x00" * 2000
    entry = record(db.session, "cw1", "photo.view", "person", NIK, user_agent="UA " * 500, detail={
        "nik": NIK, "note": f"called about NIK {NIK}.", "household": [{"kk": "3510010101010001"}, (NIK,)],
        "photo": photo, "nik_number": int(NIK), "reason": "x" * 5000, "not_a_nik": "12345678901234567",
    })
    db.session.commit()
    assert entry.target_id == "3510********0003"
    detail = entry.detail
    assert detail["nik"] == "3510********0003" and detail["note"] == "called about NIK 3510********0003."
    assert detail["household"] == [{"kk": "3510********0001"}, ["3510********0003"]]
    assert detail["photo"] == "[binary, 2004 bytes]" and detail["nik_number"] == "3510********0003"
    assert len(detail["reason"]) < 1100 and detail["not_a_nik"] == "12345678901234567"
    assert len(entry.user_agent) == 300

    db.session.expire_all()
    row = db.session.execute(text("SELECT * FROM audit_log")).one()
    assert NIK not in repr(tuple(row)) and "3510010101010001" not in repr(tuple(row))
    assert verify_chain(db.session).ok


def test_engine_actions_are_audited_with_the_request_origin(ctx):
    audit.connect()
    try:
        engine = SimpleNamespace(session=db.session)
        row = SimpleNamespace(id=41, business_key="TPT-2026-0000001", bpmn_id="review", form_name="case_review")
        actor = Actor("cw1", frozenset({"caseworker"}))
        with audit.origin("203.0.113.9", "Firefox"):
            signals.task_assigned.send(engine, row=row, actor=actor, action="claim", target="cw1", runtime=None)
            signals.task_completed.send(engine, row=row, actor=actor, data={"review_decision": "approve",
                                                                             "nik": NIK})
        signals.incident_resolved.send(engine, incident=SimpleNamespace(id=5, bpmn_id="verify", business_key="K"),
                                       actor=Actor("admin", frozenset({"administrator"})), action="retry")
        db.session.commit()
    finally:
        # Still connected afterwards, as create_app leaves them (disconnecting here took the engine
        # audit away from every later test of the session).
        audit.connect()
    rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(r.action, r.actor, r.actor_roles, r.target_id, r.ip, r.user_agent) for r in rows] == [
        ("task.claim", "cw1", ["caseworker"], "41", "203.0.113.9", "Firefox"),
        ("task.complete", "cw1", ["caseworker"], "41", "203.0.113.9", "Firefox"),
        ("incident.retry", "admin", ["administrator"], "5", None, None),
    ]
    assert rows[1].detail == {"case": "TPT-2026-0000001", "task": "review", "fields": ["nik", "review_decision"]}
    assert verify_chain(db.session).ok


def _append_worker(count, name, start_at):
    """Append `count` entries, one transaction each, starting together with the other workers."""
    from web import create_app

    app = create_app({"BANSOS_SCHEDULER_ENABLED": False})
    with app.app_context():
        while time.time() < start_at:
            time.sleep(0.002)
        for i in range(count):
            record(db.session, name, "case.view", "case", f"{name}-{i}", detail={"i": i})
            time.sleep(0.001)  # hold the head a moment, to make overlapping appends likely
            db.session.commit()
        db.session.remove()
    print(json.dumps({"appended": count}))


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "append":
        _append_worker(int(args[0]), args[1], float(args[2]))


def test_a_request_served_inside_another_leaves_no_origin_behind(ctx, svc, personas):
    """The portal's sign-in calls the sandbox provider's token endpoint in-process: both requests share
    one `g`, and each must reset the audit origin it set (else later engine entries carry a stale one)."""
    from tests.integration.portal_helpers import sign_in_applicant
    from tests.helpers import fresh_client

    with fresh_client() as client:
        sign_in_applicant(client, personas["civil_servant"])
    assert audit._origin.get() == (None, None)
