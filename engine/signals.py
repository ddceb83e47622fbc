"""Signals the engine sends; the domain layer listens (data flows one way)."""

from blinker import Namespace

_signals = Namespace()

# sender: the Engine; kwargs: runtime (InstanceRuntime, with .instance, .workflow, .journal)
instance_saved = _signals.signal("instance-saved")
# sender: the Engine; kwargs: row (HumanTask), actor (Actor), data (validated form data)
task_completed = _signals.signal("task-completed")
# sender: the Engine; kwargs: row (HumanTask), actor, action ("claim" | "unclaim" | "reassign"), target
task_assigned = _signals.signal("task-assigned")
# sender: the Engine; kwargs: incident (Incident), actor, action ("retry" | "skip")
incident_resolved = _signals.signal("incident-resolved")
