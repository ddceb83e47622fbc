"""The applicant portal: sign-in with the digital ID, registration, my case, appeals; and the
facilitators' assisted registration. `current_applicant` / `applicant_required` are in .session."""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal")


def register(app):
    """Register the portal's blueprints on the app (the sandbox provider's token endpoint takes no CSRF token)."""
    from .. import csrf
    from . import home, idp_pages, signin  # noqa: F401  (routes on bp)
    from .session import current_applicant

    csrf.exempt(idp_pages.token)
    app.jinja_env.globals["current_applicant"] = current_applicant
    app.register_blueprint(bp)
    app.register_blueprint(idp_pages.bp)
