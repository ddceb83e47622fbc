"""Dispatch by bank file, results files, reconciliation, follow-up and the return timer, on the real engine."""

import hashlib
import io
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from cases.audit import AuditEntry
from engine.db import db
from engine.models import HumanTask, ProcessInstance
from integrations.sandbox.paying_bank import outcome, results_lines
from integrations.sandbox.tables import outbox
from payments.bankfile import bank_name, batch_csv_lines, batch_xlsx
from payments.cycles import open_cycle
from payments.models import Payment, PaymentBatch, PaymentCycle
from payments.results import error_workbook
from tests.helpers import later, wake_all
from tests.integration.payment_support import family, finance_officers, schedule, take_uploads
from tests.integration.test_payment_cycles import cycle, do

TODAY = date.today()


@pytest.fixture
def dispatched(svc):
    """A PKH cycle of 60 families over BRI, BNI and the post office, approved and sent under an SP2D."""
    fin = finance_officers()
    for n in range(60):
        channel = ("BRI", "BNI", "POS")[n % 3]
        family(
            [("PKH", "SD", 1 + n % 2)],
            district=f"{1 + n % 4:02d}",
            channel=channel,
            account=None if channel == "POS" else f"00{n:08d}",
            name=f"Ibu Nur'aini {n} (Ny.)",
        )
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    do(svc, "dispatch_batches", fin["fin1"], {"sp2d_number": "SP2D-0042/2026", "sp2d_date": TODAY.isoformat()})
    return fin


def batch(channel):
    db.session.expire_all()
    return db.session.execute(select(PaymentBatch).where(PaymentBatch.channel == channel)).scalar_one()


def file_of(batch_row):
    return list(batch_csv_lines(db.session, batch_row))


def upload(svc, batch_row, lines, actor, name="hasil.csv"):
    """A results file as the cycle page takes it: kept, then checked and taken by the runs (as the in-process
    scheduler or the workers do); return the import row afterwards."""
    from flask import current_app

    from payments.models import PaymentResultImport
    from payments.results import receive_results
    from tests.integration.payment_support import take_uploads

    data = "".join(lines).encode() if isinstance(lines, list) else lines
    folder = Path(current_app.config["BANSOS_IMPORT_DIR"]) / "results"
    row, _run = receive_results(svc.engine, batch_row, data, name, actor, folder)
    row_id = row.id
    db.session.commit()
    assert db.session.get(PaymentResultImport, row_id).status == "received"  # nothing read in the request
    take_uploads(svc)
    return db.session.get(PaymentResultImport, row_id)


def test_the_batch_file_has_a_control_header_that_matches_its_lines(svc, dispatched):
    bri = batch("BRI")
    lines = file_of(bri)
    header = lines[0].rstrip("\n").split(",")
    assert header[:5] == ["H", "PKH-TEST-T1-BRI", "BRI", str(bri.count), str(bri.total)]
    details = [line.rstrip("\n").split(",") for line in lines[1:]]
    assert len(details) == bri.count == 20 and sum(int(d[5]) for d in details) == bri.total
    assert header[5] == hashlib.sha256("".join(lines[1:]).encode()).hexdigest() == bri.control_hash
    # Names as banks take them: no special characters.
    assert all(d[3] == bank_name(d[3]) and "(" not in d[3] for d in details)
    assert bank_name("Ibu Nur'aini (Ny.) Sé") == "IBU NUR'AINI NY. SE"
    book = io.BytesIO()
    batch_xlsx(db.session, bri, book)
    sheets = load_workbook(io.BytesIO(book.getvalue()), read_only=True)
    assert [c.value for c in next(sheets["Kontrol"].iter_rows(min_row=2))] == [
        "PKH-TEST-T1-BRI",
        "BRI",
        bri.count,
        bri.total,
        bri.control_hash,
    ]
    assert len(list(sheets["Pembayaran"].iter_rows(values_only=True))) == bri.count + 1
    # A bank refuses a file whose lines were changed after the header was made.
    tampered = [lines[0], lines[1].replace(details[0][5], str(int(details[0][5]) + 1)), *lines[2:]]
    with pytest.raises(ValueError):
        results_lines(tampered, TODAY)


