"""Administration of officers: accounts, roles and districts, district coverage; officers' own profile."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
profile_bp = Blueprint("profile", __name__)


def _role_labels():
    from .forms import ROLE_LABELS

    return {"role_labels": ROLE_LABELS}


bp.context_processor(_role_labels)
profile_bp.context_processor(_role_labels)

from . import imports, officers, profile, runs  # noqa: E402,F401  (routes register on the blueprints)
