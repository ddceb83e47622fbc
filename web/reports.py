"""Programme reports: the targeting report (what each exclusion ground kept out, what eligible families
receive), as a page and an Excel workbook, for supervisors, administrators and auditors, limited to
their districts."""

import io

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from cases.audit import record
from cases.officers import district_name
from cases.targeting import GROUNDS, method_text, write_xlsx
from cases.targeting import cache as report_cache
from engine.db import db, unit_of_work

from .auth import roles_required

bp = Blueprint("reports", __name__)
READERS = ("supervisor", "administrator", "auditor")


def _locale():
    return "en" if str(get_locale()) == "en" else "id"


def _report():
    report = report_cache.get(db.session, current_user.actor, current_app.config["BANSOS_BENEFITS"])
    for area in report.districts:
        area.name = district_name(area.code) or area.name
    return report


def _audit(action, report):
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            action,
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail={
                "districts": [a.code for a in report.districts],
                "excluded": report.total.excluded.families,
                "included": report.total.included.families,
            },
        )


@bp.get("/reports/targeting")
@roles_required(*READERS)
def targeting():
    """The targeting report: families and would-be annual benefit per exclusion ground, per district."""
    report = _report()
    _audit("report.targeting.view", report)
    locale = _locale()
    grounds = [(key, label_id if locale == "id" else label_en, codes) for key, label_id, label_en, codes in GROUNDS]
    return render_template(
        "reports_targeting.html",
        report=report,
        grounds=grounds,
        method=method_text(locale),
        scope=current_user.actor.regions,
    )


@bp.get("/reports/targeting.xlsx")
@roles_required(*READERS)
def targeting_xlsx():
    """The same report as an Excel workbook."""
    report = _report()
    out = io.BytesIO()
    write_xlsx(report, out, _locale())
    _audit("report.targeting.export", report)
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": "attachment; filename=tepat-targeting.xlsx", "Cache-Control": "no-store"},
    )


def _district_label(code):
    name = district_name(code) if code and code != "??" else ""
    return f"{code} {name}".strip()


def programme_chart_data(figures, cycles=None):
    """The dashboard's figures as Chart.js series (the tables beside show the same numbers)."""
    quarters, districts = figures.quarter_list(), figures.district_list()
    cq = cycles.quarter_list() if cycles else []
    cd = cycles.district_list() if cycles else []

    def series(table, keys, names):
        return {k: [getattr(table[x], k) for x in keys] for k in names}

    pay, com = ("paid", "failed", "returned"), ("checks", "compliant", "warnings", "suspended")
    return {
        "pay_quarters": {"labels": cq, "series": series(cycles.quarters, cq, pay) if cycles else {}},
        "pay_districts": {
            "labels": [_district_label(d) for d in cd],
            "series": series(cycles.districts, cd, pay) if cycles else {},
        },
        "com_quarters": {"labels": cq, "series": series(cycles.quarters, cq, com) if cycles else {}},
        "com_districts": {
            "labels": [_district_label(d) for d in cd],
            "series": series(cycles.districts, cd, com) if cycles else {},
        },
        "quarters": {
            "labels": quarters,
            "series": {
                "enrolled": [figures.quarters[q].enrolled for q in quarters],
                "exits": [figures.quarters[q].exits for q in quarters],
            },
        },
        "districts": {
            "labels": [_district_label(d) for d in districts],
            "series": {
                "active": [figures.active.get(d, 0) for d in districts],
                "exits": [figures.districts[d].exits for d in districts],
            },
        },
        "names": {
            "enrolled": _("New enrolments"),
            "exits": _("Exits"),
            "active": _("Active enrolments"),
            "families": _("Families"),
            "paid": _("Paid (credited or drawn)"),
            "failed": _("Failed"),
            "returned": _("Returned"),
            "checks": _("Checks recorded"),
            "compliant": _("Compliant"),
            "warnings": _("Warnings"),
            "suspended": _("Suspended components"),
            "count": _("Count"),
        },
    }


@bp.get("/reports/programme")
@roles_required(*READERS)
def programme():
    """The programme dashboard: enrolments and exits per quarter and district, charts and tables."""
    from cases.programme_figures import cycle_figures, programme_figures

    figures = programme_figures(db.session, current_user.actor)
    cycles = cycle_figures(db.session, current_user.actor)
    return render_template(
        "reports_programme.html",
        figures=figures,
        cycles=cycles,
        charts=programme_chart_data(figures, cycles),
        district_label=_district_label,
        scope=current_user.actor.regions,
    )


@bp.get("/reports/programme.xlsx")
@roles_required(*READERS)
def programme_xlsx():
    """The dashboard's figures as an Excel workbook."""
    from cases.programme_figures import cycle_figures, programme_figures
    from cases.programme_figures import write_xlsx as write_programme

    figures = programme_figures(db.session, current_user.actor)
    out = io.BytesIO()
    write_programme(figures, out, _district_label, _locale(), cycles=cycle_figures(db.session, current_user.actor))
    with unit_of_work(db.session):
        record(
            db.session,
            current_user.actor,
            "report.programme.export",
            ip=request.remote_addr,
            user_agent=request.user_agent.string,
            detail={"districts": figures.district_list()},
        )
    return Response(
        out.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": "attachment; filename=tepat-programme.xlsx", "Cache-Control": "no-store"},
    )
