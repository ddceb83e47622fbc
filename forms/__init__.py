"""Marshmallow schemas for every human-task form and API payload; FORMS maps form names to schemas."""

from .application import AppealSchema, ApplicationSubmissionSchema  # noqa: F401
from .objection import OBJECTION_GROUNDS, ObjectionSchema  # noqa: F401
from .tasks import FORMS  # noqa: F401
