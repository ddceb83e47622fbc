"""Sandbox implementations of the outside systems, over synthetic registry extracts."""
