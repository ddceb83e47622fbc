"""Ask the registries for a new application BEFORE its transaction writes anything.

Why: on SQLite the first write of a transaction takes the database's write lock, held until commit.
A submission used to write the case row first and then run the engine, so every registry call and the
selfie's face encoding ran under that lock, and only one submission in the whole deployment could be
in those calls at a time. ``submit_application`` now calls ``prefetch_application`` first: the
look-ups the diagram's first run is going to make (identity, registry photo, DTSEN, BPJS, assets,
civil service of the household) are asked up front, outside the lock, and the selfie is encoded
(the face matcher caches encodings by content). The engine run that follows takes each answer from
here instead of asking again (``take``), inside ``using(answers)`` only.

The engine's semantics are kept:
- Each source is still asked exactly once per step attempt. An answer that was an error (a timeout,
  an unknown NIK) is kept as that error and raised by the step that needed it, so the step's
  retries, BPMN errors and incidents happen exactly as if the step had made the call itself.
- Only what the deployed version's diagram calls is asked (its service-task operators), and a
  household look-up is only asked for the household the civil registry gave; an answer nobody takes
  is dropped when the submission's run ends.
- With workers (BANSOS_EXECUTION=celery) nothing is prefetched: the run happens later, elsewhere.
"""

import hashlib
from contextlib import contextmanager
from contextvars import ContextVar

_ANSWERS: ContextVar = ContextVar("tepat_prefetched_answers", default=None)
_ERROR = object()  # marks an answer that was an exception
MISSING = object()


@contextmanager
def using(answers):
    """Let the handlers run inside this block take `answers` (see `take`)."""
    token = _ANSWERS.set(answers or None)
    try:
        yield
    finally:
        _ANSWERS.reset(token)


def take(kind, key, ask):
    """Return the prefetched answer for (kind, key), raising it if it was an error; else call `ask()`.

    Each answer is used once: a second call (a retry after an error) asks the source again.
    """
    answers = _ANSWERS.get()
    found = answers.pop((kind, key), MISSING) if answers is not None else MISSING
    if found is MISSING:
        return ask()
    if isinstance(found, tuple) and len(found) == 2 and found[0] is _ERROR:
        raise found[1]
    return found


def prefetch_application(integrations, operators, nik, selfie=None):
    """Ask what the first run of an application for `nik` will need; return the answers (never raises)."""
    answers = {}

    def ask(kind, key, call):
        try:
            answers[(kind, key)] = value = call()
            return value
        except Exception as exc:  # noqa: BLE001 - kept, and raised by the step that needs it
            answers[(kind, key)] = (_ERROR, exc)
            return None

    if selfie is not None and operators & {"biometric.face_match", "biometric.deduplicate"}:
        try:
            kept = getattr(integrations, "selfie_faces", None)
            if kept is not None:  # checked by another process (the portal's photo step): not encoded again
                kept.recall(hashlib.sha256(selfie).hexdigest(), integrations.face)
            integrations.face.encode(selfie)  # the matcher keeps the encoding for both face steps
        except Exception:  # noqa: BLE001 - a photo problem is the face steps' to report
            pass
    if "identity.verify" not in operators:
        return answers
    record = ask("civil_registry.lookup_person", nik, lambda: integrations.civil_registry.lookup_person(nik))
    if "biometric.face_match" in operators and selfie is not None:
        ask("civil_registry.reference_photo", nik, lambda: integrations.civil_registry.reference_photo(nik))
    if record is None or not record.kk_number:
        return answers
    kk_number = record.kk_number
    niks = tuple(m.get("nik") for m in record.household)
    if "dtsen.lookup" in operators:
        ask("dtsen", kk_number, lambda: integrations.dtsen.lookup_household(kk_number))
    if "bpjs_health.lookup" in operators:
        ask("bpjs_health", nik, lambda: integrations.bpjs_health.lookup(nik))
    if "bpjs_employment.lookup_household" in operators and niks:
        ask("bpjs_employment", niks, lambda: integrations.bpjs_employment.lookup_household(list(niks)))
    if "assets.lookup" in operators:
        ask("assets", kk_number, lambda: integrations.assets.lookup_household(kk_number))
    if "civil_service.lookup_household" in operators and niks:
        ask("civil_service", niks, lambda: integrations.civil_service.lookup_household(list(niks)))
    return answers


def prefetch_families(integrations, operators, niks):
    """Ask, for MANY applicants at once, what a re-check of each will need; return the answers (never raises).

    For a run's chunk (cases/programme.py): each source that can answer several keys from one query
    (``batch_lookup``, the sandbox adapters) is asked once for the whole chunk, set-based, instead of
    once per family and step. Each answer is still built (faults, parsing, evidence) one key at a time,
    exactly as the step's own call would, and an error is kept and raised by the step that takes it.
    A source without ``batch_lookup`` is not prefetched: its steps ask it themselves.
    """
    answers = {}

    def ask_all(kind, source, keys):
        batch = getattr(source, "batch_lookup", None)
        if batch is None or not keys:
            return {}
        try:
            calls = batch(keys)
        except Exception:  # noqa: BLE001 - the steps ask again, one by one
            return {}
        got = {}
        for key, call in calls.items():
            try:
                answers[(kind, key)] = got[key] = call()
            except Exception as exc:  # noqa: BLE001 - kept, and raised by the step that needs it
                answers[(kind, key)] = (_ERROR, exc)
        return got

    if "identity.verify" not in operators:
        return answers
    records = ask_all("civil_registry.lookup_person", integrations.civil_registry, list(dict.fromkeys(niks)))
    cards = [r.kk_number for r in records.values() if r is not None and r.kk_number]
    households = [
        tuple(m.get("nik") for m in r.household)
        for r in records.values()
        if r is not None and r.kk_number and r.household
    ]
    if "dtsen.lookup" in operators:
        ask_all("dtsen", integrations.dtsen, cards)
    if "bpjs_health.lookup" in operators:
        ask_all("bpjs_health", integrations.bpjs_health, list(dict.fromkeys(niks)))
    if "bpjs_employment.lookup_household" in operators:
        ask_all("bpjs_employment", integrations.bpjs_employment, households)
    if "assets.lookup" in operators:
        ask_all("assets", integrations.assets, cards)
    if "civil_service.lookup_household" in operators:
        ask_all("civil_service", integrations.civil_service, households)
    return answers