def test_results_reconcile_the_cycle_then_the_return_timer_returns_undrawn_money(svc, dispatched):
    fin = dispatched
    c = cycle()
    assert c.status == "dispatched" and c.return_at is not None
    assert (c.return_at - c.sp2d_at).days == 105
    # Partial results first: normal, the batch waits for the rest.
    bri = batch("BRI")
    credit = results_lines(file_of(bri), TODAY)
    first = [f"H,{bri.reference},10,{sum(int(x.split(',')[2]) for x in credit[1:11])}\n", *credit[1:11]]
    row = upload(svc, bri, first, fin["fin1"])
    assert (row.status, row.accepted, row.refused) == ("applied", 10, 0)
    assert batch("BRI").status == "partial" and cycle().status == "dispatched"
    # The whole file again: the ten taken before are repeats, nothing is paid or counted twice.
    row = upload(svc, bri, credit, fin["fin1"])
    assert (row.accepted, row.repeated, row.refused) == (10, 10, 0)
    assert batch("BRI").status == "reconciled"
    for channel in ("BNI", "POS"):
        upload(svc, batch(channel), results_lines(file_of(batch(channel)), TODAY), fin["fin2"])
    c = cycle()
    # Every batch reconciled: the process took the message, followed up failures and waits for the return date.
    assert c.status == "reconciled"
    failed = db.session.scalars(select(Payment).where(Payment.status == "failed")).all()
    assert all(p.next_action for p in failed)
    # Each family paid was told once, by SMS and in the portal; importing a file again tells nobody twice.
    paid = db.session.scalars(select(Payment).where(Payment.status.in_(("credited", "drawn")))).all()
    sms = db.session.execute(
        select(outbox.c.recipient_nik, outbox.c.params).where(
            outbox.c.template == "payment_paid", outbox.c.channel == "SMS"
        )
    ).all()
    assert sorted(n for n, _ in sms) == sorted(_nik(p) for p in paid) and all(p.notified_at for p in paid)
    assert sms[0].params["amount"].startswith("Rp ") and sms[0].params["cycle"] == "PKH-TEST-T1"
    upload(svc, bri, credit, fin["fin1"])
    assert db.session.scalar(
        select(func.count()).select_from(outbox).where(outbox.c.template == "payment_paid")
    ) == 2 * len(paid)
    expected_failures = {p.reference for p in db.session.scalars(select(Payment)) if outcome(_nik(p), p.channel)}
    assert {p.reference for p in failed} == expected_failures
    # The families drew part of the money at the banks.
    for channel in ("BRI", "BNI"):
        upload(svc, batch(channel), results_lines(file_of(batch(channel)), TODAY, stage="draw"), fin["fin1"])
    credited = db.session.scalar(select(func.count()).where(Payment.status == "credited"))
    credited_sum = db.session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.status == "credited")
    )
    assert wake_all(svc) == 0  # nothing is due before the return date
    with later(106):
        assert wake_all(svc) == 1
    c = cycle()
    assert c.status == "closed" and c.closed_at is not None
    assert db.session.scalar(select(func.count()).where(Payment.status == "returned")) == credited
    assert db.session.scalar(select(func.count()).where(Payment.status == "credited")) == 0
    instance = db.session.get(ProcessInstance, c.instance_id)
    assert instance.status == "completed"
    returned = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.return_undrawn")).one()
    assert returned.detail["result"] == {"returned": credited, "total": credited_sum}


def _nik(payment):
    from payments.models import CycleMember

    return db.session.get(CycleMember, payment.member_id).nik


