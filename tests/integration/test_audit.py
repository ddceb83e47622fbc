"""Audit trail: the hash chain verifies, tampering is found at the row, appends never fork, export is whole.

Also a worker for the concurrency test: `python -m tests.integration.test_audit append COUNT NAME START_AT`.
"""

import csv
import io
import itertools
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


def _append(n, actor="cw1", commit_every=1, target="TPT-2026-{i:07d}"):
    for i in range(n):
        record(
            db.session,
            actor,
            "case.view",
            "case",
            target.format(i=i),
            ip="10.0.0.1",
            user_agent="pytest",
            detail={"i": i, "section": "evidence"},
            roles=("caseworker",),
        )
        if (i + 1) % commit_every == 0:
            db.session.commit()
    db.session.commit()


def _raw(sql, **params):
    db.session.execute(text(sql), params)
    db.session.commit()


def _found(result):
    """(ok, checked, shard, first_bad_seq) of a VerifyResult."""
    return result.ok, result.checked, result.shard, result.first_bad_seq


def _seqs(shard=0):
    return list(db.session.scalars(select(AuditEntry.seq).where(AuditEntry.shard == shard).order_by(AuditEntry.seq)))


def _id_of(seq, shard=0):
    return db.session.scalar(select(AuditEntry.id).where(AuditEntry.shard == shard, AuditEntry.seq == seq))


def _targets_in_distinct_shards(count, shards):
    """`count` case numbers whose entries go to `count` different shards."""
    found = {}
    for i in range(10_000):
        target = f"TPT-S-{i}"
        found.setdefault(audit.shard_for("case", target, "cw1", shards), target)
        if len(found) == count:
            return list(found.values())
    raise AssertionError("not enough shards")


@pytest.fixture
def single(ctx):
    """One shard: the whole trail is one chain (the tampering tests read like the single-chain ones)."""
    before = ctx.config.get("BANSOS_AUDIT_SHARDS")
    ctx.config["BANSOS_AUDIT_SHARDS"] = 1
    yield ctx
    ctx.config["BANSOS_AUDIT_SHARDS"] = before


def test_empty_log_verifies(ctx):
    result = verify_chain(db.session)
    assert result == audit.VerifyResult(True, 0) and [s.shard for s in result.shards] == [audit.ANCHOR_SHARD]


def test_chain_of_entries_verifies_in_any_batch_size(single):
    _append(7, commit_every=3)
    record(
        db.session,
        Actor("sup1", frozenset({"supervisor"})),
        "task.complete",
        "task",
        12,
        detail={"fields": ["approval_decision"]},
    )
    record(db.session, "anonymous", "login.failed")  # no target, no origin, no detail
    db.session.commit()

    for batch in (10_000, 1, 4):
        assert verify_chain(db.session, batch=batch) == audit.VerifyResult(True, 9)
    rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [(r.shard, r.seq, r.format) for r in rows] == [(0, i, 2) for i in range(1, 10)]
    assert [r.id for r in rows] == sorted(r.id for r in rows) and len({r.id for r in rows}) == 9
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert rows[7].actor == "sup1" and rows[7].actor_roles == ["supervisor"] and rows[7].target_id == "12"
    assert rows[8].target_type is None and rows[8].detail is None
    assert audit.chain_head(db.session, 0) == (9, rows[8].hash)


def test_hash_is_sha256_of_canonical_json_then_prev_hash(ctx):
    import hashlib

    entry = record(db.session, "cw1", "case.view", "case", "TPT-1", detail={"b": 1, "a": [1, 2]}, roles=("x", "a"))
    db.session.commit()
    doc = {
        "id": entry.id,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": "cw1",
        "actor_roles": ["a", "x"],
        "action": "case.view",
        "target_type": "case",
        "target_id": "TPT-1",
        "ip": None,
        "user_agent": None,
        "detail": {"a": [1, 2], "b": 1},
        "shard": audit.shard_for("case", "TPT-1", "cw1", audit.shard_count()),
        "seq": 1,
    }
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "0" * 64
    assert entry.at.utcoffset().total_seconds() == 0 and entry.at.isoformat().endswith("+00:00")
    assert entry.shard == doc["shard"] and entry.hash == hashlib.sha256(payload.encode()).hexdigest()
    # An entry from before the shards (format 1) hashes the same fields without shard and seq.
    legacy = {**doc, "format": audit.LEGACY_FORMAT}
    del doc["shard"], doc["seq"]
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "0" * 64
    assert entry_hash(legacy, "0" * 64) == hashlib.sha256(payload.encode()).hexdigest()


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
    "shard": 5,
    "seq": 1000,
    "format": 1,
}


