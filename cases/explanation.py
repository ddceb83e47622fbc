"""Per-criterion explanation of a decision: the facts and evidence used, the rule and version, the outcome.

The criteria are read from the deployed DMN tables themselves (one criterion per rule), so an
administrator's change to the rules changes the explanation with it.
"""

import ast
from functools import lru_cache

from lxml import etree

# Which source answered each fact the rules read (the facts are derived in the diagram's
# "derive facts" script from these service results).
FACT_SOURCES = {
    "alive": "civil_registry",
    "civil_service": "civil_service",
    "max_wage": "bpjs_employment",
    "umk": None,  # a regional setting, not an outside answer
    "four_wheel_vehicles": "assets",
    "electricity_va": "assets",
    "electricity_subsidised": "assets",
    "company_roles": "assets",
    "decile": "dtsen",
    "face_outcome": "face",
    "suspected_duplicates": "face_index",
}

PASS_TEXT = ("Memenuhi syarat", "Criterion met")
NOT_CHECKED_TEXT = ("Tidak diperiksa", "Not checked")
SET_ASIDE_TEXT = ("Dikesampingkan dalam banding", "Set aside on appeal")


@lru_cache(maxsize=64)
def _rules_of(dmn_xml):
    """Return (decision_id, [(rule_id, output, [input expressions used], [input labels])]) of a DMN."""
    root = etree.fromstring(dmn_xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    ns = {"d": root.nsmap.get(None)}
    decision = root.find("d:decision", ns)
    table = decision.find("d:decisionTable", ns)
    inputs = [
        (i.findtext("d:inputExpression/d:text", namespaces=ns), i.get("label")) for i in table.findall("d:input", ns)
    ]
    rules = []
    for rule in table.findall("d:rule", ns):
        cells = [e.findtext("d:text", namespaces=ns) or "" for e in rule.findall("d:inputEntry", ns)]
        used = [(expr, label) for (expr, label), cell in zip(inputs, cells, strict=False) if cell.strip()]
        output = rule.find("d:outputEntry/d:text", ns).text
        try:
            value = ast.literal_eval(output)
        except (ValueError, SyntaxError):
            value = output
        rules.append((rule.get("id"), value, [u[0] for u in used], [u[1] for u in used]))
    return decision.get("id"), rules


def _label(labels):
    ids = [lbl.split(" / ")[0] for lbl in labels]
    ens = [lbl.split(" / ")[-1] for lbl in labels]
    return ", ".join(ids), ", ".join(ens)


def build_explanation(files, rule_version, data, evidence):
    """Explain every exclusion criterion and programme rule for the data a decision was made on.

    files: {name: xml} of the deployed version; data: the task data at the decision;
    evidence: [{"id", "source", "checked_at"}] of the case, newest last.
    """
    latest = {}
    for ev in evidence:
        latest[ev["source"]] = ev
    failed = {x.get("code"): x for x in data.get("exclusions") or [] if isinstance(x, dict)}
    programmes = set(data.get("programmes") or [])
    set_aside = set(data.get("overturned_grounds") or [])  # grounds an appeals officer overturned
    entries = []
    for name in sorted(n for n in files if n.endswith(".dmn")):
        decision_id, rules = _rules_of(files[name])
        for rule_id, output, facts_used, labels in rules:
            facts = {f: data.get(f) for f in facts_used}
            if "max_wage" in facts:
                facts["umk"] = data.get("umk")
            sources = sorted({FACT_SOURCES.get(f) for f in facts if FACT_SOURCES.get(f)})
            label_id, label_en = _label(labels)
            entry = {
                "decision": decision_id,
                "rule": rule_id,
                "rule_version": rule_version,
                "file": name,
                "facts": facts,
                "evidence": [latest[s] for s in sources if s in latest],
            }
            if isinstance(output, dict):  # an exclusion ground
                code = output.get("code")
                unknown = all(data.get(f) is None for f in facts_used) and code not in failed
                if code in failed and code in set_aside:
                    outcome = "set_aside"
                    text = (f"{SET_ASIDE_TEXT[0]}: {output.get('id')}", f"{SET_ASIDE_TEXT[1]}: {output.get('en')}")
                elif code in failed:
                    outcome = "fail" if output.get("effect") == "reject" else "review"
                    text = (output.get("id"), output.get("en"))
                elif unknown and facts_used != ["decile"]:
                    outcome, text = (
                        "not_checked",
                        (f"{NOT_CHECKED_TEXT[0]}: {label_id}", f"{NOT_CHECKED_TEXT[1]}: {label_en}"),
                    )
                else:
                    outcome, text = "pass", (f"{PASS_TEXT[0]}: {label_id}", f"{PASS_TEXT[1]}: {label_en}")
                entry.update(
                    criterion=code,
                    effect=output.get("effect"),
                    outcome=outcome,
                    rule_text_id=output.get("id"),
                    rule_text_en=output.get("en"),
                )  # what the rule looks for
            else:  # a programme rule
                entry.update(
                    criterion=f"PROGRAMME_{output}",
                    effect=None,
                    outcome="eligible" if output in programmes else "not_eligible",
                )
                text = (
                    (f"Layak program {output}", f"Eligible for {output}")
                    if output in programmes
                    else (f"Tidak layak program {output}", f"Not eligible for {output}")
                )
            entry["text_id"], entry["text_en"] = text
            entries.append(entry)
    return entries


EXPLAINED_FACTS = tuple(f for f in FACT_SOURCES if f != "umk")


def compare_explanations(before, after):
    """Return what changed between two explanations: facts and criterion outcomes."""
    changes = []
    old = {e["criterion"]: e for e in before or []}
    for entry in after or []:
        if entry["outcome"] == "not_checked":  # not re-evaluated this time (e.g. the face at a re-check)
            continue
        prev = old.get(entry["criterion"])
        if prev is None:
            changes.append({"criterion": entry["criterion"], "from": None, "to": entry["outcome"]})
            continue
        if prev["outcome"] != entry["outcome"]:
            changes.append(
                {
                    "criterion": entry["criterion"],
                    "from": prev["outcome"],
                    "to": entry["outcome"],
                    "text_id": entry["text_id"],
                    "text_en": entry["text_en"],
                }
            )
        for fact, value in entry["facts"].items():
            if fact in prev["facts"] and prev["facts"][fact] != value:
                changes.append(
                    {"criterion": entry["criterion"], "fact": fact, "from": prev["facts"][fact], "to": value}
                )
    unique, seen = [], set()
    for c in changes:  # the same fact can feed several criteria: report it once
        key = (c.get("fact"), repr(c.get("from")), repr(c.get("to"))) if "fact" in c else (c["criterion"],)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique
