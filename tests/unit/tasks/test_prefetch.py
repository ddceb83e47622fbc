"""tasks.prefetch: answers asked before a submission writes are taken once, errors raised by the step."""

import pytest

from integrations.base import IntegrationTimeout, PersonNotFound
from tasks.prefetch import prefetch_application, take, using


class _Record:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class _Source:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name, args))
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

        return call


class _Integrations:
    def __init__(self, **sources):
        self.__dict__.update(sources)


def _integrations(dtsen_answer="decile 3"):
    person = _Record(kk_number="3510010101010001", household=[{"nik": "3510014101800001"}, {"nik": "3510015101100002"}])
    return _Integrations(
        civil_registry=_Source(person),
        dtsen=_Source(dtsen_answer),
        bpjs_health=_Source("h"),
        bpjs_employment=_Source(["e1", "e2"]),
        assets=_Source("a"),
        civil_service=_Source(["c1", "c2"]),
        face=_Source("encoding"),
    )


ALL = frozenset(
    {
        "identity.verify",
        "biometric.face_match",
        "biometric.deduplicate",
        "dtsen.lookup",
        "bpjs_health.lookup",
        "bpjs_employment.lookup_household",
        "assets.lookup",
        "civil_service.lookup_household",
    }
)


def test_prefetched_answers_are_taken_once_then_the_source_is_asked_again():
    integrations = _integrations()
    answers = prefetch_application(integrations, ALL, "3510014101800001", selfie=b"photo")
    assert integrations.face.calls == [("encode", (b"photo",))]
    assert [c[0] for c in integrations.civil_registry.calls] == ["lookup_person", "reference_photo"]
    asked = []
    with using(answers):
        assert take("dtsen", "3510010101010001", lambda: asked.append("dtsen")) == "decile 3"
        household = ("3510014101800001", "3510015101100002")
        assert take("bpjs_employment", household, lambda: asked.append("e")) == ["e1", "e2"]
        assert take("dtsen", "3510010101010001", lambda: "asked again") == "asked again"  # used once
        assert take("bpjs_employment", ("3510014101800001",), lambda: "other household") == "other household"
    assert asked == [] and len(integrations.dtsen.calls) == 1
    assert take("assets", "3510010101010001", lambda: "outside the submission") == "outside the submission"


def test_an_error_answer_is_raised_by_the_step_that_needs_it():
    integrations = _integrations(dtsen_answer=IntegrationTimeout("dtsen", "sandbox timeout"))
    answers = prefetch_application(integrations, ALL, "3510014101800001")
    with using(answers), pytest.raises(IntegrationTimeout):
        take("dtsen", "3510010101010001", lambda: "not asked")
    assert len(integrations.dtsen.calls) == 1  # asked once, in the prefetch


def test_only_what_the_diagram_calls_is_asked():
    integrations = _integrations()
    prefetch_application(integrations, frozenset({"identity.verify", "dtsen.lookup"}), "3510014101800001", b"x")
    assert integrations.face.calls == [] and integrations.bpjs_health.calls == []
    assert [c[0] for c in integrations.civil_registry.calls] == ["lookup_person"]
    assert len(integrations.dtsen.calls) == 1
    unknown = _Integrations(civil_registry=_Source(PersonNotFound("civil_registry", "x")), dtsen=_Source("d"))
    answers = prefetch_application(unknown, ALL - {"biometric.face_match", "biometric.deduplicate"}, "3510014101800009")
    assert unknown.dtsen.calls == []  # no family card: nothing else is asked
    with using(answers), pytest.raises(PersonNotFound):
        take("civil_registry.lookup_person", "3510014101800009", lambda: "not asked")
