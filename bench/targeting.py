"""How long the targeting report (cases/targeting.py) and the programme dashboard figures take at scale.

Writes N decided cases (3 in 4 excluded, each with a civil-registry answer of a 5-person household; 1 in 4
enrolled with an enrolment row) spread over the 25 districts, then times one report for every district and
one for a single-district officer. Not a test.

    PYTHONPATH=. python bench/targeting.py --cases 50000 [--database URL]   (default: a temporary SQLite file)
"""

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REASONS = (
    ["DECEASED"],
    ["CIVIL_SERVANT_HOUSEHOLD"],
    ["DECILE_ABOVE_CUTOFF"],
    ["WAGE_ABOVE_MINIMUM", "FOUR_WHEEL_VEHICLE"],
)


def household(i):
    return [
        {"nik": f"{i:016d}", "birth_date": "1980-01-01", "alive": True},
        {"nik": f"{i + 1:016d}", "birth_date": "1982-01-01", "alive": True, "pregnant": i % 7 == 0},
        {"nik": f"{i + 2:016d}", "birth_date": "2022-05-01", "alive": True},
        {"nik": f"{i + 3:016d}", "birth_date": "2015-05-01", "alive": True, "school_level": "SD"},
        {"nik": f"{i + 4:016d}", "birth_date": "1950-05-01", "alive": i % 3 != 0},
    ]


def measure(url, cases):
    from sqlalchemy import insert

    from cases.models import Application, Enrolment, EvidenceRecord
    from cases.programme_figures import programme_figures
    from cases.targeting import targeting_report
    from engine.core import Actor
    from engine.db import db
    from web import create_app
    from web.schema import reset_schema

    app = create_app({"BANSOS_DATABASE_URL": url, "BANSOS_SCHEDULER_ENABLED": False})
    decided = datetime(2026, 6, 1, tzinfo=UTC)
    with app.app_context():
        reset_schema(db.engine)
        started = time.perf_counter()
        for start in range(0, cases, 5000):
            apps, evidence, enrolments = [], [], []
            for i in range(start, min(cases, start + 5000)):
                enrolled = i % 4 == 3
                apps.append(
                    {
                        "id": i + 1,
                        "nik": f"35{i:014d}",
                        "consent_version": "v1",
                        "status": "ENROLLED" if enrolled else "REJECTED",
                        "district_code": f"{i % 25 + 1:02d}",
                        "decided_at": decided,
                        "created_at": decided,
                        "updated_at": decided,
                        "channel": "self",
                        "reasons": [] if enrolled else [{"code": c} for c in REASONS[i % 4]],
                        "programmes": ["PKH", "BPNT", "PBI"] if i % 5 else [],
                        "review_flags": [],
                        "benefits": {
                            "annual_cash_total": 6_300_000,
                            "pbi_premium_monthly": 210_000,
                            "first_payment": 1_575_000,
                        }
                        if enrolled
                        else None,
                    }
                )
                evidence.append(
                    {
                        "application_id": i + 1,
                        "source": "civil_registry",
                        "operator": "identity.verify",
                        "checked_at": decided,
                        "value": {"nik": f"35{i:014d}", "household": household(i)},
                    }
                )
                if enrolled:
                    enrolments.append(
                        {
                            "application_id": i + 1,
                            "nik": f"35{i:014d}",
                            "programmes": ["PKH"],
                            "benefits": {"annual_cash_total": 6_300_000},
                            "enrolled_at": decided,
                            "disbursement_ref": f"D{i}",
                        }
                    )
            db.session.execute(insert(Application.__table__), apps)
            db.session.execute(insert(EvidenceRecord.__table__), evidence)
            if enrolments:
                db.session.execute(insert(Enrolment.__table__), enrolments)
            db.session.commit()
        print(f"{db.engine.dialect.name}: wrote {cases} cases in {time.perf_counter() - started:.1f} s")
        benefits = app.config["BANSOS_BENEFITS"]
        for label, regions in (("every district", None), ("one district", ["07"])):
            actor = Actor(id="bench", roles=frozenset({"supervisor"}), regions=regions, name="bench")
            started = time.perf_counter()
            report = targeting_report(db.session, actor, benefits)
            took = time.perf_counter() - started
            started = time.perf_counter()
            figures = programme_figures(db.session, actor)
            took_dashboard = time.perf_counter() - started
            print(
                f"  targeting report, {label}: {took:.2f} s ({report.total.excluded.families} excluded, "
                f"Rp{report.total.excluded.total:,} saved a year; {report.total.included.families} enrolled); "
                f"programme dashboard: {took_dashboard:.2f} s ({sum(figures.active.values())} active)"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20000)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    if args.database:
        measure(args.database, args.cases)
        return
    with tempfile.TemporaryDirectory() as folder:
        measure(f"sqlite:///{Path(folder) / 'bench.sqlite'}", args.cases)


if __name__ == "__main__":
    main()