def test_hostile_results_are_refused_line_by_line_with_reasons(svc, dispatched):
    fin = dispatched
    bri, bni = batch("BRI"), batch("BNI")
    good = results_lines(file_of(bri), TODAY)[1:]
    other = results_lines(file_of(bni), TODAY)[1:2]
    ref, amount = good[0].split(",")[1:3]
    lines = [
        good[0],
        good[0],  # duplicate in the file
        good[1].replace(f",{good[1].split(',')[2]},", f",{int(good[1].split(',')[2]) + 1},"),  # amount mismatch
        f"R,PKH-TEST-T1-999999-1,{amount},CREDITED,,{TODAY}\n",  # unknown reference
        other[0],  # a payment of another batch
        f'R,=HYPERLINK("http://x"),{amount},CREDITED,,{TODAY}\n',  # a formula: malformed
        f"R,{good[2].split(',')[1]},{good[2].split(',')[2]},CREDITED,DORMANT,{TODAY}\n",  # code without failure
        f"R,{good[3].split(',')[1]},{good[3].split(',')[2]},BOUNCED,,{TODAY}\n",  # unknown status
    ]
    total = sum(int(x.split(",")[2]) for x in lines)
    row = upload(svc, bri, [f"H,{bri.reference},{len(lines)},{total}\n", *lines], fin["fin1"])
    assert row.status == "applied" and (row.accepted, row.refused) == (1, 7)
    codes = [(r["line"], r["code"]) for r in row.refusals]
    assert codes == [
        (3, "DUPLICATE"),
        (4, "AMOUNT_MISMATCH"),
        (5, "UNKNOWN_REFERENCE"),
        (6, "OTHER_BATCH"),
        (7, "MALFORMED"),
        (8, "BAD_FAILURE_CODE"),
        (9, "BAD_STATUS"),
    ]
    assert db.session.scalar(select(func.count()).where(Payment.status != "sent")) == 1
    book = io.BytesIO()
    error_workbook(row, book)
    rows = list(load_workbook(io.BytesIO(book.getvalue()), read_only=True)["Ditolak"].iter_rows(values_only=True))
    assert rows[0][0] == "baris / line" and len(rows) == 8
    assert rows[2][2:] == (
        "AMOUNT_MISMATCH",
        "Jumlah tidak sama dengan pembayaran",
        "The amount differs from the payment",
    )
    assert not any(str(cell).startswith("=") for r in rows for cell in r if cell is not None)
    # A result that contradicts one taken before is refused, not applied.
    flipped = (
        good[0].replace(",CREDITED,,", ",FAILED,DORMANT,")
        if ",CREDITED,," in good[0]
        else good[0].replace(",FAILED,", ",CREDITED,").rsplit(",", 2)[0] + ",," + str(TODAY) + "\n"
    )
    row = upload(svc, bri, [f"H,{bri.reference},1,{amount}\n", flipped], fin["fin1"])
    assert [r["code"] for r in row.refusals] == ["CONFLICT"]


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda b, g: [f"H,{b.reference},{len(g)},1\n", *g], "CONTROL_TOTALS"),
        (lambda b, g: [f"H,{b.reference},{len(g) + 1},{_sum(g)}\n", *g], "CONTROL_TOTALS"),
        (lambda b, g: [f"H,PKH-TEST-T1-BNI,{len(g)},{_sum(g)}\n", *g], "WRONG_BATCH"),
        (lambda b, g: g, "NO_HEADER"),
        (lambda b, g: b"\xff\xfe" + "".join(g).encode("utf-16-le"), "NOT_TEXT"),
        (lambda b, g: b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "NO_HEADER"),
    ],
)
def test_a_wrong_results_file_is_refused_whole(svc, dispatched, make, reason):
    bri = batch("BRI")
    good = results_lines(file_of(bri), TODAY)[1:]
    row = upload(svc, bri, make(bri, good), dispatched["fin1"])
    assert row.status == "refused" and row.refusals[0]["code"] == reason and row.accepted == 0
    assert db.session.scalar(select(func.count()).where(Payment.status != "sent")) == 0
    assert batch("BRI").status == "dispatched"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.results_refused")).one()
    assert entry.detail["reason"] == reason


def _sum(lines):
    return sum(int(x.split(",")[2]) for x in lines)


def test_results_before_dispatch_are_refused(svc):
    fin = finance_officers()
    family([("PKH", "SD", 1)])
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    bri = batch("BRI")
    row = upload(svc, bri, results_lines(file_of(bri), TODAY), fin["fin1"])
    assert row.status == "refused" and row.refusals[0]["code"] == "NOT_DISPATCHED"
    assert db.session.get(PaymentCycle, bri.cycle_id).status == "approved"


