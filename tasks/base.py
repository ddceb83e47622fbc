"""The handler registry, the context handlers get, and the BPMN error they raise."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class BpmnError(Exception):
    """A business outcome the diagram catches with an error boundary event (e.g. unknown NIK)."""

    def __init__(self, code, message, **details):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


@dataclass
class ServiceContext:
    """What a handler may use: the outside systems, the settings, and who/what it runs for."""

    integrations: Any
    settings: dict
    photos: Any = None
    business_key: str = ""
    instance_id: int | None = None
    attempt: int = 1
    # Stable for this step of this instance, also when the step runs again after a crash: give it
    # to outside calls with an effect (payments, notices) so they happen once.
    idempotency_key: str = ""
    # The engine's database session, for steps that work on the database itself (payment cycles'
    # set-based steps); they flush, never commit.
    session: Any = None
    extras: dict = field(default_factory=dict)


REGISTRY: dict[str, Callable] = {}


def handler(operator):
    """Register the decorated function as the handler of `operator`."""

    def register(fn):
        if operator in REGISTRY:
            raise ValueError(f"operator {operator!r} registered twice")
        REGISTRY[operator] = fn
        return fn

    return register


def load_handlers():
    """Import every handler module so the registry is complete."""
    from . import benefits, biometric, cycles, data_checks, graduation, identity, objections, payments  # noqa: F401

    return REGISTRY