@pytest.mark.parametrize("column", sorted(TAMPERED))
def test_changing_any_field_of_a_row_is_found_at_that_row(single, column):
    _append(6)
    assert verify_chain(db.session).ok
    _raw(f"UPDATE audit_log SET {column} = :value WHERE shard = 0 AND seq = 3", value=TAMPERED[column])

    result = verify_chain(db.session)
    assert (result.ok, result.shard, result.first_bad_seq, result.checked) == (False, 0, 3, 2), result


def test_changing_the_id_of_a_row_is_found_at_that_row(single):
    _append(5)
    _raw("UPDATE audit_log SET id = id + 100000 WHERE shard = 0 AND seq = 3")
    assert _found(verify_chain(db.session)) == (False, 2, 0, 3)


def test_changing_a_time_by_one_microsecond_is_found(single):
    _append(3)
    at = db.session.scalar(select(AuditEntry.at).where(AuditEntry.seq == 2))
    db.session.rollback()
    shifted = at.replace(microsecond=(at.microsecond + 1) % 1_000_000, tzinfo=None)
    _raw("UPDATE audit_log SET at = :value WHERE seq = 2", value=shifted.isoformat(sep=" ", timespec="microseconds"))
    assert _found(verify_chain(db.session)) == (False, 1, 0, 2)


def test_deleting_a_middle_row_is_found(single):
    _append(5)
    _raw("DELETE FROM audit_log WHERE seq = 3")
    result = verify_chain(db.session)
    assert _found(result) == (False, 2, 0, 3) and result.first_bad_id == _id_of(4)
    assert "3..3 are missing" in result.reason


def test_deleting_the_last_rows_is_found_through_the_head(single):
    _append(5)
    _raw("DELETE FROM audit_log WHERE seq >= 4")
    result = verify_chain(db.session)
    assert _found(result) == (False, 3, 0, 4) and result.first_bad_id is None
    assert "head" in result.reason


def test_deleting_every_row_is_found_through_the_head(single):
    _append(2)
    _raw("DELETE FROM audit_log")
    assert _found(verify_chain(db.session)) == (False, 0, 0, 1)


def _forge(seq, prev_hash, shard=0, **fields):
    row = {
        "id": 10_000_000 + seq,
        "at": "2026-01-01T00:00:00.000000+00:00",
        "actor": "mallory",
        "actor_roles": [],
        "action": "case.view",
        "target_type": "case",
        "target_id": "TPT-1",
        "ip": None,
        "user_agent": None,
        "detail": None,
        "shard": shard,
        "seq": seq,
        "format": 2,
    }
    row.update(fields)
    good_hash = entry_hash(row, prev_hash)
    db.session.execute(
        text(
            "INSERT INTO audit_log (id, shard, seq, format, at, actor, actor_roles, action, target_type, target_id, "
            "detail, prev_hash, hash) VALUES (:id, :shard, :seq, 2, :at, :actor, '[]', :action, :target_type, "
            ":target_id, NULL, :prev_hash, :hash)"
        ),
        {**row, "at": "2026-01-01 00:00:00.000000", "prev_hash": prev_hash, "hash": fields.get("hash", good_hash)},
    )
    db.session.commit()


def test_a_forged_row_after_the_last_is_found_even_with_a_correct_hash(single):
    _append(4)
    last_hash = db.session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == 4))
    _forge(5, last_hash)
    result = verify_chain(db.session)
    assert _found(result) == (False, 5, 0, 5) and "head" in result.reason


def test_a_forged_row_in_place_of_a_deleted_one_is_found(single):
    _append(5)
    hash_2 = db.session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == 2))
    _raw("DELETE FROM audit_log WHERE seq = 3")
    _forge(3, hash_2)  # a correct hash over forged content: the next entry no longer links to it
    assert _found(verify_chain(db.session)) == (False, 3, 0, 4)

    _raw("DELETE FROM audit_log WHERE seq = 3")
    _forge(3, hash_2, hash="a" * 64)  # a made-up hash: found at the forged row itself
    assert _found(verify_chain(db.session)) == (False, 2, 0, 3)


