"""1:N face deduplication on the app's database: the handler, the index, and several processes."""
import json

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from tests.conftest import faces_or_skip

NIK_A = "3510014101900001"
NIK_B = "3510020202910002"
NIK_C = "3510030303920003"
NIK_D = "3510040404930004"


@pytest.fixture
def index(svc):
    """The app's face index over an empty table."""
    from engine.db import db
    from integrations.face_index import face_templates

    db.session.execute(delete(face_templates))
    db.session.commit()
    svc.integrations.face_index.rebuild()
    yield svc.integrations.face_index
    db.session.rollback()
    db.session.execute(delete(face_templates))
    db.session.commit()


@pytest.fixture(scope="module")
def faces():
    return faces_or_skip()


def run_dedup(svc, nik, case_number, photo_bytes):
    """Run the handler the way the engine does (JSON round trip), then commit like a request would."""
    from engine.db import db
    from tasks.base import REGISTRY, ServiceContext, load_handlers

    load_handlers()
    context = ServiceContext(integrations=svc.integrations, settings={}, photos=svc.photos,
                             business_key=case_number)
    ref = svc.photos.put(photo_bytes) if photo_bytes is not None else None
    result = json.loads(json.dumps(REGISTRY["biometric.deduplicate"](context, nik=nik, case_number=case_number,
                                                                       selfie_ref=ref)))
    db.session.commit()
    return result


def stored_templates():
    from engine.db import db
    from integrations.face_index import face_templates

    return db.session.execute(select(face_templates.c.nik, face_templates.c.case_ref, face_templates.c.encoding)
                              .where(face_templates.c.deleted_at.is_(None)).order_by(face_templates.c.id)).all()


def test_the_same_face_under_another_nik_is_flagged(svc, index, faces):
    first = run_dedup(svc, NIK_A, "TPT-2026-0000001", (faces / "obama.jpg").read_bytes())
    assert (first["outcome"], first["suspected_duplicates"], first["checked_templates"]) == ("clear", [], 0)

    second = run_dedup(svc, NIK_B, "TPT-2026-0000002", (faces / "obama2.jpg").read_bytes())
    assert second["outcome"] == "suspected" and second["reason_code"] == "DUPLICATE_FACE_SUSPECTED"
    [duplicate] = second["suspected_duplicates"]
    assert duplicate["case_number"] == "TPT-2026-0000001"
    assert duplicate["nik_masked"] == "3510********0001"
    assert 0 < duplicate["distance"] <= second["threshold"] == 0.5
    assert second["checked_templates"] == 1
    [evidence] = second["evidence"]
    assert evidence["source"] == "face_index"
    assert evidence["value"]["suspected_duplicates"] == [duplicate]
    assert NIK_A not in json.dumps(second)  # the other person's NIK is only ever shown masked

    third = run_dedup(svc, NIK_C, "TPT-2026-0000003", (faces / "biden.jpg").read_bytes())
    assert (third["outcome"], third["suspected_duplicates"], third["checked_templates"]) == ("clear", [], 2)
    assert [(r.nik, r.case_ref, len(r.encoding)) for r in stored_templates()] == [
        (NIK_A, "TPT-2026-0000001", 512), (NIK_B, "TPT-2026-0000002", 512), (NIK_C, "TPT-2026-0000003", 512)]


def test_another_application_under_the_same_nik_is_not_a_duplicate(svc, index, faces):
    run_dedup(svc, NIK_A, "TPT-2026-0000001", (faces / "obama.jpg").read_bytes())
    again = run_dedup(svc, NIK_A, "TPT-2026-0000009", (faces / "obama3.jpg").read_bytes())
    assert again["outcome"] == "clear"


def test_a_retried_task_stores_one_template(svc, index, faces):
    for _ in range(2):
        run_dedup(svc, NIK_A, "TPT-2026-0000001", (faces / "obama.jpg").read_bytes())
    assert len(stored_templates()) == 1


@pytest.mark.parametrize("photo, reason", [(None, "NO_SELFIE"), ("two_people.jpg", "MULTIPLE_FACES"),
                                           (b"%PDF-1.7 not a photo", "IMAGE_TYPE_NOT_ALLOWED")])
def test_no_usable_selfie_is_not_checked(svc, index, faces, photo, reason):
    data = (faces / photo).read_bytes() if isinstance(photo, str) else photo
    result = run_dedup(svc, NIK_D, "TPT-2026-0000004", data)
    assert (result["outcome"], result["reason_code"], result["suspected_duplicates"]) == ("not_checked", reason, [])
    assert stored_templates() == []


