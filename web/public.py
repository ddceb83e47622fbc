"""Public transparency: aggregate figures per district and village, open to anyone, with no personal data."""

import io

from flask import Blueprint, Response, current_app, jsonify, render_template
from flask_babel import gettext as _

from cases.csvcells import SafeWriter
from cases.figures import CATEGORIES, COUNTS, HIDDEN, UNKNOWN_VILLAGE, cache, suppressed_text
from engine.db import db

bp = Blueprint("public", __name__)

CSV_COLUMNS = ("level", "district_code", "district_name", "village", *COUNTS, "avg_days_to_decision")
# Chart series: the categories that add up to the registrations, with their colours.
SERIES_COLOURS = {"approved": "#198754", "rejected": "#dc3545", "in_review": "#ffc107", "removed": "#6c757d"}


def current_figures():
    """The published figures (recomputed at most once per BANSOS_PUBLIC_FIGURES_CACHE_SECONDS)."""
    config = current_app.config
    return cache.get(
        db.session, int(config["BANSOS_PUBLIC_MIN_CELL"]), float(config["BANSOS_PUBLIC_FIGURES_CACHE_SECONDS"])
    )


def _labels():
    return {
        "registered": _("Registered"),
        "approved": _("Approved (enrolled)"),
        "rejected": _("Rejected"),
        "in_review": _("In review"),
        "removed": _("Removed after a re-check"),
        "appeals": _("Appeals filed"),
        "avg_days_to_decision": _("Average days to a decision"),
    }


def _chart_data(figures):
    labels = _labels()
    return {
        "labels": [f"{d.code} {d.name}" for d in figures.districts],
        "datasets": [
            {"label": labels[k], "colour": SERIES_COLOURS[k], "data": [getattr(d, k) for d in figures.districts]}
            for k in CATEGORIES
        ],
        "axis": _("Applications"),
    }


@bp.get("/figures")
def figures_page():
    """Show the figures as tables and a chart (no sign-in; nothing that names a person)."""
    figures = current_figures()
    db.session.rollback()  # nothing to keep; close the read transaction early
    return render_template(
        "public_figures.html",
        figures=figures,
        labels=_labels(),
        counts=COUNTS,
        chart=_chart_data(figures),
        threshold=figures.threshold,
        suppressed=suppressed_text(figures.threshold),
        hidden=HIDDEN,
        unknown_village=UNKNOWN_VILLAGE,
    )


@bp.get("/figures.json")
def figures_json():
    """The same figures as JSON."""
    figures = current_figures()
    db.session.rollback()
    response = jsonify(figures.as_dict())
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/figures.csv")
def figures_csv():
    """The same figures as a CSV file: the regency, each district, each village."""
    figures = current_figures()
    db.session.rollback()
    out = io.StringIO()
    writer = SafeWriter(out)  # every text cell (names from imported extracts too) never a formula
    writer.writerow(CSV_COLUMNS)

    def row(level, district, village):
        area = village or district or figures.total
        writer.writerow(
            [
                level,
                district.code if district else "",
                district.name if district else "",
                village.name if village else "",
                *(getattr(area, k) for k in COUNTS),
                area.avg_days_to_decision,
            ]
        )

    row("regency", None, None)
    for district in figures.districts:
        row("district", district, None)
        for village in district.villages:
            row("village", district, village)
    stamp = figures.computed_at.strftime("%Y%m%d")
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="tepat-figures-{stamp}.csv"',
            "Cache-Control": "public, max-age=60",
        },
    )