def test_tampering_with_the_head_is_found_and_a_missing_head_stops_appends(single):
    _append(3)
    _raw("UPDATE audit_chain_heads SET last_hash = :h WHERE shard = 0", h="b" * 64)
    assert _found(verify_chain(db.session)) == (False, 3, 0, 3)

    _raw("DELETE FROM audit_chain_heads")
    result = verify_chain(db.session)
    assert (result.ok, result.shard, result.first_bad_seq) == (False, 0, 3) and "head" in result.reason
    with pytest.raises(AuditChainBroken, match="shard 0"):
        record(db.session, "cw1", "case.view")
    db.session.rollback()


def test_an_entry_rolled_back_leaves_no_gap(single):
    _append(2)
    record(db.session, "cw1", "case.view", "case", "TPT-X")
    db.session.rollback()
    _append(1)
    assert _seqs() == [1, 2, 3] and verify_chain(db.session).ok


def test_one_transaction_writes_one_shard(ctx):
    targets = _targets_in_distinct_shards(3, audit.shard_count())
    entries = [record(db.session, "cw1", "case.view", "case", t) for t in targets]
    db.session.commit()
    assert len({e.shard for e in entries}) == 1 and [e.seq for e in entries] == [1, 2, 3]
    entry = record(db.session, "cw1", "case.view", "case", targets[1])  # the next transaction: its own shard
    db.session.commit()
    assert entry.shard == audit.shard_for("case", targets[1], "cw1", audit.shard_count()) != entries[0].shard
    assert verify_chain(db.session).ok


def _hold_and_append(first_target, second_target):
    """Append in one open transaction, then try another from a second session: did it wait?"""
    from flask import current_app

    app, engine = current_app._get_current_object(), db.engine
    first, second = Session(engine), Session(engine)
    done = threading.Event()
    errors = []

    def append_second():
        try:
            with app.app_context():  # the app's shard count
                record(second, "cw2", "case.view", "case", second_target)
                second.commit()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    try:
        record(first, "cw1", "case.view", "case", first_target)
        thread = threading.Thread(target=append_second)
        thread.start()
        waited = not done.wait(1.0)
        first.commit()
        assert done.wait(30) and not errors, errors
        thread.join()
    finally:
        first.close()
        second.close()
    return waited


def test_an_append_waits_for_the_open_transaction_holding_its_shard(single):
    _append(1)
    assert _hold_and_append("TPT-A", "TPT-B"), "the second append did not wait for the first transaction"
    rows = db.session.execute(select(AuditEntry.seq, AuditEntry.actor).order_by(AuditEntry.seq)).all()
    assert [tuple(r) for r in rows] == [(1, "cw1"), (2, "cw1"), (3, "cw2")]
    assert verify_chain(db.session) == audit.VerifyResult(True, 3)


def test_appends_to_different_shards_do_not_wait_for_each_other(ctx):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one database write lock: its writers always wait for each other")
    a, b = _targets_in_distinct_shards(2, audit.shard_count())
    _append(1, target=a)  # shard a has a head already; b's head is created by the second session
    assert not _hold_and_append(a, b), "an append to another shard waited"
    assert verify_chain(db.session) == audit.VerifyResult(True, 3)


def test_anchors_name_every_shard_head_and_catch_a_removed_tail_with_its_head(ctx):
    a, b, c = _targets_in_distinct_shards(3, audit.shard_count())
    for target in (a, b, b, c, c, c):
        _append(1, target=target)
    first = audit.anchor(db.session, "test")
    db.session.commit()
    heads = audit.chain_heads(db.session)
    assert first.shard == audit.ANCHOR_SHARD and first.seq == 1 and first.action == "audit.anchor"
    assert first.detail == {"heads": {str(s): [seq, h] for s, (seq, h) in heads.items() if s >= 0}}
    assert audit.anchor(db.session, "test") is None  # nothing moved: no new anchor
    _append(1, target=a)
    assert audit.anchor(db.session, "test").seq == 2
    db.session.commit()
    result = verify_chain(db.session)
    assert result.ok and result.checked == 9 and result.anchored_at is not None

    # Remove the tail of c's shard and set its head back to match: the shard alone looks whole.
    shard_c = audit.shard_for("case", c, "cw1", audit.shard_count())
    kept = db.session.execute(
        select(AuditEntry.id, AuditEntry.hash).where(AuditEntry.shard == shard_c, AuditEntry.seq == 1)
    ).one()
    _raw("DELETE FROM audit_log WHERE shard = :s AND seq > 1", s=shard_c)
    _raw(
        "UPDATE audit_chain_heads SET last_seq = 1, last_id = :i, last_hash = :h WHERE shard = :s",
        i=kept.id,
        h=kept.hash,
        s=shard_c,
    )
    result = verify_chain(db.session)
    assert (result.ok, result.shard, result.first_bad_seq) == (False, shard_c, 2), result
    assert "anchor" in result.reason and [s.shard for s in result.broken] == [shard_c]


