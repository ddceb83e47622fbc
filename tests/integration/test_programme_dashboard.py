"""The programme dashboard: enrolments and exits per quarter and district, tables, Excel, roles, districts."""
import io
from datetime import datetime, timezone

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
    return datetime(y, m, d, h, tzinfo=timezone.utc)


def _enrolment(n, district, enrolled_at, ended_at=None, status="ENROLLED", cash=1_000_000, first=None):
    app = Application(nik=f"35100{n:011d}", consent_version="v1", district_code=district, status=status,
                      case_number=f"P-{n}")
    db.session.add(app)
    db.session.flush()
    db.session.add(Enrolment(application_id=app.id, nik=app.nik, programmes=["PKH"],
                             benefits={"annual_cash_total": cash, "first_payment": first or cash // 4},
                             disbursement_ref=f"D-{n}" if first != 0 else None, enrolled_at=enrolled_at,
                             ended_at=ended_at))


@pytest.fixture
def enrolments(ctx):
    _enrolment(1, "01", at(2026, 1, 10))
    _enrolment(2, "01", at(2026, 2, 10), at(2026, 5, 1), status="REMOVED")
    _enrolment(3, "01", at(2026, 3, 31, 18))  # 1 April 01:00 WIB: the second quarter
    _enrolment(4, "02", at(2026, 4, 2), at(2026, 8, 1), status="GRADUATED", cash=2_000_000)
    _enrolment(5, "02", at(2026, 7, 2), cash=3_000_000, first=0)  # no payment requested
    db.session.commit()


def test_quarters_follow_western_indonesian_time():
    assert quarter_of(at(2026, 3, 31, 16, )) == "2026-Q1"
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


def test_page_tables_placeholders_and_workbook(web):
    login(web, "w_supervisor")
    html = web.get("/reports/programme").get_data(as_text=True)
    assert "Dasbor program" in html and 'id="chart-quarters"' in html and 'id="quarter-2026-Q2"' in html
    assert html.count("belum tersedia") >= 2  # commitments and payments: no data yet, said so
    sheets = load_workbook(io.BytesIO(web.get("/reports/programme.xlsx").data))
    rows = list(sheets["Per triwulan"].iter_rows(min_row=2, values_only=True))
    assert rows == [("2026-Q1", 2, 0, 0, 0, 0, 2_000_000, 2, 500_000),
                    ("2026-Q2", 2, 1, 0, 0, 1, 3_000_000, 2, 750_000),
                    ("2026-Q3", 1, 0, 1, 0, 1, 3_000_000, 0, 0)]


def test_a_supervisor_of_district_02_sees_only_it(web):
    login(web, "w_sup02")
    html = web.get("/reports/programme").get_data(as_text=True)
    assert 'id="pdistrict-02"' in html and 'id="pdistrict-01"' not in html and 'id="quarter-2026-Q1"' not in html
    sheets = load_workbook(io.BytesIO(web.get("/reports/programme.xlsx").data))
    assert [r[0][:2] for r in sheets["Per kecamatan"].iter_rows(min_row=2, values_only=True)] == ["02"]


def test_cli(enrolments, tmp_path):
    out = tmp_path / "p.xlsx"
    result = current_app.test_cli_runner().invoke(args=["report", "programme", "--xlsx", str(out)],
                                                  catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2026-Q2" in result.output and "belum tersedia" in result.output and out.exists()