def _through_dispatch(svc, fin, code):
    open_cycle(svc.engine, schedule(), code, fin["fin1"])
    db.session.commit()
    key = f"CYCLE-{code}"
    for bpmn_id, actor, data in (
        ("prepare_cycle", "fin1", {"prepare_decision": "submit"}),
        ("approve_cycle", "fin2", {"cycle_approval_decision": "approve"}),
        ("dispatch_batches", "fin1", {"sp2d_number": "SP2D-9", "sp2d_date": TODAY.isoformat()}),
    ):
        from engine.humantasks import claim_task, complete_task
        from engine.models import HumanTask

        row = db.session.execute(
            select(HumanTask).where(
                HumanTask.business_key == key, HumanTask.bpmn_id == bpmn_id, HumanTask.status == "open"
            )
        ).scalar_one()
        claim_task(svc.engine, row.id, fin[actor])
        db.session.commit()
        complete_task(svc.engine, row.id, fin[actor], data)
        db.session.commit()
    return db.session.execute(select(PaymentCycle).where(PaymentCycle.code == code)).scalar_one()


def test_failures_to_retry_or_switch_to_the_post_office_are_paid_as_arrears_in_the_next_cycle(svc, officers):
    from cases.models import Application
    from payments.models import CycleMember, Entitlement
    from tests.helpers import work

    fin = finance_officers()
    closed, over_limit, mismatch, fine = (family([("PKH", "SD", 1)], account=f"9{n}") for n in range(4))
    db.session.commit()
    first = _through_dispatch(svc, fin, "PKH-TEST-T1")
    bri = batch("BRI")
    outcomes = {
        closed.id: ("FAILED", "ACCOUNT_CLOSED"),
        over_limit.id: ("FAILED", "OVER_LIMIT"),
        mismatch.id: ("FAILED", "NAME_MISMATCH"),
        fine.id: ("CREDITED", ""),
    }
    lines = []
    for payment in db.session.scalars(select(Payment).where(Payment.cycle_id == first.id)):
        status, code = outcomes[db.session.get(CycleMember, payment.member_id).application_id]
        lines.append(f"R,{payment.reference},{payment.amount},{status},{code},{TODAY}\n")
    upload(svc, bri, [f"H,{bri.reference},4,{_sum(lines)}\n", *lines], fin["fin1"])
    assert cycle("PKH-TEST-T1").status == "reconciled"
    actions = {
        db.session.get(CycleMember, p.member_id).application_id: p.next_action
        for p in db.session.scalars(select(Payment).where(Payment.status == "failed"))
    }
    assert actions == {closed.id: "switch_to_pos", over_limit.id: "retry_next_cycle", mismatch.id: "review"}
    # The failure on the family's data went to a caseworker of its district; the family is suspended meanwhile.
    db.session.expire_all()
    review = db.session.execute(select(HumanTask).where(HumanTask.bpmn_id == "review_payment")).scalar_one()
    assert (review.queue, review.region, review.business_key) == ("caseworker", "01", mismatch.case_number)
    assert db.session.get(Application, mismatch.id).status == "PAYMENT_REVIEW"

    second = _through_dispatch(svc, fin, "PKH-TEST-T2")
    members = {
        m.application_id: m for m in db.session.scalars(select(CycleMember).where(CycleMember.cycle_id == second.id))
    }
    arrears = {
        e.member_id: e.amount
        for e in db.session.scalars(
            select(Entitlement).where(Entitlement.cycle_id == second.id, Entitlement.category == "arrears")
        )
    }
    # The retried and the switched family get the stage they missed; the one waiting for review does not.
    assert arrears == {members[closed.id].id: 225_000, members[over_limit.id].id: 225_000}
    assert members[closed.id].channel == "POS" and members[closed.id].account is None
    assert members[over_limit.id].channel == "BRI"
    paid = {
        p.member_id: (p.channel, p.amount)
        for p in db.session.scalars(select(Payment).where(Payment.cycle_id == second.id))
    }
    assert paid[members[closed.id].id] == ("POS", 450_000) and mismatch.id not in members  # suspended
    carried = db.session.scalars(
        select(Payment.carried_to_cycle_id).where(Payment.cycle_id == first.id, Payment.status == "failed")
    ).all()
    assert sorted(carried, key=str) == sorted([second.id, second.id, None], key=str)
    # The caseworker decides: through PT Pos. The family is back on the next list, paid the missed stage too.
    work(
        svc,
        mismatch.case_number,
        "review_payment",
        officers["cw1"],
        {"payment_review_decision": "switch_to_pos", "payment_review_notes": "nama di bank salah eja"},
    )
    assert db.session.get(Application, mismatch.id).status == "ENROLLED"
    third = _through_dispatch(svc, fin, "PKH-TEST-T3")
    member = db.session.execute(
        select(CycleMember).where(CycleMember.cycle_id == third.id, CycleMember.application_id == mismatch.id)
    ).scalar_one()
    assert (
        member.channel,
        db.session.execute(select(Payment.amount).where(Payment.member_id == member.id)).scalar_one(),
    ) == ("POS", 450_000)