def test_a_shard_rewritten_with_its_head_is_caught_by_the_anchor(ctx):
    (a,) = _targets_in_distinct_shards(1, audit.shard_count())
    _append(3, target=a)
    audit.anchor(db.session, "test")
    db.session.commit()
    shard = audit.shard_for("case", a, "cw1", audit.shard_count())
    rows = db.session.execute(select(AuditEntry).where(AuditEntry.shard == shard).order_by(AuditEntry.seq)).all()
    # Rewrite entry 2's actor and recompute its hash, the next one's and the head: the chain is consistent.
    prev = rows[0].AuditEntry.hash
    for row in rows[1:]:
        fields = {name: getattr(row.AuditEntry, name) for name in audit.CSV_COLUMNS[:-2]}
        if row.AuditEntry.seq == 2:
            fields["actor"] = "mallory"
        new_hash = entry_hash(fields, prev)
        db.session.execute(
            text("UPDATE audit_log SET actor = :actor, prev_hash = :p, hash = :h WHERE id = :i"),
            {"actor": fields["actor"], "p": prev, "h": new_hash, "i": row.AuditEntry.id},
        )
        prev = new_hash
    db.session.execute(text("UPDATE audit_chain_heads SET last_hash = :h WHERE shard = :s"), {"h": prev, "s": shard})
    db.session.commit()
    result = verify_chain(db.session)
    assert (result.ok, result.shard, result.first_bad_seq) == (False, shard, 3) and "anchor" in result.reason


def test_every_broken_shard_is_reported(ctx):
    a, b, c = _targets_in_distinct_shards(3, audit.shard_count())
    for target in (a, a, b, b, c, c):
        _append(1, target=target)
    shard_a, shard_c = (audit.shard_for("case", t, "cw1", audit.shard_count()) for t in (a, c))
    _raw("UPDATE audit_log SET actor = 'mallory' WHERE shard = :s AND seq = 2", s=shard_a)
    _raw("DELETE FROM audit_log WHERE shard = :s AND seq = 1", s=shard_c)
    result = verify_chain(db.session)
    broken = {s.shard: (s.first_bad_seq, s.reason) for s in result.broken}
    assert set(broken) == {shard_a, shard_c} and result.shard == min(shard_a, shard_c)
    assert broken[shard_a][0] == 2 and "altered" in broken[shard_a][1]
    assert broken[shard_c][0] == 1 and "missing" in broken[shard_c][1]
    assert sum(s.checked for s in result.shards) == result.checked == 3


def test_the_cli_verifies_per_shard_and_anchors(ctx):
    from flask import current_app

    a, b = _targets_in_distinct_shards(2, audit.shard_count())
    _append(2, target=a)
    _append(1, target=b)
    runner = current_app.test_cli_runner()
    out = runner.invoke(args=["audit", "anchor"], catch_exceptions=False)
    assert out.exit_code == 0 and "anchor seq 1: 2 shard heads" in out.output
    assert "nothing to anchor" in runner.invoke(args=["audit", "anchor"], catch_exceptions=False).output
    out = runner.invoke(args=["audit", "verify"], catch_exceptions=False)
    shard_a = audit.shard_for("case", a, "cw1", audit.shard_count())
    assert out.exit_code == 0 and f"shard {shard_a}" in out.output and "audit chains intact: 4 entries" in out.output
    assert f"anchor chain head (keep a copy elsewhere): seq 1 hash {audit.chain_head(db.session)[1]}" in out.output
    _raw("UPDATE audit_log SET detail = NULL WHERE shard = :s AND seq = 2", s=shard_a)
    out = runner.invoke(args=["audit", "verify"], catch_exceptions=False)
    assert out.exit_code == 1
    assert f"shard {shard_a:<4} BROKEN at seq 2 (entry id {_id_of(2, shard_a)}): hash does not match" in out.output


