"""The runtime around SpiffWorkflow: parse and validate, versions, load/save, locks, timers, messages."""