def test_a_crash_during_the_import_keeps_the_chunks_taken_and_the_import_resumes(svc, dispatched, monkeypatch):
    """The import is taken in chunks, each its own transaction: a crash loses only the chunk it was in; the run
    resumes it (after the item's backoff) and finishes the import once; nothing is taken twice."""
    import payments.results as results
    from engine.runs import Run, RunItem
    from payments.models import PaymentResultImport
    from payments.runs import run_inline

    monkeypatch.setattr(results, "ITEM_LINES", 6)  # 20 lines: 4 chunks
    bri = batch("BRI")
    answer = results_lines(file_of(bri), TODAY)
    real_take = results.take_lines

    def crash_on_the_third(session, row, batch_row, first, last):
        if first > 12:
            raise RuntimeError("worker killed")
        return real_take(session, row, batch_row, first, last)

    monkeypatch.setattr(results, "take_lines", crash_on_the_third)
    row = upload(svc, bri, answer, dispatched["fin1"])
    assert row.status == "importing" and row.accepted == 0
    # Lines 2..13 (the first two chunks) are taken and stay taken; the rest wait for the run to try again.
    assert db.session.scalar(select(func.count()).where(Payment.batch_id == bri.id, Payment.status != "sent")) == 12
    assert batch("BRI").status == "dispatched"
    run = db.session.scalars(select(Run).where(Run.kind == "payment_results")).one()
    assert (
        run.status == "running"
        and db.session.scalar(
            select(func.count())
            .select_from(RunItem)
            .where(RunItem.run_id == run.id, RunItem.status == "pending", RunItem.error.is_not(None))
        )
        == 2
    )
    monkeypatch.setattr(results, "take_lines", real_take)
    with later(1):  # after the items' backoff
        run_inline(svc.engine, run.id)
        db.session.expire_all()
        row = db.session.get(PaymentResultImport, row.id)
        assert (row.status, row.accepted, row.repeated, row.refused) == ("applied", 20, 0, 0)
        assert batch("BRI").status == "reconciled"
        assert db.session.get(Run, run.id).status == "done"
        # The same file again: every line a repeat.
        again = upload(svc, batch("BRI"), answer, dispatched["fin1"])
        assert (again.accepted, again.repeated) == (0, 20)


