"""Service-task handlers, one per operator name, registered in `tasks.base.REGISTRY`."""

from .base import REGISTRY, BpmnError, ServiceContext, handler  # noqa: F401
