"""The command line says so when a list is empty, and shows every time in WIB with the zone."""

import re

from cases.officers import create_officer
from cases.tokens import issue_token
from engine.db import db

UTC_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC")


def _cli(*args, code=0):
    from flask import current_app

    result = current_app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_empty_lists_say_so(ctx):
    assert _cli("officer", "list").strip() == "Belum ada petugas. / No officers yet."
    assert _cli("token", "list").strip() == "Tidak ada token. / No tokens."
    assert _cli("cycle", "list").strip() == "Belum ada siklus pembayaran. / No payment cycles yet."
    assert "Tidak ada insiden terbuka. / No open incidents." in _cli("incidents", "list")
    assert "Belum ada proses massal. / No runs yet." in _cli("runs", "list")


def test_times_are_shown_in_wib_with_the_zone(svc):
    officer = create_officer(db.session, "cli_sup", "CLI Supervisor", ["supervisor"], None)
    issue_token(db.session, officer, "nightly export", 7, created_by="cli")
    db.session.commit()
    created = _cli("token", "create", "--officer", "cli_sup", "--name", "night run", "--days", "7")
    listed = _cli("token", "list")
    versions = _cli("processes", "versions", "application")
    for output in (created, listed, versions):
        assert " WIB" in output and not UTC_TIME.search(output), output
    assert "Belum ada petugas" not in _cli("officer", "list")
