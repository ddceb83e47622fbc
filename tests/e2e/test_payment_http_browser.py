"""A cycle whose BRI batch went by API: the bank posts its callbacks over real HTTP, the officer sees it."""

import os
from datetime import date

import pytest

from cases.operations import create_officer
from engine.db import db
from integrations.sandbox.bank_gateway import BankSimulator
from tests.e2e.conftest import PASSWORD, axe_violations, sign_in, watch
from tests.integration.test_payment_dispatch_http import SECRETS, _approved, _dispatch, batch

TODAY = date.today()


@pytest.fixture
def sim():
    server = BankSimulator(secrets=SECRETS).start()
    yield server
    server.stop()


def test_a_batch_sent_by_api_reconciles_from_real_callbacks_and_shows_on_the_cycle_page(
    svc, live, browser, sim, monkeypatch, tmp_path
):
    for key, value in {
        "BANSOS_PAYMENT_CHANNELS": {"BRI": sim.url("BRI")},
        "BANSOS_PAYMENT_CALLBACK_URL": f"{live}/api/payments/callback",
        "BANSOS_PAYMENT_CALLBACK_SECRETS": SECRETS,
    }.items():
        monkeypatch.setitem(svc.engine.settings, key, value)
    _dispatch(svc, _approved(svc, families=12))
    answers = sim.post_callbacks("PKH-TEST-T1-BRI", TODAY, chunk=3)  # real HTTP to the served app
    assert [a.status_code for a in answers] == [200, 200]
    assert batch("BRI").status == "reconciled"
    create_officer(db.session, "fin_reader", "Fin Reader", ["finance_officer"], None, password=PASSWORD)
    db.session.commit()
    for width in (1280, 360):
        page = browser.new_page(viewport={"width": width, "height": 900})
        problems = watch(page)
        sign_in(page, live, "fin_reader")
        page.goto(f"{live}/cycles/PKH-TEST-T1")
        row = page.locator("tr", has_text="PKH-TEST-T1-BRI").first
        assert row.locator(".badge").inner_text().strip() in ("Dikirim lewat API bank", "Sent by the bank API")
        shot = os.environ.get("TEPAT_SHOTS_DIR") or str(tmp_path)
        page.screenshot(path=f"{shot}/cycle-http-{width}.png", full_page=True)
        assert problems == [] and axe_violations(page, live) == []
        page.close()
