"""The auditors' report of a cycle: figures equal a small cycle computed by hand, on the page and in Excel."""

import io
from datetime import date

from openpyxl import load_workbook
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.operations import create_officer
from engine.db import db
from payments.cycles import open_cycle
from payments.models import PaymentBatch
from payments.report import cycle_report, report_workbook
from payments.results import import_and_advance
from tests.helpers import later, wake_all
from tests.integration.payment_support import family, finance_officers, schedule
from tests.integration.portal_helpers import PASSWORD, fresh_client, officer_login
from tests.integration.test_payment_cycles import cycle, do

TODAY = date.today().isoformat()
# PKH, three months of an annual amount: SD 900,000 / 4 = 225,000; child_0_6 750,000 (at most 2);
# elderly_70 600,000 (at most 1).
FAMILIES = {  # name: (components, district, channel) and what the family is due
    "A": ([("PKH", "SD", 2)], "01", "BRI"),  # 450,000
    "B": ([("PKH", "child_0_6", 3)], "01", "BRI"),  # capped at 2: 1,500,000
    "C": ([("PKH", "SD", 1), ("PKH", "elderly_70", 1)], "02", "BRI"),  # 825,000
    "D": ([("PKH", "SD", 1)], "02", "POS"),  # 225,000
    "E": ([("PKH", "elderly_70", 2)], "01", "POS"),  # capped at 1: 600,000
}
DUE = {"A": 450_000, "B": 1_500_000, "C": 825_000, "D": 225_000, "E": 600_000}


def _setup(svc):
    fin = finance_officers()
    refs = {}
    for name, (components, district, channel) in FAMILIES.items():
        app = family(
            components,
            district=district,
            channel=channel,
            account=None if channel == "POS" else f"99{len(refs):08d}",
            name=f"Ibu {name}",
        )
        refs[name] = app.id
    db.session.commit()
    open_cycle(svc.engine, schedule(), "PKH-TEST-T1", fin["fin1"])
    db.session.commit()
    return fin, refs


def _references():
    """{family name: payment reference}, by the family's name on the frozen list."""
    from payments.models import CycleMember, Payment

    rows = db.session.execute(
        select(CycleMember.name, Payment.reference).join(Payment, Payment.member_id == CycleMember.id)
    ).all()
    return {name.split()[-1]: reference for name, reference in rows}


def _upload(svc, channel, lines, actor):
    batch = db.session.execute(select(PaymentBatch).where(PaymentBatch.channel == channel)).scalar_one()
    total = sum(int(line.split(",")[2]) for line in lines)
    body = f"H,{batch.reference},{len(lines)},{total}\n" + "".join(line + "\n" for line in lines)
    row = import_and_advance(svc.engine, batch, body.encode(), f"{channel}.csv", actor)
    db.session.commit()
    assert row.status == "applied" and row.refused == 0, row.refusals


def _figures(regions=None):
    rows, total = cycle_report(db.session, cycle().id, regions)
    return {(r.district_code, r.programme, r.channel): r.figures for r in rows}, total.figures


