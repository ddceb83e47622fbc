"""Dispatch over HTTP on the real engine: a bank channel sent by API, results taken as signed callbacks."""

import time
from datetime import date

import httpx
import pytest
from sqlalchemy import func, select

from cases.audit import AuditEntry
from cases.operations import create_officer
from engine.db import db
from engine.models import Incident
from integrations.http.paying_bank import sign
from integrations.sandbox.bank_gateway import BankSimulator
from integrations.sandbox.paying_bank import outcome, results_lines
from payments.bankfile import batch_csv_lines
from payments.cycles import open_cycle
from payments.dispatch import send_batches
from payments.models import CycleMember, Payment, PaymentBatch
from payments.results import import_and_advance
from tests.helpers import later, wake_all
from tests.integration.payment_support import family, finance_officers, schedule
from tests.integration.portal_helpers import PASSWORD, fresh_client, officer_login
from tests.integration.test_payment_cycles import cycle, do

# Authenticated by the bank's HMAC signature, not by an officer's role.
PUBLIC_ENDPOINTS = {"payment_callbacks.callback"}
TODAY = date.today()
SECRETS = {"BRI": "bri-callback-secret-0001", "BNI": "bni-callback-secret-0001"}
CALLBACK = "/api/payments/callback"


@pytest.fixture
def sim():
    server = BankSimulator(secrets=SECRETS, slow_seconds=0.8).start()
    yield server
    server.stop()


@pytest.fixture
def http_bri(svc, sim, monkeypatch):
    """BRI takes batches by API (the simulator); BNI and the post office stay on files."""
    settings = svc.engine.settings
    for key, value in {
        "BANSOS_PAYMENT_CHANNELS": {"BRI": sim.url("BRI"), "BNI": "file"},
        "BANSOS_PAYMENT_CALLBACK_URL": "http://tepat.test" + CALLBACK,
        "BANSOS_PAYMENT_CALLBACK_SECRETS": SECRETS,
        "BANSOS_HTTP_TIMEOUT_SECONDS": 0.3,
        "BANSOS_HTTP_RETRIES": 2,
        "BANSOS_HTTP_BACKOFF_SECONDS": 0.01,
    }.items():
        monkeypatch.setitem(settings, key, value)
    return settings


def _approved(svc, families=30):
    fin = finance_officers()
    for n in range(families):
        channel = ("BRI", "BNI", "POS")[n % 3]
        family(
            [("PKH", "SD", 1 + n % 2)],
            district=f"{1 + n % 4:02d}",
            channel=channel,
            account=None if channel == "POS" else f"00{n:08d}",
            name=f"Ibu Nur {n}",
        )
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    return fin


def _dispatch(svc, fin):
    do(svc, "dispatch_batches", fin["fin1"], {"sp2d_number": "SP2D-0042/2026", "sp2d_date": TODAY.isoformat()})


def batch(channel):
    db.session.expire_all()
    return db.session.execute(select(PaymentBatch).where(PaymentBatch.channel == channel)).scalar_one()


def poster(client):
    return lambda url, body, headers: client.post(CALLBACK, data=body, headers=headers)


