"""The applicants' side of the case domain: portal sessions, registration drafts, appeal evidence files."""
