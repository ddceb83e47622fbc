"""The `tepat` command line: shared helpers, registration, entry point (commands_*.py hold the commands)."""

import functools
import json
import sys
from zoneinfo import ZoneInfo

import click
from flask.cli import FlaskGroup, with_appcontext

from engine.db import db, unit_of_work

# Bilingual labels for refusals (Indonesian first); the web layer will move these to Flask-Babel.
ERROR_TEXT = {
    "NIK_INVALID": "NIK tidak valid / Invalid NIK",
    "DUPLICATE_APPLICATION": "Sudah ada kasus terbuka / An open case already exists",
    "FORM_INVALID": "Isian tidak valid / Invalid form",
    "TASK_NOT_READY": "Tugas tidak lagi siap / Task is no longer ready",
    "TASK_ALREADY_CLAIMED": "Tugas dipegang petugas lain / Task held by another officer",
    "TASK_NOT_CLAIMED": "Tugas belum diambil / Task not claimed",
    "TASK_NOT_FOUND": "Tugas tidak ditemukan / Task not found",
    "FOUR_EYES": "Prinsip empat mata / Four-eyes rule",
    "NOT_ALLOWED": "Tidak diizinkan / Not allowed",
    "DEPLOY_REJECTED": "Diagram ditolak / Diagram rejected",
    "MESSAGE_NOT_EXPECTED": "Proses tidak menunggu pesan ini / Process is not waiting for this message",
    "APPEAL_NOT_ALLOWED": "Banding tidak dapat diajukan / Appeal not allowed",
    "CASE_NOT_FOUND": "Kasus tidak ditemukan / Case not found",
    "RECHECK_NOT_ALLOWED": "Pemeriksaan ulang tidak dapat dilakukan / Re-check not allowed",
    "INCIDENT_NOT_FOUND": "Insiden tidak ditemukan / Incident not found",
    "INCIDENT_NOT_SKIPPABLE": "Insiden ini bukan tugas; hanya bisa dicoba lagi / Not a task; it can only be retried",
    "PROCESS_NOT_DEPLOYED": "Proses belum dipasang / Process not deployed",
    "RUN_NOT_FOUND": "Proses massal tidak ditemukan / Run not found",
    "RUN_FINISHED": "Proses massal sudah selesai / The run has already finished",
    "CYCLE_EXISTS": "Siklus sudah pernah dibuka / Cycle opened before",
    "CYCLE_UNKNOWN": "Siklus tidak ada dalam jadwal / No such cycle in the schedule",
    "CYCLE_NOT_FOUND": "Siklus tidak ditemukan / Cycle not found",
    "CYCLE_SUPPLEMENT_EARLY": "Siklus utama belum dibekukan / The main cycle is not frozen yet",
    "GRADUATION_NOT_ALLOWED": "Graduasi tidak dapat dilakukan / Graduation not possible",
    "QUARTER_INVALID": "Triwulan tidak valid (contoh: 2026Q4) / Invalid quarter (e.g. 2026Q4)",
    "QUARTER_ALREADY_RUN": (
        "Verifikasi ulang triwulan ini sudah dijalankan / This quarter's re-verification was already started"
    ),
}


WIB = ZoneInfo("Asia/Jakarta")


def wib(moment, date_only=False):
    """Show a stored UTC time as the officers read it: Western Indonesian Time (WIB)."""
    if moment is None:
        return "-"
    local = moment.astimezone(WIB)
    return f"{local:%Y-%m-%d}" if date_only else f"{local:%Y-%m-%d %H:%M:%S} WIB"


def _services():
    from . import services

    return services()


def commits(fn):
    """Run a command in one transaction: commit on success; on a refusal roll back and exit 2."""
    from engine.errors import EngineError

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with unit_of_work(db.session):
                return fn(*args, **kwargs)
        except EngineError as exc:
            label = ERROR_TEXT.get(exc.code, exc.code)
            click.echo(f"Error [{exc.code}] {label}: {exc.message}", err=True)
            for key, value in exc.details.items():
                click.echo(f"  {key}: {json.dumps(value, default=str, ensure_ascii=False)}", err=True)
            sys.exit(2)

    return with_appcontext(wrapper)


def _actor(username):
    from cases.operations import actor_for, officer_or_404

    return actor_for(officer_or_404(db.session, username))


def register_cli(app):
    """Attach the command groups to the app."""
    from . import (
        commands_cases,
        commands_cycles,
        commands_data,
        commands_processes,
        commands_reports,
        commands_runs,
        commands_tokens,
    )

    for command in (
        commands_data.sandbox,
        commands_data.officer,
        commands_data.audit,
        commands_data.deploy,
        commands_data.setup,
        commands_data.face_index,
        commands_cases.tasks,
        commands_cases.case,
        commands_cases.incidents,
        commands_cases.timers,
        commands_cases.submit,
        commands_cases.appeal,
        commands_cases.recheck,
        commands_tokens.token,
        commands_processes.processes,
        commands_runs.runs,
        commands_runs.reverify,
        commands_cycles.cycle,
        commands_reports.report,
        commands_reports.graduation,
    ):
        app.cli.add_command(command)
    from .dispatcher import scheduler_command
    from .worker import worker_command

    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)


def main():
    """Entry point of the `tepat` command."""
    from . import create_app

    cli = FlaskGroup(create_app=create_app, add_version_option=False, help="Tepat: bansos case engine.")
    cli.main(prog_name="tepat")


if __name__ == "__main__":
    main()