def audit(action):
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_the_dispatch_step_sends_the_http_batch_once_and_callbacks_reconcile_it(svc, ctx, sim, http_bri):
    fin = _approved(svc)
    _dispatch(svc, fin)
    bri = batch("BRI")
    assert bri.status == "dispatched" and bri.downloaded_by == "http"
    refs = set(db.session.scalars(select(Payment.reference).where(Payment.batch_id == bri.id)))
    assert {p["reference"] for p in sim.paid(bri.reference)} == refs and len(refs) == bri.count == 10
    assert sim.requests.keys() == {"BRI"}  # BNI and the post office stay on files
    assert [e.detail["sent"] for e in audit("cycle.batch_sent")][:1] == [10]
    assert (bri.sent_parts, bri.sent_through) == (1, max(refs))  # each part taken is remembered
    # Run again, the step goes on after the last part taken: nothing is sent.
    assert send_batches(db.session, cycle().id, http_bri)[0]["parts"] == 0
    assert sim.requests["BRI"] == 1
    # Sending again when the mark was lost (a crash between the bank's receipt and the commit) pays nobody twice.
    db.session.execute(PaymentBatch.__table__.update().values(sent_parts=0, sent_through=None))
    db.session.commit()
    send_batches(db.session, cycle().id, http_bri)
    db.session.commit()
    assert sim.requests["BRI"] == 2 and set(sim.payouts.values()) == {1} and len(sim.payouts) == 10
    # The bank reports in three callbacks: partial, then reconciled.
    client = ctx.test_client()
    answers = sim.post_callbacks(bri.reference, TODAY, chunk=4, post=poster(client))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sum(a.get_json()["accepted"] for a in answers) == 10
    assert batch("BRI").status == "reconciled"
    failed = set(
        db.session.scalars(select(Payment.reference).where(Payment.batch_id == bri.id, Payment.status == "failed"))
    )
    nik = dict(
        db.session.execute(
            select(Payment.reference, CycleMember.nik).join(CycleMember, CycleMember.id == Payment.member_id)
        ).all()
    )
    assert failed == {r for r in refs if outcome(nik[r], "BRI")}
    taken = audit("cycle.callback_taken")
    assert len(taken) == 3 and {e.actor for e in taken} == {"bank:BRI"}
    # The file channels as before; the last reconciled batch moves the cycle on.
    for channel in ("BNI", "POS"):
        b = batch(channel)
        import_and_advance(
            svc.engine,
            b,
            "".join(results_lines(list(batch_csv_lines(db.session, b)), TODAY)).encode(),
            "hasil.csv",
            fin["fin2"],
        )
        db.session.commit()
    assert cycle().status == "reconciled"
    # The cycle page says which batch went by API (an auditor reads it).
    create_officer(db.session, "aud", "AUD", ["auditor"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as reader:
        assert officer_login(reader, "aud").status_code == 302
        page = reader.get("/cycles/PKH-TEST-T1").get_data(as_text=True)
    assert page.count("Dikirim lewat API bank") + page.count("Sent by the bank API") == 1
    # The draw stage arrives by callback too.
    answers = sim.post_callbacks(bri.reference, TODAY, stage="draw", post=poster(client))
    assert all(a.status_code == 200 for a in answers)
    assert (
        db.session.scalar(select(func.count()).where(Payment.batch_id == bri.id, Payment.status == "drawn"))
        == sum(a.get_json()["accepted"] for a in answers)
        > 0
    )


def test_unsigned_badly_signed_stale_and_replayed_callbacks_are_refused_and_audited(svc, ctx, sim, http_bri):
    _dispatch(svc, _approved(svc, families=9))
    bri = batch("BRI")
    client = ctx.test_client()
    results = sim.results(bri.reference, TODAY)
    body, headers = sim.callback(bri.reference, results, "cb-1")
    unsigned = client.post(CALLBACK, data=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.get_json()["error"] == "UNSIGNED"
    _, forged = sim.callback(bri.reference, results, "cb-1", secret="guessed")
    assert client.post(CALLBACK, data=body, headers=forged).status_code == 401
    tampered = body.replace(b'"CREDITED"', b'"FAILED"', 1)
    assert client.post(CALLBACK, data=tampered, headers=headers).status_code == 401
    stale_body, stale = sim.callback(bri.reference, results, "cb-0", timestamp=1_700_000_000)
    answer = client.post(CALLBACK, data=stale_body, headers=stale)
    assert answer.status_code == 403 and answer.get_json()["error"] == "STALE"
    assert db.session.scalar(select(func.count()).where(Payment.batch_id == bri.id, Payment.status != "sent")) == 0
    assert client.post(CALLBACK, data=body, headers=headers).status_code == 200
    replay = client.post(CALLBACK, data=body, headers=headers)
    assert replay.status_code == 403 and replay.get_json()["error"] == "REPLAY"
    assert [e.detail["reason"] for e in audit("cycle.callback_refused")] == [
        "UNSIGNED",
        "BAD_SIGNATURE",
        "BAD_SIGNATURE",
        "STALE",
        "REPLAY",
    ]
    assert batch("BRI").status == "reconciled"


def test_callback_lines_are_refused_one_by_one_with_the_results_files_reasons(svc, ctx, sim, http_bri):
    _dispatch(svc, _approved(svc, families=9))
    bri, bni = batch("BRI"), batch("BNI")
    good = sim.results(bri.reference, TODAY)
    other = db.session.scalar(select(Payment.reference).where(Payment.batch_id == bni.id).limit(1))
    lines = [
        good[0],
        {**good[1], "reference": "PKH-TEST-T1-999999-1"},
        good[0],
        {**good[2], "amount": good[2]["amount"] + 1},
        {**good[2], "reference": "=HYPERLINK(1)"},
        {**good[2], "status": "MAYBE"},
        {**good[2], "reference": other},
        "not an object",
    ]
    body, headers = sim.callback(bri.reference, lines, "cb-mixed")
    answer = ctx.test_client().post(CALLBACK, data=body, headers=headers)
    assert answer.status_code == 200
    out = answer.get_json()
    assert out["accepted"] == 1
    assert [(r["line"], r["code"]) for r in out["refusals"]] == [
        (2, "UNKNOWN_REFERENCE"),
        (3, "DUPLICATE"),
        (4, "AMOUNT_MISMATCH"),
        (5, "MALFORMED"),
        (6, "BAD_STATUS"),
        (7, "OTHER_BATCH"),
        (8, "MALFORMED"),
    ]
    assert batch("BRI").status == "partial"  # partial results are normal
    # A signed body that is no results callback is refused whole, with the reason.
    for junk in (b"not json", b'{"batch": "x"}', b"[1, 2]"):
        stamp = str(int(time.time()))
        answer = ctx.test_client().post(
            CALLBACK,
            data=junk,
            headers={"X-Tepat-Timestamp": stamp, "X-Tepat-Signature": sign(SECRETS["BRI"], stamp, junk)},
        )
        assert answer.status_code == 400 and answer.get_json()["error"] == "MALFORMED"
    # A callback about a batch that does not exist is refused whole.
    body, headers = sim.callback("NO-SUCH-BATCH", good, "cb-x", channel="BRI")
    assert ctx.test_client().post(CALLBACK, data=body, headers=headers).status_code == 404


def test_a_timed_out_dispatch_is_retried_by_the_engine_and_pays_once(svc, sim, http_bri):
    fin = _approved(svc, families=9)
    sim.fail("slow", times=3)  # every attempt of the step's call times out; the bank took the batch anyway
    _dispatch(svc, fin)
    assert sim.requests["BRI"] == 3 and len(sim.paid()) == 3
    assert batch("BRI").status == "ready" and cycle().status != "dispatched"  # the step waits for its retry
    with later(1):
        assert wake_all(svc) == 1
    assert batch("BRI").status == "dispatched" and cycle().status == "dispatched"
    assert sim.requests["BRI"] == 4 and set(sim.payouts.values()) == {1} and len(sim.payouts) == 3


def test_a_reference_the_bank_knows_with_another_amount_stops_the_dispatch_as_an_incident(svc, sim, http_bri):
    fin = _approved(svc, families=9)
    first = db.session.scalars(
        select(Payment).join(PaymentBatch).where(PaymentBatch.channel == "BRI").order_by(Payment.reference)
    ).first()
    nik = db.session.get(CycleMember, first.member_id).nik
    taken = httpx.post(
        sim.url("BRI") + "/batches",
        headers={"Idempotency-Key": "x"},
        json={
            "batch": "OLD",
            "channel": "BRI",
            "count": 1,
            "total": 1000,
            "payments": [{"reference": first.reference, "nik": nik, "account": first.account, "amount": 1000}],
        },
    )
    assert taken.status_code == 201
    _dispatch(svc, fin)
    incident = db.session.scalars(select(Incident).where(Incident.status == "open")).one()
    assert "BatchConflict" in incident.error or "REFERENCE" in incident.error.upper()
    assert len(sim.paid()) == 1 and batch("BRI").status == "ready"


def test_a_callback_signed_with_another_channels_secret_is_refused_and_audited(svc, ctx, sim, http_bri):
    _dispatch(svc, _approved(svc, families=9))
    bri = batch("BRI")
    client = ctx.test_client()
    results = sim.results(bri.reference, TODAY)
    # BNI's bank (or whoever holds BNI's secret) reports on BRI's batch: a valid signature, the wrong signer.
    body, headers = sim.callback(bri.reference, results, "cb-bni", secret=SECRETS["BNI"])
    answer = client.post(CALLBACK, data=body, headers=headers)
    assert answer.status_code == 403 and answer.get_json()["error"] == "WRONG_CHANNEL"
    assert db.session.scalar(select(func.count()).where(Payment.batch_id == bri.id, Payment.status != "sent")) == 0
    refused = audit("cycle.callback_refused")[-1]
    assert refused.detail["reason"] == "WRONG_CHANNEL" and refused.detail["signed_by"] == "BNI"
    assert refused.detail["batch"] == bri.reference and refused.actor == "bank"
    # BRI's own secret is taken.
    body, headers = sim.callback(bri.reference, results, "cb-bri")
    assert client.post(CALLBACK, data=body, headers=headers).status_code == 200
    assert batch("BRI").status == "reconciled"


def test_a_rotated_secret_is_taken_beside_the_new_one_until_it_is_removed(svc, ctx, sim, http_bri, monkeypatch):
    _dispatch(svc, _approved(svc, families=9))
    bri = batch("BRI")
    client = ctx.test_client()
    old, new = SECRETS["BRI"], "bri-callback-secret-0002"
    monkeypatch.setitem(
        http_bri, "BANSOS_PAYMENT_CALLBACK_SECRETS", {"BRI": {"current": new, "previous": old}, "BNI": SECRETS["BNI"]}
    )
    results = sim.results(bri.reference, TODAY)
    body, headers = sim.callback(bri.reference, results[:1], "cb-old", secret=old)
    assert client.post(CALLBACK, data=body, headers=headers).status_code == 200
    assert [e.detail["channel"] for e in audit("cycle.callback_previous_secret")] == ["BRI"]
    body, headers = sim.callback(bri.reference, results[1:2], "cb-new", secret=new)
    assert client.post(CALLBACK, data=body, headers=headers).status_code == 200
    assert len(audit("cycle.callback_previous_secret")) == 1  # the current secret is not worth a note
    # The rotation is over: the old secret is refused.
    monkeypatch.setitem(http_bri, "BANSOS_PAYMENT_CALLBACK_SECRETS", {"BRI": new, "BNI": SECRETS["BNI"]})
    body, headers = sim.callback(bri.reference, results[2:3], "cb-late", secret=old)
    answer = client.post(CALLBACK, data=body, headers=headers)
    assert answer.status_code == 401 and answer.get_json()["error"] == "BAD_SIGNATURE"
    # No secret at all: every callback is refused.
    monkeypatch.setitem(http_bri, "BANSOS_PAYMENT_CALLBACK_SECRETS", {})
    body, headers = sim.callback(bri.reference, results[2:3], "cb-none", secret=new)
    answer = client.post(CALLBACK, data=body, headers=headers)
    assert answer.status_code == 403 and answer.get_json()["error"] == "NOT_CONFIGURED"
    assert db.session.scalar(select(func.count()).where(Payment.batch_id == bri.id, Payment.status != "sent")) == 2


@pytest.mark.parametrize(
    "value, problem",
    [
        ({"XYZ": "x" * 20}, "unknown channel"),
        ({"BRI": "short"}, "at least 16"),
        ({"BRI": "s" * 20, "BNI": "s" * 20}, "its own secret"),
        ({"BRI": {"current": "s" * 20, "previous": "s" * 20}}, "its own secret"),
        ({"BRI": {"current": "s" * 20, "older": "t" * 20}}, "current"),
        (["s" * 20], "must map"),
    ],
)
def test_callback_secrets_are_checked_per_channel(value, problem):
    from payments.dispatch import callback_secrets

    with pytest.raises(ValueError, match=problem):
        callback_secrets({"BANSOS_PAYMENT_CALLBACK_SECRETS": value})
    with pytest.raises(ValueError, match="replaced by BANSOS_PAYMENT_CALLBACK_SECRETS"):
        callback_secrets({"BANSOS_PAYMENT_CALLBACK_SECRET": "one-for-every-bank"})
    assert callback_secrets(
        {"BANSOS_PAYMENT_CALLBACK_SECRETS": {"BRI": "b" * 16, "POS": {"current": "p" * 16, "previous": "q" * 16}}}
    ) == {"BRI": ("b" * 16, None), "POS": ("p" * 16, "q" * 16)}


def test_the_services_refuse_the_old_single_secret_or_a_shared_one(ctx):
    from flask import current_app

    from web import build_services

    for bad in (
        {"BANSOS_PAYMENT_CALLBACK_SECRET": "one-secret-for-every-bank"},
        {"BANSOS_PAYMENT_CALLBACK_SECRETS": {"BRI": "same-secret-for-two", "BNI": "same-secret-for-two"}},
    ):
        with pytest.raises(ValueError, match="BANSOS_PAYMENT_CALLBACK_SECRET"):
            build_services({**current_app.config, **bad})


def test_a_dispatch_stopped_between_parts_goes_on_after_the_last_part_taken(svc, sim, http_bri, monkeypatch):
    """Each part the bank took is committed as it comes (PostgreSQL: on a connection of its own): the step run
    again after a crash sends only the parts left. SQLite has one writer (the step's): it sends them all
    again, and the bank's idempotent references pay nobody twice."""
    import integrations.http.paying_bank as paying_bank
    from payments.dispatch import build_bank

    _approved(svc)
    monkeypatch.setattr(paying_bank, "SEND_CHUNK", 3)  # BRI's 10 payments: 4 parts
    real = build_bank(http_bri, sim.url("BRI"))

    class Dying:
        calls = 0

        def send_part(self, *args):
            Dying.calls += 1
            if Dying.calls == 3:
                raise RuntimeError("worker killed")
            return real.send_part(*args)

    with pytest.raises(RuntimeError):
        send_batches(db.session, cycle().id, http_bri, banks={"BRI": Dying()})
    db.session.rollback()
    assert len(sim.paid()) == 6
    postgres = db.session.get_bind().dialect.name == "postgresql"
    assert (batch("BRI").sent_parts, batch("BRI").status) == ((2 if postgres else 0), "ready")
    out = send_batches(db.session, cycle().id, http_bri, banks={"BRI": real})
    db.session.commit()
    real.close()
    assert out[0]["parts"] == (2 if postgres else 4) and out[0]["resumed_after"] == (2 if postgres else 0)
    assert batch("BRI").sent_parts == 4 and len(sim.payouts) == 10 and set(sim.payouts.values()) == {1}