def test_the_report_equals_a_cycle_computed_by_hand_at_each_step(svc):
    fin, _ = _setup(svc)
    by_row, total = _figures()
    # Planned from the entitlements; nothing approved before the checker approves.
    assert {key: f["planned"] for key, f in by_row.items()} == {
        ("01", "PKH", "BRI"): (2, 1_950_000),
        ("01", "PKH", "POS"): (1, 600_000),
        ("02", "PKH", "BRI"): (1, 825_000),
        ("02", "PKH", "POS"): (1, 225_000),
    }
    assert total["planned"] == (5, 3_600_000) and total["approved"] == (0, 0) and total["sent"] == (0, 0)

    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    by_row, total = _figures()
    assert total["approved"] == (5, 3_600_000) and total["sent"] == (0, 0)
    do(svc, "dispatch_batches", fin["fin1"], {"sp2d_number": "SP2D-1", "sp2d_date": TODAY})
    by_row, total = _figures()
    assert total["sent"] == total["awaiting"] == (5, 3_600_000)

    ref = _references()
    _upload(
        svc,
        "BRI",
        [
            f"R,{ref['A']},450000,CREDITED,,{TODAY}",
            f"R,{ref['B']},1500000,FAILED,DORMANT,{TODAY}",
            f"R,{ref['C']},825000,CREDITED,,{TODAY}",
        ],
        fin["fin1"],
    )
    _upload(svc, "POS", [f"R,{ref['D']},225000,PAID,,{TODAY}"], fin["fin1"])  # E: no result yet
    _upload(svc, "BRI", [f"R,{ref['A']},450000,DRAWN,,{TODAY}"], fin["fin1"])
    by_row, total = _figures()
    assert by_row[("01", "PKH", "BRI")] == {
        "planned": (2, 1_950_000),
        "approved": (2, 1_950_000),
        "sent": (2, 1_950_000),
        "paid": (1, 450_000),
        "failed": (1, 1_500_000),
        "returned": (0, 0),
        "awaiting": (0, 0),
    }
    assert by_row[("01", "PKH", "POS")]["awaiting"] == (1, 600_000)
    assert by_row[("02", "PKH", "BRI")]["paid"] == (1, 825_000)
    assert by_row[("02", "PKH", "POS")]["paid"] == (1, 225_000)
    assert (total["paid"], total["failed"], total["returned"], total["awaiting"]) == (
        (3, 1_500_000),
        (1, 1_500_000),
        (0, 0),
        (1, 600_000),
    )

    # The last result reconciles the cycle; at the return date C's undrawn money goes back to the treasury.
    _upload(svc, "POS", [f"R,{ref['E']},600000,FAILED,NOT_FOUND,{TODAY}"], fin["fin1"])
    assert cycle().status == "reconciled"
    with later(106):
        assert wake_all(svc) >= 1
    by_row, total = _figures()
    assert by_row[("02", "PKH", "BRI")]["returned"] == (1, 825_000) and by_row[("02", "PKH", "BRI")]["paid"] == (0, 0)
    assert (total["sent"], total["paid"], total["failed"], total["returned"], total["awaiting"]) == (
        (5, 3_600_000),
        (2, 675_000),
        (2, 2_100_000),
        (1, 825_000),
        (0, 0),
    )
    # An officer of district 02 sees district 02 only.
    by_row, total = _figures({"02"})
    assert set(by_row) == {("02", "PKH", "BRI"), ("02", "PKH", "POS")} and total["planned"] == (2, 1_050_000)


def test_the_page_and_the_excel_export_show_the_same_figures_and_the_export_is_audited(svc):
    fin, _ = _setup(svc)
    do(svc, "prepare_cycle", fin["fin1"], {"prepare_decision": "submit"})
    do(svc, "approve_cycle", fin["fin2"], {"cycle_approval_decision": "approve"})
    for username, role, regions in (
        ("aud", "auditor", None),
        ("sup", "supervisor", ["02"]),
        ("cw", "caseworker", None),
    ):
        create_officer(db.session, username, username.upper(), [role], regions, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        assert officer_login(client, "aud").status_code == 302
        page = client.get("/cycles/PKH-TEST-T1").get_data(as_text=True)
        assert "Laporan siklus untuk auditor" in page and "Rp 3.600.000" in page
        response = client.get("/cycles/PKH-TEST-T1/report.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    assert book.sheetnames == ["Siklus", "Laporan"]
    rows = list(book["Laporan"].iter_rows(values_only=True))
    assert rows[0][:5] == ("Kecamatan", "Program", "Penyalur", "Rencana (jumlah)", "Rencana (Rp)")
    assert rows[-1][0] == "Total" and rows[-1][3:7] == (5, 3_600_000, 5, 3_600_000)
    assert len(rows) == 1 + 4 + 1
    about = dict(r[:2] for r in book["Siklus"].iter_rows(values_only=True))
    assert about["Siklus pembayaran"] == "PKH-TEST-T1" and about["Disetujui oleh"] == "fin2"
    exported = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "cycle.report_exported")).one()
    assert exported.actor == "aud" and exported.detail["districts"] == "all"
    # A supervisor of district 02 gets district 02's figures; a caseworker gets nothing.
    with fresh_client() as client:
        assert officer_login(client, "sup").status_code == 302
        rows = list(
            load_workbook(io.BytesIO(client.get("/cycles/PKH-TEST-T1/report.xlsx").data), read_only=True)[
                "Laporan"
            ].iter_rows(values_only=True)
        )
        assert rows[-1][3:5] == (2, 1_050_000)
    with fresh_client() as client:
        assert officer_login(client, "cw").status_code == 302
        assert client.get("/cycles/PKH-TEST-T1/report.xlsx").status_code == 403


def test_text_in_the_report_workbook_is_never_a_formula():
    out = io.BytesIO()
    report_workbook([("S", [['=HYPERLINK("http://x")', "+1", "@SUM(A1)", "-2", 5, -3, None]])], out)
    book = load_workbook(io.BytesIO(out.getvalue()))
    cells = [c for c in next(book["S"].iter_rows())]
    assert [c.data_type for c in cells[:4]] == ["s"] * 4
    assert [c.value for c in cells] == ['\'=HYPERLINK("http://x")', "'+1", "'@SUM(A1)", "'-2", 5, -3, None]
