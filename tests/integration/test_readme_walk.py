"""The README's terminal walk, run as written on a fresh database: if it fails here, it fails for users.

The commands come from the README's ``sh`` block under "Walk a case from the terminal"; nothing about
them is repeated here. Placeholders are filled the way a reader fills them: ``<kind>`` from the
personas file that ``tepat setup`` wrote, ``<case>`` from the last ``tepat submit``, ``<id>`` from
the last ``tepat tasks list`` (that case's task). A comment that starts with a status (``#
ENROLLED``) is what the command must show. Every ``tepat`` command must exit 0.
"""

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from tests.conftest import FACES_DIR, ROOT, faces_or_skip
from tests.helpers import fresh_client

SECTION = "## Walk a case from the terminal"
STATUS = re.compile(r"^[A-Z]{2,}(?:_[A-Z]+)*$")
SHELL_STEPS = {".", "jq"}  # steps that are not `tepat` (activating the virtualenv, reading a file)


def _split_comment(line):
    """Return (command, comment) of a shell line: the comment starts at a # outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip(), line[i + 1 :].strip()
    return line.strip(), ""


def walk_steps():
    """Return [(line, argv, expected status or None)] of the README's walk."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in readme, "the README lost its terminal walk"
    block = re.search(r"```sh\n(.*?)```", readme.split(SECTION, 1)[1], re.S)
    assert block, "the walk has no ```sh block"
    steps = []
    for line in block.group(1).splitlines():
        command, comment = _split_comment(line)
        if not command:
            continue
        words = comment.split()
        expected = words[0].rstrip(":,.") if words and STATUS.match(words[0].rstrip(":,.")) else None
        steps.append((line.strip(), shlex.split(command), expected))
    return steps


def test_the_walk_is_parsed_as_the_reader_sees_it():
    steps = walk_steps()
    programs = {argv[0] for _, argv, _ in steps}
    assert programs <= {"tepat"} | SHELL_STEPS, f"a step the test cannot run: {programs - SHELL_STEPS}"
    commands = [" ".join(argv[1:3]) for _, argv, _ in steps if argv[0] == "tepat"]
    assert commands[0] == "setup" and "timers fire" in commands and "incidents list" in commands
    assert sum(1 for _, _, status in steps if status == "ENROLLED") == 3
    line, argv, expected = next(s for s in steps if s[1][:2] == ["tepat", "appeal"])
    assert argv[-2:] == ["--reason", "My husband retired in 2015 and receives no pension."] and expected is None


@pytest.fixture
def fresh_app(tmp_path):
    """A new app on an empty database (the migration test database on PostgreSQL) and var folder."""
    from engine.db import db
    from web import create_app

    url = os.environ.get("TEPAT_TEST_MIGRATION_DATABASE_URL") or f"sqlite:///{tmp_path / 'walk.sqlite'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    var = tmp_path / "var"
    app = create_app(
        {
            "BANSOS_DATABASE_URL": url,
            "BANSOS_VAR_DIR": str(var),
            "BANSOS_PHOTO_DIR": str(var / "photos"),
            "BANSOS_EVIDENCE_DIR": str(var / "evidence"),
            "BANSOS_IDP_SANDBOX_KEY_FILE": str(var / "idp" / "sandbox-signing-key.json"),
            "BANSOS_SANDBOX_PHOTO_DIR": str(FACES_DIR),
            "BANSOS_SCHEDULER_ENABLED": False,
            "BANSOS_SANDBOX_FAULTS": {},
        }
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _fill(argv, personas, case, task):
    """Replace the placeholders and the README's relative path to the shared photos."""
    filled = []
    for word in argv:
        for name in re.findall(r"<([a-z_]+)>", word):
            if name == "case":
                value = case
            elif name == "id":
                value = task
            else:
                assert name in personas, f"<{name}> is not a persona in personas.json ({sorted(personas)})"
                value = personas[name]
            assert value, f"nothing printed so far gives <{name}>"
            word = word.replace(f"<{name}>", value)
        if word.startswith("../shared/faces/"):
            word = str(FACES_DIR / word.removeprefix("../shared/faces/"))
        filled.append(word)
    return filled


def _personas_file(app):
    """The personas.json that `tepat setup` wrote, where the README says it is."""
    return json.loads((Path(app.config["BANSOS_VAR_DIR"]) / "extracts" / "personas.json").read_text("utf-8"))


def test_the_readme_walk_runs_as_written(fresh_app):
    from cases.models import Application
    from engine.db import db
    from tests.integration.portal_helpers import sign_in_applicant

    faces_or_skip()  # the first case is approved by matching a selfie against the registry photo
    runner = fresh_app.test_cli_runner()
    personas, case, task, seen = None, None, None, []
    for line, argv, expected in walk_steps():
        if argv[0] != "tepat":
            continue
        args = _fill(argv[1:], personas or {}, case, task)
        result = runner.invoke(args=args)
        output = result.output
        assert result.exit_code == 0, f"README step failed: {line}\n  ran: tepat {shlex.join(args)}\n{output}"
        if args[0] == "setup":
            personas = _personas_file(fresh_app)["personas"]
        elif args[0] == "submit":
            case = re.search(r"case (TPT-\d{4}-\d{7}): ", output).group(1)
            seen.append(case)
        elif args[:2] == ["tasks", "list"]:
            found = re.search(rf"^#(\d+)\s+\w+\s+{re.escape(case)}\s", output, re.M) if case else None
            task = found.group(1) if found else None
        if expected:
            assert re.search(rf"(status: |: ){expected}\b", output), (
                f"README step should show {expected}: {line}\n{output}"
            )
    assert len(seen) == 3
    with fresh_app.app_context():
        statuses = dict(db.session.execute(select(Application.case_number, Application.status)).all())
        assert statuses == {number: "ENROLLED" for number in seen}
        # What the walk says of personas.json holds: its sign-in details open the portal.
        sign_in = _personas_file(fresh_app)["sign_in"]
        person = sign_in["civil_servant_poor_family"]
        assert set(person) == {"nik", "birth_date", "name"}
        with fresh_client() as client:
            sign_in_applicant(client, person["nik"], person["birth_date"])
            page = client.get("/portal/home").get_data(as_text=True)
        assert seen[1] in page
        db.session.remove()


def test_empty_lists_say_so_and_times_are_in_wib(ctx, svc, personas):
    from flask import current_app

    runner = current_app.test_cli_runner()
    from cases.operations import create_officer
    from engine.db import db

    create_officer(db.session, "cw_walk", "Walk", ["caseworker"], None, password="a-long-password")
    db.session.commit()
    assert runner.invoke(args=["tasks", "list", "--as", "cw_walk"]).output.strip() == "Tidak ada tugas. / No tasks."
    assert runner.invoke(args=["incidents", "list"]).output.strip() == "Tidak ada insiden terbuka. / No open incidents."
    out = runner.invoke(args=["submit", "--nik", personas["not_in_dtsen"]]).output  # no account: PT Pos
    number = re.search(r"case (TPT-\d{4}-\d{7}): ", out).group(1)
    from cases.models import Application

    app = db.session.scalars(select(Application).where(Application.case_number == number)).one()
    assert app.payment_channel == "POS" and app.bank_account is None
    shown = runner.invoke(args=["case", "show", number]).output
    from web.cli import wib

    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} WIB", shown)
    assert wib(app.created_at) in shown  # the submission, at Jakarta's time, not UTC
