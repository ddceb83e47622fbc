"""`tepat worker --cpu N`: the worker and the pool processes it forks run on one core."""

import multiprocessing
import os

import pytest

from web.worker import pin_to_core, worker_command

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")


def _pinned_then_forked(index, out):
    core = pin_to_core(index)
    pool = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(  # as Celery's prefork pool, forked after the pinning
        target=lambda: pool.put(sorted(os.sched_getaffinity(0)))
    )
    child.start()
    child_affinity = pool.get(timeout=30)
    child.join()
    out.put((core, sorted(os.sched_getaffinity(0)), child_affinity))


def _run_in_child(index):
    ctx = multiprocessing.get_context("fork")  # the test process keeps its own cores
    out = ctx.Queue()
    proc = ctx.Process(target=_pinned_then_forked, args=(index, out))
    proc.start()
    result = out.get(timeout=30)
    proc.join(timeout=30)
    return result


def test_a_pinned_worker_runs_on_the_one_core_its_number_names():
    cores = sorted(os.sched_getaffinity(0))
    for index in range(len(cores) + 1):
        core, affinity, pool_affinity = _run_in_child(index)
        assert core == cores[index % len(cores)]
        assert affinity == pool_affinity == [core]
    assert sorted(os.sched_getaffinity(0)) == cores  # the caller was not pinned


def test_numbers_one_to_k_spread_over_the_cores():
    cores = sorted(os.sched_getaffinity(0))
    seen = {_run_in_child(index)[0] for index in range(1, len(cores) + 1)}  # tepat-worker@1..k
    assert seen == set(cores)


def test_the_option_is_offered_and_refuses_a_negative_core():
    from click.testing import CliRunner

    runner = CliRunner()
    assert "--cpu" in runner.invoke(worker_command, ["--help"]).output
    refused = runner.invoke(worker_command, ["--cpu", "-1"])
    assert refused.exit_code == 2
    assert "-1" in refused.output


def test_the_systemd_units_tepat_commands_parse(ctx):
    """Every `tepat ...` line of deploy/systemd names a command and options the CLI knows (instance 1)."""
    import shlex
    from pathlib import Path

    import click

    units = sorted((Path(__file__).resolve().parents[3] / "deploy" / "systemd").glob("*.service"))
    checked = 0
    for unit in units:
        for line in unit.read_text().splitlines():
            if not line.startswith("ExecStart=") or "/bin/tepat " not in line:
                continue
            words = shlex.split(line.split("/bin/tepat ", 1)[1].replace("%i", "1").replace("%H", "host"))
            group = ctx.cli
            while words and isinstance(group, click.Group) and words[0] in group.commands:
                group = group.commands[words.pop(0)]
            assert group is not ctx.cli, f"{unit.name}: unknown command {line}"
            group.make_context(group.name, list(words))  # raises on an unknown option or a bad value
            checked += 1
    assert checked >= 3
