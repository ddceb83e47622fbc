"""The editor's moddle descriptor knows every SpiffWorkflow extension our diagrams use (else bpmn-js would drop it)."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_every_spiffworkflow_element_in_the_processes_is_declared_for_the_modeler():
    descriptor = json.loads((ROOT / "web" / "static" / "spiffworkflow-moddle.json").read_text())
    declared = {t["name"][0].lower() + t["name"][1:] for t in descriptor["types"]}
    used = set()
    for path in (ROOT / "processes").glob("*.bpmn"):
        used |= set(re.findall(r"<spiffworkflow:([A-Za-z]+)", path.read_text()))
    assert used and used <= declared, sorted(used - declared)
