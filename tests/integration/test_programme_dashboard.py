"""The programme dashboard: enrolments and exits per quarter and district, tables, Excel, roles, districts."""

import io
from datetime import UTC, datetime

import pytest
from flask import current_app
from openpyxl import load_workbook

from cases.models import Application, Enrolment
from cases.operations import create_officer
from cases.programme_figures import programme_figures, quarter_of
from engine.core import Actor
from engine.db import db
from tests.helpers import fresh_client
from tests.integration.test_web import PASSWORD, ROLES, login

COVERED_ENDPOINTS = {"reports.programme", "reports.programme_xlsx"}


def at(y, m, d, h=3):
    return datetime(y, m, d, h, tzinfo=UTC)


def _enrolment(n, district, enrolled_at, ended_at=None, status="ENROLLED", cash=1_000_000, first=None):
    app = Application(
        nik=f"35100{n:011d}", consent_version="v1", district_code=district, status=status, case_number=f"P-{n}"
    )
    db.session.add(app)
    db.session.flush()
    db.session.add(
        Enrolment(
            application_id=app.id,
            nik=app.nik,
            programmes=["PKH"],
            benefits={"annual_cash_total": cash, "first_payment": first or cash // 4},
            disbursement_ref=f"D-{n}" if first != 0 else None,
            enrolled_at=enrolled_at,
            ended_at=ended_at,
        )
    )


@pytest.fixture
def enrolments(ctx):
    _enrolment(1, "01", at(2026, 1, 10))
    _enrolment(2, "01", at(2026, 2, 10), at(2026, 5, 1), status="REMOVED")
    _enrolment(3, "01", at(2026, 3, 31, 18))  # 1 April 01:00 WIB: the second quarter
    _enrolment(4, "02", at(2026, 4, 2), at(2026, 8, 1), status="GRADUATED", cash=2_000_000)
    _enrolment(5, "02", at(2026, 7, 2), cash=3_000_000, first=0)  # no payment requested
    db.session.commit()


def test_quarters_follow_western_indonesian_time():
    assert (
        quarter_of(
            at(
                2026,
                3,
                31,
                16,
            )
        )
        == "2026-Q1"
    )
    assert quarter_of(at(2026, 3, 31, 17)) == "2026-Q2"


def test_counts_per_quarter_and_district(enrolments):
    f = programme_figures(db.session, Actor(id="t", roles=frozenset(), regions=None, name="t"))
    assert f.quarter_list() == ["2026-Q1", "2026-Q2", "2026-Q3"]
    q1, q2, q3 = (f.quarters[q] for q in f.quarter_list())
    assert (q1.enrolled, q1.exits) == (2, 0)
    assert (q2.enrolled, q2.removed, q2.graduated) == (2, 1, 0)
    assert (q3.enrolled, q3.graduated, q3.exits) == (1, 1, 1)
    assert q3.annual_cash == 3_000_000
    assert (q1.first_payments, q1.first_amount) == (2, 500_000)
    assert (q3.first_payments, q3.first_amount) == (0, 0)
    assert f.active == {"01": 2, "02": 1}
    assert (f.districts["01"].exits, f.districts["02"].exits, f.districts["02"].annual_cash) == (1, 1, 3_000_000)
    assert (f.cells[("2026-Q2", "01")].enrolled, f.cells[("2026-Q2", "01")].removed) == (1, 1)
    only02 = programme_figures(db.session, Actor(id="t", roles=frozenset(), regions=["02"], name="t"))
    assert only02.district_list() == ["02"] and only02.quarter_list() == ["2026-Q2", "2026-Q3"]


@pytest.fixture
def web(enrolments):
    for role in ROLES:
        create_officer(db.session, f"w_{role}", role.title(), [role], None, password=PASSWORD)
    create_officer(db.session, "w_sup02", "Sup 02", ["supervisor"], ["02"], password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        yield client


@pytest.mark.parametrize("role", [None, *ROLES])
def test_authorization_matrix(web, role):
    if role is not None:
        assert login(web, f"w_{role}").status_code == 302
    for path in ("/reports/programme", "/reports/programme.xlsx"):
        status = web.get(path).status_code
        expected = 302 if role is None else 200 if role in ("supervisor", "administrator", "auditor") else 403
        assert status == expected, (role, path, status)


def test_page_tables_and_workbook(web):
    login(web, "w_supervisor")
    html = web.get("/reports/programme").get_data(as_text=True)
    assert "Dasbor program" in html and 'id="chart-quarters"' in html and 'id="quarter-2026-Q2"' in html
    assert 'id="table-pay-quarters"' in html and 'id="table-com-quarters"' in html
    sheets = load_workbook(io.BytesIO(web.get("/reports/programme.xlsx").data))
    rows = list(sheets["Per triwulan"].iter_rows(min_row=2, values_only=True))
    assert rows == [
        ("2026-Q1", 2, 0, 0, 0, 0, 2_000_000, 2, 500_000),
        ("2026-Q2", 2, 1, 0, 0, 1, 3_000_000, 2, 750_000),
        ("2026-Q3", 1, 0, 1, 0, 1, 3_000_000, 0, 0),
    ]


def test_a_supervisor_of_district_02_sees_only_it(web):
    login(web, "w_sup02")
    html = web.get("/reports/programme").get_data(as_text=True)
    assert 'id="pdistrict-02"' in html and 'id="pdistrict-01"' not in html and 'id="quarter-2026-Q1"' not in html
    sheets = load_workbook(io.BytesIO(web.get("/reports/programme.xlsx").data))
    assert [r[0][:2] for r in sheets["Per kecamatan"].iter_rows(min_row=2, values_only=True)] == ["02"]


def test_cli(enrolments, tmp_path):
    out = tmp_path / "p.xlsx"
    result = current_app.test_cli_runner().invoke(
        args=["report", "programme", "--xlsx", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "2026-Q2" in result.output and out.exists()


# --- payments and commitments (issue 12) -------------------------------------------------------------

from cases.programme_figures import cycle_figures, cycle_quarter  # noqa: E402
from payments.models import CommitmentCheck, CycleMember, EntitlementCondition, Payment, PaymentCycle  # noqa: E402
from tests.integration.payment_support import family  # noqa: E402

CUT_OFF = at(2026, 9, 30)


def _cycle(code, months, cut_off=CUT_OFF):
    cycle = PaymentCycle(code=code, programme="PKH", months=months, cut_off=cut_off, return_after_days=105)
    db.session.add(cycle)
    db.session.flush()
    return cycle


def _member(cycle, app):
    m = CycleMember(
        cycle_id=cycle.id,
        enrolment_id=app.id,
        application_id=app.id,
        nik=app.nik,
        district_code=app.district_code,
        channel="BRI",
    )
    db.session.add(m)
    db.session.flush()
    return m


_ref = [0]


def _pay(cycle, member, status, amount, attempt=1):
    _ref[0] += 1
    db.session.add(
        Payment(
            cycle_id=cycle.id,
            member_id=member.id,
            reference=f"R-{_ref[0]}",
            channel="BRI",
            amount=amount,
            status=status,
            attempt=attempt,
        )
    )


def _check(app, period, compliant, category="SD"):
    enrolment = db.session.query(Enrolment).filter_by(application_id=app.id).one()
    db.session.add(
        CommitmentCheck(
            enrolment_id=enrolment.id,
            application_id=app.id,
            district_code=app.district_code,
            member_nik=app.nik,
            category=category,
            period=period,
            compliant=compliant,
            source="field",
        )
    )


@pytest.fixture
def cycles(enrolments):
    a, b, c = family([("PKH", "SD", 1)], "01"), family([("PKH", "SD", 1)], "01"), family([("PKH", "SD", 1)], "02")
    t3 = _cycle("PKH-26-T3", "2026-07,2026-08,2026-09")
    t4 = _cycle("PKH-26-T4", "2026-10,2026-11,2026-12")
    bare = _cycle("PKH-X", "", cut_off=at(2026, 12, 31, 18))  # 1 January 2027 WIB
    ma, mb, mc = _member(t3, a), _member(t3, b), _member(t3, c)
    _pay(t3, ma, "credited", 900_000)
    _pay(t3, mb, "drawn", 600_000)
    _pay(t3, mc, "failed", 300_000)
    _pay(t3, mc, "planned", 300_000, attempt=2)  # not yet sent: not counted
    ma4, mc4 = _member(t4, a), _member(t4, c)
    _pay(t4, ma4, "returned", 450_000)
    _pay(t4, mc4, "drawn", 700_000)
    _pay(bare, _member(bare, b), "sent", 100_000)  # sent, no result yet: not counted
    _check(a, "2026-Q3", True)
    _check(b, "2026-Q3", False)
    _check(c, "2026-Q3", False)
    _check(c, "2026-Q4", False)
    for member, status in ((mb, "warning"), (mc4, "suspended"), (ma4, "deceased")):
        db.session.add(
            EntitlementCondition(
                cycle_id=member.cycle_id,
                member_id=member.id,
                programme="PKH",
                category="SD",
                member_nik=member.nik,
                status=status,
            )
        )
    db.session.commit()


def test_a_cycle_counts_in_the_quarter_of_its_first_month():
    assert cycle_quarter("2026-10,2026-11,2026-12", at(2026, 9, 1)) == "2026-Q4"
    assert cycle_quarter("", at(2026, 12, 31, 18)) == "2027-Q1"


def test_payment_and_commitment_figures(cycles):
    f = cycle_figures(db.session, Actor(id="t", roles=frozenset(), regions=None, name="t"))
    q3, q4 = f.quarters["2026-Q3"], f.quarters["2026-Q4"]
    assert (q3.paid, q3.paid_amount, q3.failed, q3.failed_amount, q3.returned) == (2, 1_500_000, 1, 300_000, 0)
    assert (q4.paid, q4.paid_amount, q4.returned, q4.returned_amount) == (1, 700_000, 1, 450_000)
    assert (q3.checks, q3.compliant, q3.warnings, q3.suspended) == (3, 1, 1, 0)
    assert (q4.checks, q4.compliant, q4.warnings, q4.suspended) == (1, 0, 0, 1)
    d1, d2 = f.districts["01"], f.districts["02"]
    assert (d1.paid, d1.paid_amount, d1.returned, d1.checks, d1.compliant, d1.warnings) == (2, 1_500_000, 1, 2, 1, 1)
    assert (d2.paid, d2.failed, d2.checks, d2.suspended) == (1, 1, 2, 1)
    assert f.quarter_list() == ["2026-Q3", "2026-Q4"]
    only02 = cycle_figures(db.session, Actor(id="t", roles=frozenset(), regions=["02"], name="t"))
    assert only02.district_list() == ["02"]
    assert (
        only02.quarters["2026-Q3"].paid,
        only02.quarters["2026-Q3"].failed,
        only02.quarters["2026-Q3"].checks,
        only02.quarters["2026-Q4"].paid_amount,
    ) == (0, 1, 1, 700_000)


def test_page_and_workbook_show_payments_and_commitments(cycles, web):
    login(web, "w_sup02")
    html = web.get("/reports/programme").get_data(as_text=True)
    assert 'id="chart-pay-quarters"' in html and 'id="chart-com-districts"' in html
    assert 'id="pay-districts-02"' in html and 'id="pay-districts-01"' not in html
    assert "belum tersedia" not in html
    sheets = load_workbook(io.BytesIO(web.get("/reports/programme.xlsx").data))
    assert list(sheets["Pembayaran per triwulan"].iter_rows(min_row=2, values_only=True)) == [
        ("2026-Q3", 0, 0, 1, 300_000, 0, 0),
        ("2026-Q4", 1, 700_000, 0, 0, 0, 0),
    ]
    assert list(sheets["Komitmen per kecamatan"].iter_rows(min_row=2, values_only=True))[0][1:] == (2, 0, 0, 1)
    assert "Komitmen per triwulan" in sheets.sheetnames and "Pembayaran per kecamatan" in sheets.sheetnames


def test_cli_prints_payments_and_commitments(cycles, tmp_path):
    out = tmp_path / "p.xlsx"
    result = current_app.test_cli_runner().invoke(
        args=["report", "programme", "--xlsx", str(out)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    q3 = [line.split() for line in result.output.splitlines() if line.startswith("2026-Q3")][-1]
    assert q3 == ["2026-Q3", "2", "1500000", "1", "0", "3", "1", "1", "0"]
    assert "Pembayaran per triwulan" in load_workbook(out).sheetnames