def test_the_scheduler_leader_anchors_once_per_interval_when_something_moved(ctx):
    from web.dispatcher import Dispatcher

    def anchors():
        db.session.expire_all()
        return db.session.scalars(select(AuditEntry.seq).where(AuditEntry.shard == audit.ANCHOR_SHARD)).all()

    _append(2)
    dispatcher = Dispatcher(ctx)
    dispatcher.last_purge = float("inf")  # the purges are not what this test is about
    dispatcher.tick()
    assert anchors() == [1]
    _append(1)
    dispatcher.tick()  # within the interval: no anchor
    assert anchors() == [1]
    dispatcher.last_anchor -= ctx.config["BANSOS_AUDIT_ANCHOR_SECONDS"]
    dispatcher.tick()
    assert anchors() == [1, 2]
    dispatcher.last_anchor -= ctx.config["BANSOS_AUDIT_ANCHOR_SECONDS"]
    dispatcher.tick()  # nothing moved since: no anchor
    assert anchors() == [1, 2]
    latest = db.session.scalars(
        select(AuditEntry).where(AuditEntry.shard == audit.ANCHOR_SHARD, AuditEntry.seq == 2)
    ).one()
    assert latest.actor == "scheduler" and latest.detail["heads"] == {
        str(s): [seq, h] for s, (seq, h) in audit.chain_heads(db.session).items() if s >= 0
    }
    assert verify_chain(db.session).ok


def _worker_env(app):
    env = dict(os.environ)
    env.update(
        BANSOS_DATABASE_URL=app.config["BANSOS_DATABASE_URL"],
        BANSOS_VAR_DIR=app.config["BANSOS_VAR_DIR"],
        BANSOS_PHOTO_DIR=app.config["BANSOS_PHOTO_DIR"],
        PYTHONPATH=str(ROOT),
    )
    return env


