"""Programme reports: the targeting report (what each exclusion ground kept out, what eligible families
receive), as a page and an Excel workbook, for supervisors, administrators and auditors, limited to
their districts."""
import io

from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import get_locale
from flask_login import current_user

from cases.audit import record
from cases.officers import district_name
from cases.targeting import GROUNDS, method_text, targeting_report, write_xlsx
from engine.db import db

from .auth import roles_required

bp = Blueprint("reports", __name__)
READERS = ("supervisor", "administrator", "auditor")


def _locale():
    return "en" if str(get_locale()) == "en" else "id"


def _report():
    names = {}
    report = targeting_report(db.session, current_user.actor, current_app.config["BANSOS_BENEFITS"], names)
    for area in report.districts:
        area.name = district_name(area.code) or area.name
    return report


def _audit(action, report):
    record(db.session, current_user.actor, action, ip=request.remote_addr, user_agent=request.user_agent.string,
           detail={"districts": [a.code for a in report.districts], "excluded": report.total.excluded.families,
                   "included": report.total.included.families})
    db.session.commit()


@bp.get("/reports/targeting")
@roles_required(*READERS)
def targeting():
    """The targeting report: families and would-be annual benefit per exclusion ground, per district."""
    report = _report()
    _audit("report.targeting.view", report)
    locale = _locale()
    grounds = [(key, label_id if locale == "id" else label_en, codes) for key, label_id, label_en, codes in GROUNDS]
    return render_template("reports_targeting.html", report=report, grounds=grounds, method=method_text(locale),
                           scope=current_user.actor.regions)


@bp.get("/reports/targeting.xlsx")
@roles_required(*READERS)
def targeting_xlsx():
    """The same report as an Excel workbook."""
    report = _report()
    out = io.BytesIO()
    write_xlsx(report, out, _locale())
    _audit("report.targeting.export", report)
    return Response(out.getvalue(),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename=tepat-targeting.xlsx",
                             "Cache-Control": "no-store"})
