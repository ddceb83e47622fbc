"""Exceptions raised by the engine, named for the condition."""


class EngineError(Exception):
    """Base for refusals the engine reports to a user; `code` is stable, message is English."""

    code = "ENGINE_ERROR"

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class DeployRejected(EngineError):
    code = "DEPLOY_REJECTED"

    def __init__(self, message, problems):
        super().__init__(message, problems=problems)
        self.problems = problems  # list of {"file", "element", "message"}


class ProcessNotDeployed(EngineError):
    code = "PROCESS_NOT_DEPLOYED"


class InstanceNotFound(EngineError):
    code = "INSTANCE_NOT_FOUND"


class TaskNotFound(EngineError):
    code = "TASK_NOT_FOUND"


class TaskNotReady(EngineError):
    code = "TASK_NOT_READY"


class TaskAlreadyClaimed(EngineError):
    code = "TASK_ALREADY_CLAIMED"


class TaskNotClaimed(EngineError):
    code = "TASK_NOT_CLAIMED"


class NotAllowed(EngineError):
    code = "NOT_ALLOWED"


class FourEyesViolation(EngineError):
    code = "FOUR_EYES"


class FormInvalid(EngineError):
    code = "FORM_INVALID"

    def __init__(self, message, errors):
        super().__init__(message, errors=errors)
        self.errors = errors


class MessageNotExpected(EngineError):
    code = "MESSAGE_NOT_EXPECTED"


class IncidentNotFound(EngineError):
    code = "INCIDENT_NOT_FOUND"


class IncidentNotSkippable(EngineError):
    """A failed wake has no task to complete in its place; it can only be retried."""

    code = "INCIDENT_NOT_SKIPPABLE"
