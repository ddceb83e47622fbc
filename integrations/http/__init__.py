"""HTTP implementations of the outside-system interfaces (wire format: docs/integrations-http.md)."""
