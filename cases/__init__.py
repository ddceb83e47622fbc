"""The case domain: applications, evidence, timelines, appeals, enrolments, officers."""
