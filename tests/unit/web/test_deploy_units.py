"""deploy/systemd: the units start commands the CLI knows."""

import shlex
from pathlib import Path

import click

UNITS = Path(__file__).resolve().parents[3] / "deploy" / "systemd"


def test_the_systemd_units_tepat_commands_parse(ctx):
    """Every `tepat ...` line of deploy/systemd names a command and options the CLI knows (instance 1)."""
    checked = 0
    for unit in sorted(UNITS.glob("*.service")):
        for line in unit.read_text().splitlines():
            if not line.startswith("ExecStart=") or "/bin/tepat " not in line:
                continue
            words = shlex.split(line.split("/bin/tepat ", 1)[1].replace("%i", "1").replace("%H", "host"))
            command = ctx.cli
            while words and isinstance(command, click.Group) and words[0] in command.commands:
                command = command.commands[words.pop(0)]
            assert command is not ctx.cli, f"{unit.name}: unknown command in {line}"
            command.make_context(command.name, list(words))  # raises on an unknown option or a bad value
            checked += 1
    assert checked >= 3  # worker, scheduler, face-index snapshot
