"""`tepat cycle`: check, open, show, batch files, the sandbox bank and results, with role and district checks."""

from datetime import date

from flask import current_app
from sqlalchemy import select

from cases.audit import AuditEntry
from engine.db import db
from payments.cycles import open_cycle
from payments.models import PaymentCycle
from tests.integration.payment_support import family, finance_officers, schedule
from tests.integration.test_payment_cycles import do


def run(runner, *args, code=0):
    result = runner.invoke(args=list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_a_cycle_from_the_command_line(svc, officers, tmp_path):
    runner = current_app.test_cli_runner()
    fin = finance_officers()
    assert "PKH-2026-T4" in run(runner, "cycle", "check")
    assert "Tidak diizinkan" in run(runner, "cycle", "open", "BPNT-2026-T4", "--as", "cw1", code=2)
    assert "BPNT-2026-T4" in run(runner, "cycle", "open", "BPNT-2026-T4", "--as", "fin1")
    assert "CYCLE_EXISTS" in run(runner, "cycle", "open", "BPNT-2026-T4", "--as", "fin1", code=2)
    for n in range(6):
        family([("PKH", "SD", 1)], channel="BRI", account=f"12{n}")
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"}, "PKH-TEST-T1")
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"}, "PKH-TEST-T1")
    do(
        svc,
        "dispatch_batches",
        fin["fin1"],
        {"sp2d_number": "SP2D-7", "sp2d_date": date.today().isoformat()},
        "PKH-TEST-T1",
    )
    assert "PKH-TEST-T1-BRI: dispatched, 6 payments" in run(runner, "cycle", "show", "PKH-TEST-T1")
    batch_file, answer = tmp_path / "bri.csv", tmp_path / "hasil.csv"
    assert "NOT_ALLOWED" in run(
        runner, "cycle", "batch-file", "PKH-TEST-T1", "BRI", "--out", str(batch_file), "--as", "fin_far", code=2
    )  # an officer of one district: not the regency's file
    assert not batch_file.exists()
    run(runner, "cycle", "batch-file", "PKH-TEST-T1", "BRI", "--out", str(batch_file), "--as", "fin1")
    assert batch_file.read_text().startswith("H,PKH-TEST-T1-BRI,BRI,6,")
    run(runner, "cycle", "sandbox-bank", str(batch_file), "--out", str(answer))
    out = run(runner, "cycle", "results", "PKH-TEST-T1", "BRI", str(answer), "--as", "fin1")
    assert "taken 6" in out and "batch reconciled" in out
    db.session.expire_all()
    assert (
        db.session.execute(select(PaymentCycle.status).where(PaymentCycle.code == "PKH-TEST-T1")).scalar_one()
        == "reconciled"
    )
    assert "cli" in {
        e.detail.get("via")
        for e in db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.batch_downloaded"))
    }
    # A tampered batch file is refused by the sandbox bank.
    batch_file.write_text(batch_file.read_text().replace(",BRI,6,", ",BRI,7,", 1))
    assert "refuses" in run(runner, "cycle", "sandbox-bank", str(batch_file), "--out", str(answer), code=1)