def test_a_crash_while_the_file_is_checked_loses_nothing_and_the_run_checks_it_again(svc, dispatched, monkeypatch):
    """The file's check and staging is one item, one transaction: a worker dying in it (here: after the first
    lines were staged) rolls it all back; the import stays "received", and the item, run again after its backoff,
    stages the file once and the lines are taken once."""
    import payments.results as results
    from engine.runs import Run, RunItem
    from payments.models import PaymentResultImport, PaymentResultLine
    from payments.runs import RESULTS, RESULTS_FILE

    monkeypatch.setattr(results, "STAGE_ROWS", 5)  # 20 lines: staged 5 at a time
    bri = batch("BRI")
    answer = results_lines(file_of(bri), TODAY)
    real_flush = results._Stager.flush
    calls = {"n": 0}

    def dies_on_the_second_flush(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real_flush(self)

    monkeypatch.setattr(results._Stager, "flush", dies_on_the_second_flush)
    row = upload(svc, bri, answer, dispatched["fin1"])
    assert calls["n"] == 2 and row.status == "received" and row.lines == 0
    assert db.session.scalar(select(func.count()).select_from(PaymentResultLine)) == 0  # the first flush rolled back
    assert db.session.scalar(select(func.count()).where(Payment.status != "sent")) == 0
    file_run = db.session.scalars(select(Run).where(Run.kind == RESULTS_FILE)).one()
    item = db.session.scalars(select(RunItem).where(RunItem.run_id == file_run.id)).one()
    assert item.status == "pending" and "worker killed" in item.error
    assert db.session.scalar(select(func.count()).select_from(Run).where(Run.kind == RESULTS)) == 0
    monkeypatch.setattr(results._Stager, "flush", real_flush)
    with later(1):  # after the item's backoff
        take_uploads(svc)
        row = db.session.get(PaymentResultImport, row.id)
        assert (row.status, row.lines, row.accepted, row.repeated, row.refused) == ("applied", 20, 20, 0, 0)
        assert db.session.scalar(select(func.count()).select_from(PaymentResultLine)) == 20
        assert batch("BRI").status == "reconciled"
        runs = db.session.scalars(select(Run).order_by(Run.id).where(Run.kind.in_((RESULTS_FILE, RESULTS)))).all()
        assert [(r.kind, r.status) for r in runs] == [(RESULTS_FILE, "done"), (RESULTS, "done")]
        assert runs[0].result["control"] == {"count": 20, "total": batch("BRI").total}
        assert runs[0].result["take_run"] == runs[1].id
        # Run again (a redelivered hint): nothing happens twice.
        assert take_uploads(svc) == 0
    received = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.results_received")).one()
    assert received.detail["import_id"] == row.id and received.detail["bytes"] == len("".join(answer).encode())
    assert len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.results_imported")).all()) == 1


def test_a_kept_file_gone_before_its_check_is_refused_with_a_reason(svc, dispatched):
    """The file is kept on disk between the upload and its check; if it is gone the import is refused, audited."""
    from flask import current_app

    from payments.models import PaymentResultImport
    from payments.results import receive_results
    from tests.integration.payment_support import take_uploads

    bri = batch("BRI")
    data = "".join(results_lines(file_of(bri), TODAY)).encode()
    folder = Path(current_app.config["BANSOS_IMPORT_DIR"]) / "results"
    row, run = receive_results(svc.engine, bri, data, "hasil.csv", dispatched["fin1"], folder)
    db.session.commit()
    kept = Path(run.params["path"])
    assert kept.parent == folder and kept.read_bytes() == data and kept.suffix == ".csv"
    kept.unlink()
    take_uploads(svc)
    row = db.session.get(PaymentResultImport, row.id)
    assert row.status == "refused" and row.refusals[0]["code"] == "NOT_STORED"
    assert batch("BRI").status == "dispatched"
    assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.results_refused")).one()


def test_the_lines_read_are_reported_beside_the_check_on_postgresql(svc, dispatched, monkeypatch):
    """While a worker checks a file (one transaction), the lines read so far are written on its run from another
    connection, for the page's panel; the check is not blocked by it (PostgreSQL: SQLite has one writer)."""
    import payments.results as results
    import payments.runs as runs
    from engine.runs import Run

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's one writer is the check's until it commits: no progress beside it")
    monkeypatch.setattr(results, "STAGE_ROWS", 5)  # 20 lines: told every 5
    real, seen = runs._lines_reporter, []

    def reporting_at_once(session, run_id, every=2.0):
        report = real(session, run_id, every=0)

        def spy(lines):
            report(lines)
            with db.engine.connect() as other:  # what the page's request reads meanwhile
                seen.append(other.execute(select(Run.result).where(Run.id == run_id)).scalar_one())

        return spy

    monkeypatch.setattr(runs, "_lines_reporter", reporting_at_once)
    row = upload(svc, batch("BRI"), results_lines(file_of(batch("BRI")), TODAY), dispatched["fin1"])
    assert row.status == "applied" and row.accepted == 20
    assert seen == [{"lines_read": n} for n in (5, 10, 15, 20)]
