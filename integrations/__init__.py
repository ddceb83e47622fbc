"""Adapters to the outside systems (registries, payments, notifications, face matching).

Import the submodules directly (``integrations.factory``, ``integrations.base``...); this package
stays empty so importing a small part never loads the face-recognition models.
"""