def _run_workers(app, count, names):
    start_at = time.time() + 1.5
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.test_audit", "append", str(count), name, str(start_at)],
            cwd=ROOT,
            env=_worker_env(app),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    outputs = [w.communicate(timeout=180) for w in workers]
    for w, (out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == {"appended": count}


def test_concurrent_appends_from_processes_on_a_fresh_schema_make_whole_chains(ctx):
    """Three processes start together on a schema without a head row: the first entry of each shard
    races (every worker writes the same targets in the same order), and one of them anchors as it goes."""
    assert db.session.scalar(select(func.count()).select_from(audit.AuditHead)) == 0
    count, names = 20, ("w1", "w2", "w3")
    _run_workers(ctx, count, names)
    result = verify_chain(db.session)
    assert result.ok, result
    entries = db.session.execute(
        select(AuditEntry.shard, AuditEntry.seq, AuditEntry.actor).where(AuditEntry.shard >= 0)
    ).all()
    assert len(entries) == count * len(names) and len({e.shard for e in entries}) > 4
    assert sorted(e.actor for e in entries) == sorted(n for n in names for _ in range(count))
    for shard in {e.shard for e in entries}:  # gap-free in every shard
        assert sorted(e.seq for e in entries if e.shard == shard) == list(
            range(1, 1 + sum(1 for e in entries if e.shard == shard))
        )
    assert result.checked == len(entries) + len(_seqs(audit.ANCHOR_SHARD)) and _seqs(audit.ANCHOR_SHARD)


def test_export_is_ordered_by_time_says_the_shard_and_an_auditor_can_recompute_every_chain(ctx):
    _append(5)
    record(db.session, "anonymous", "login.failed", ip="2001:db8::1", detail={"username": 'x,"y"\nz'})
    db.session.commit()
    record(db.session, "sup1", "deploy", "process_version", "7", detail={"note": "été 2026 ✓", "n": 1.5})
    db.session.commit()
    audit.anchor(db.session, "test")
    db.session.commit()

    out = io.StringIO()
    assert export_csv(db.session, out, batch=2) == 8
    lines = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(lines[0]) == list(audit.CSV_COLUMNS)
    stored = db.session.execute(
        select(AuditEntry.id, AuditEntry.shard, AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.at, AuditEntry.id)
    )
    fields = [read_csv_row(line) for line in lines]
    assert [(f["id"], f["shard"], f["seq"], f["hash"]) for f in fields] == [tuple(r) for r in stored]
    assert [f["at"] for f in fields] == sorted(f["at"] for f in fields)
    assert fields[-1]["shard"] == audit.ANCHOR_SHARD and len({f["shard"] for f in fields}) > 2
    heads = audit.verify_rows(fields)
    assert heads == {s: h for s, h in audit.chain_heads(db.session).items()}
    assert fields[5]["detail"] == {"username": 'x,"y"\nz'}

    fields[2]["actor"] = "mallory"  # an altered line is named by shard and seq
    with pytest.raises(AuditChainBroken, match=f"shard {fields[2]['shard']} seq {fields[2]['seq']}"):
        audit.verify_rows(fields)
    fields[2]["actor"] = lines[2]["actor"]
    audit.verify_rows(fields)
    first = next(f for f in fields if f["seq"] == 1)
    with pytest.raises(AuditChainBroken, match="entries 1..1 are missing"):
        audit.verify_rows([f for f in fields if f is not first] + [{**first, "seq": 2}])


def test_personal_data_is_masked_before_it_is_stored(ctx):
    photo = b"\xff\xd8\xff\xe0" + b"\x00" * 2000
    entry = record(
        db.session,
        "cw1",
        "photo.view",
        "person",
        NIK,
        user_agent="UA " * 500,
        detail={
            "nik": NIK,
            "note": f"called about NIK {NIK}.",
            "household": [{"kk": "3510010101010001"}, (NIK,)],
            "photo": photo,
            "nik_number": int(NIK),
            "reason": "x" * 5000,
            "not_a_nik": "12345678901234567",
        },
    )
    db.session.commit()
    assert entry.target_id == "3510**·120487·0003"
    detail = entry.detail
    assert detail["nik"] == "3510**·120487·0003" and detail["note"] == "called about NIK 3510**·120487·0003."
    assert detail["household"] == [{"kk": "3510**·010101·0001"}, ["3510**·120487·0003"]]
    assert detail["photo"] == "[binary, 2004 bytes]" and detail["nik_number"] == "3510**·120487·0003"
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
            signals.task_completed.send(engine, row=row, actor=actor, data={"review_decision": "approve", "nik": NIK})
        signals.incident_resolved.send(
            engine,
            incident=SimpleNamespace(id=5, bpmn_id="verify", business_key="K"),
            actor=Actor("admin", frozenset({"administrator"})),
            action="retry",
        )
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
    """Append `count` entries, one transaction each, starting together with the other workers.

    Every worker writes the same targets in the same order (so they race for the same new shards);
    the worker named w1 also anchors every 7 entries.
    """
    from flask import Flask
    from sqlalchemy import create_engine

    app = Flask("audit-worker", root_path=str(ROOT))  # a bare app: starts fast; default settings
    engine = create_engine(os.environ["BANSOS_DATABASE_URL"])
    with app.app_context(), Session(engine) as session:
        session.execute(text("SELECT 1"))  # connected before the start
        session.commit()
        while time.time() < start_at:
            time.sleep(0.002)
        for i in range(count):
            record(session, name, "case.view", "case", f"TPT-C-{i}", detail={"i": i})
            time.sleep(0.001)  # hold the head a moment, to make overlapping appends likely
            session.commit()
            if name == "w1" and i % 7 == 6:
                audit.anchor(session, name)
                session.commit()
    engine.dispose()
    print(json.dumps({"appended": count}))


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "append":
        _append_worker(int(args[0]), args[1], float(args[2]))


def test_a_request_served_inside_another_leaves_no_origin_behind(ctx, svc, personas):
    """The portal's sign-in calls the sandbox provider's token endpoint in-process: both requests share
    one `g`, and each must reset the audit origin it set (else later engine entries carry a stale one)."""
    from tests.helpers import fresh_client
    from tests.integration.portal_helpers import sign_in_applicant

    with fresh_client() as client:
        sign_in_applicant(client, personas["civil_servant"])
    assert audit._origin.get() == (None, None)