def test_a_deleted_selfie_is_not_checked(svc, index, faces):
    from tasks.base import REGISTRY, ServiceContext, load_handlers

    load_handlers()
    ref = svc.photos.put((faces / "obama.jpg").read_bytes())
    svc.photos.delete(ref)  # retention removed it before the task ran
    context = ServiceContext(integrations=svc.integrations, settings={}, photos=svc.photos)
    result = REGISTRY["biometric.deduplicate"](context, nik=NIK_D, case_number="TPT-1", selfie_ref=ref)
    assert (result["outcome"], result["reason_code"]) == ("not_checked", "SELFIE_MISSING")


def test_an_index_rebuilt_from_the_database_gives_the_same_answers(svc, index, faces):
    from engine.db import db
    from integrations.face_index import FaceTemplateIndex

    for nik, case, name in [(NIK_A, "TPT-1", "obama.jpg"), (NIK_C, "TPT-3", "biden.jpg"),
                            (NIK_D, "TPT-4", "rose_leslie1.jpg")]:
        run_dedup(svc, nik, case, (faces / name).read_bytes())
    probes = [svc.integrations.face.encode((faces / n).read_bytes())
              for n in ("obama2.jpg", "biden2.jpg", "rose_leslie2.jpg", "kit_harington1.jpeg")]
    before = [index.search(p, k=3) for p in probes]
    assert [[c.case_ref for c in hits] for hits in before] == [["TPT-1"], ["TPT-3"], ["TPT-4"], []]
    fresh = FaceTemplateIndex(lambda: db.session, threshold=index.threshold)  # a new process
    assert [fresh.search(p, k=3) for p in probes] == before
    assert index.rebuild() == 3
    assert [index.search(p, k=3) for p in probes] == before


def test_a_rolled_back_add_never_appears(svc, index, faces):
    from engine.db import db
    from integrations.face_index import FaceTemplateIndex, face_templates

    encoding = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
    index.add(NIK_A, "TPT-rolled-back", encoding)
    assert db.session.scalar(select(func.count()).select_from(face_templates)) == 1  # in our transaction
    assert index.search(encoding) == []
    db.session.rollback()
    assert index.search(encoding) == [] and index.size == 0
    assert FaceTemplateIndex(lambda: db.session).search(encoding) == []
    index.add(NIK_B, "TPT-kept", encoding)
    db.session.commit()
    assert [c.case_ref for c in index.search(encoding)] == ["TPT-kept"]


def test_two_processes_stay_consistent(svc, index, faces, app):
    from engine.db import db
    from integrations.face_index import FaceTemplateIndex, face_templates

    other_session = db.session.session_factory()  # its own connection and transaction
    try:
        other = FaceTemplateIndex(lambda: other_session, threshold=index.threshold)
        obama = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
        obama2 = svc.integrations.face.encode((faces / "obama2.jpg").read_bytes())
        assert other.size == 0
        index.add(NIK_A, "TPT-1", obama)
        db.session.commit()
        assert [c.nik for c in other.search(obama2, exclude_nik=NIK_B)] == [NIK_A]
        other.add(NIK_C, "TPT-3", obama2)
        assert [c.nik for c in index.search(obama2)] == [NIK_A]  # not committed yet
        other_session.commit()
        assert sorted(c.nik for c in index.search(obama2)) == [NIK_A, NIK_C]
        assert index.delete_for(NIK_A) == 1  # erasure on request (UU PDP)
        db.session.commit()
        assert [c.nik for c in other.search(obama2)] == [NIK_C]
        assert other.size == index.size == 1
        erased = db.session.execute(select(face_templates).where(face_templates.c.nik == NIK_A)).one()
        assert erased.encoding is None and erased.deleted_at is not None
    finally:
        other_session.close()


def test_templates_are_numbers_not_photos(svc, index, faces):
    data = (faces / "obama.jpg").read_bytes()
    run_dedup(svc, NIK_A, "TPT-1", data)
    [row] = stored_templates()
    template = np.frombuffer(row.encoding, dtype="<f4")
    assert template.shape == (128,) and np.allclose(template, svc.integrations.face.encode(data))


def test_ids_committed_out_of_order_are_all_found(svc, index, faces):
    from engine.db import db

    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: its ids are never committed out of order")
    slow = db.session.session_factory()
    try:
        obama = svc.integrations.face.encode((faces / "obama.jpg").read_bytes())
        biden = svc.integrations.face.encode((faces / "biden.jpg").read_bytes())
        slow_id = type(index)(lambda: slow).add(NIK_A, "TPT-slow", obama)  # id handed out first...
        fast_id = index.add(NIK_C, "TPT-fast", biden)
        db.session.commit()  # ...but committed second
        assert fast_id > slow_id
        assert [c.case_ref for c in index.search(biden)] == ["TPT-fast"] and index.search(obama) == []
        slow.commit()
        assert [c.case_ref for c in index.search(obama)] == ["TPT-slow"]
    finally:
        slow.close()
