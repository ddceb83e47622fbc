"""The applicant's home page: their application (or how to start one) and their messages."""
from flask import render_template

from . import bp
from .session import applicant_required, current_applicant


@bp.get("/home")
@applicant_required
def home():
    """Where a signed-in applicant starts."""
    return render_template("portal/home.html", applicant=current_applicant())
