"""Appeals in the portal: within the 30-day window only, evidence files checked by content and served
safely, delivered to the waiting process, and the outcome shown to the applicant."""

import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from cases.models import Appeal
from cases.portal.models import EvidenceFile
from engine.db import db
from tests.helpers import case, later, open_task, submit, wake_all, work
from tests.integration.portal_helpers import officer_login, officer_logins, portal, post_multipart, sign_in_applicant  # noqa: F401  (fixtures)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
REASON = "My husband retired in 2015 and receives no pension; the register is out of date."


def png():
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 60)).save(out, "PNG")
    return out.getvalue()


def appeal(client, number, reason=REASON, files=(), **fields):
    return post_multipart(
        client,
        f"/portal/cases/{number}/appeal",
        {"reason": reason, **fields},
        list(files),
        page=f"/portal/cases/{number}/appeal",
    )


def counts():
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count()).select_from(Appeal)),
        db.session.scalar(select(func.count()).select_from(EvidenceFile)),
    )


def test_appeal_with_evidence_reaches_the_appeals_officer_and_the_outcome_is_shown(
    portal, svc, personas, officers, officer_logins, app
):
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    response = appeal(portal, number, files=[("evidence", "pension letter.pdf", PDF), ("evidence", "photo.png", png())])
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/portal/cases/{number}")
    assert case(number).status == "APPEAL_REVIEW"
    task = open_task(number, "appeal_review")
    assert task.queue == "appeals_officer"
    filed = db.session.execute(select(Appeal)).scalar_one()
    files = db.session.execute(select(EvidenceFile).order_by(EvidenceFile.id)).scalars().all()
    assert filed.reason == REASON and filed.evidence_refs == [f.key for f in files]
    assert [f.content_type for f in files] == ["application/pdf", "image/png"]
    assert all(f.appeal_id == filed.id for f in files)
    page = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "Banding sedang ditinjau" in page and "pension_letter.pdf" in page

    # The applicant downloads their file: an attachment, never rendered by the browser.
    download = portal.get(f"/portal/cases/{number}/files/{files[0].key}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]

    # The appeals officer sees the files on the case page and may open them; a far-away caseworker may not.
    officer = app.test_client()
    officer_login(officer, officer_logins["appeals_officer"])
    case_page = officer.get(f"/cases/{number}").get_data(as_text=True)
    assert f"/cases/{number}/evidence-files/{files[1].key}" in case_page
    seen = officer.get(f"/cases/{number}/evidence-files/{files[1].key}")
    assert seen.status_code == 200 and seen.headers["Content-Type"] == "image/png"
    assert "sandbox" in seen.headers["Content-Security-Policy"]

    work(
        svc,
        number,
        "appeal_review",
        officers["app1"],
        {
            "appeal_outcome": "uphold",
            "appeal_reason_codes": ["APPEAL_REGISTRY_CONFIRMS"],
            "appeal_message": "Data BKN masih mencatat suami Anda sebagai ASN.",
            "appeal_notes": "The civil-service register confirms it.",
        },
    )
    page = portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert "Tidak disetujui (final)" in page and "Tidak diterima: keputusan tetap" in page
    assert "Data BKN masih mencatat suami Anda sebagai ASN." in page  # the message to the applicant
    assert "Data resmi masih membenarkan alasan keputusan tersebut." in page  # the reason code's text
    assert "The civil-service register confirms it." not in page  # the internal note stays with officers
    closed = portal.get(f"/portal/cases/{number}/appeal").get_data(as_text=True)
    assert "Keputusan ini final" in closed


def test_after_the_window_the_portal_says_so_and_refuses(portal, svc, personas):
    nik = personas["high_wage"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    assert "Anda dapat mengajukan banding sampai" in portal.get(f"/portal/cases/{number}/appeal").get_data(as_text=True)
    with later(31):  # the scheduler has not run yet: the deadline decides, not the status
        sign_in_applicant(portal, nik)
        page = portal.get(f"/portal/cases/{number}/appeal").get_data(as_text=True)
        assert "Masa banding berakhir pada" in page and 'id="appeal-form"' not in page
        response = post_multipart(
            portal,
            f"/portal/cases/{number}/appeal",
            {"reason": REASON},
            [("evidence", "letter.pdf", PDF)],
            page=f"/portal/cases/{number}",
        )
        assert response.status_code == 409 and "Masa banding berakhir pada" in response.get_data(as_text=True)
        assert counts() == (0, 0)
        wake_all(svc)
        assert case(number).status == "CLOSED_REJECTED"
        response = post_multipart(
            portal, f"/portal/cases/{number}/appeal", {"reason": REASON}, [], page=f"/portal/cases/{number}"
        )
        assert response.status_code == 409
        assert "Masa banding berakhir pada" in portal.get(f"/portal/cases/{number}").get_data(as_text=True)
    assert counts() == (0, 0)


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\0" * 200 + b"This program cannot be run"


@pytest.mark.parametrize(
    "name,content,expected",
    [
        ("invoice.pdf", EXE, "bukan berkas PDF, JPEG, atau PNG"),
        ("script.pdf", b"#!/bin/sh\nrm -rf /\n", "bukan berkas PDF, JPEG, atau PNG"),
        ("animation.gif", b"GIF89a" + b"\0" * 100, "bukan berkas PDF, JPEG, atau PNG"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj <<>> endobj\n", "rusak atau tidak lengkap"),
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 50, "rusak atau tidak lengkap"),
        ("huge.pdf", b"%PDF-1.4\n" + b"0" * (100 * 1024 * 1024), "terlalu besar: maksimal 5 MB"),
        ("empty.pdf", b"", "kosong"),
    ],
    ids=["renamed-exe", "script", "gif", "truncated-pdf", "broken-png", "100MB", "empty"],
)
def test_bad_evidence_files_are_refused_and_the_reason_text_is_kept(portal, svc, personas, name, content, expected):
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    response = appeal(portal, number, files=[("evidence", name, content), ("evidence", "good.pdf", PDF)])
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and expected in html
    assert REASON in html  # the text is kept on the page
    assert 'aria-describedby="evidence-help evidence-err evidence-check"' in html
    assert case(number).status == "REJECTED"
    assert counts() == (0, 1)  # the good file was kept, attached for the next try
    assert "good.pdf" in html
    response = appeal(portal, number)  # send it now: the kept file goes with it
    assert response.status_code == 302 and counts() == (1, 1)
    assert case(number).status == "APPEAL_REVIEW"


def test_too_many_files_a_short_reason_and_removing_a_file(portal, svc, personas, app, monkeypatch):
    monkeypatch.setitem(app.config, "BANSOS_EVIDENCE_MAX_FILES", 2)
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    response = appeal(portal, number, reason="short", files=[("evidence", f"f{i}.pdf", PDF) for i in range(3)])
    html = response.get_data(as_text=True)
    # The third file part is not even read (web/portal/uploads.py): 413, the two good files kept.
    assert response.status_code == 413 and "Paling banyak 2 berkas dapat dikirim sekaligus" in html
    assert "Tulis alasan dalam 10 sampai 4.000 karakter" in html and ">short</textarea>" in html
    assert counts() == (0, 2)
    keys = db.session.execute(select(EvidenceFile.key).order_by(EvidenceFile.id)).scalars().all()
    removed = post_multipart(
        portal,
        f"/portal/cases/{number}/appeal",
        {"reason": "kept while removing", "remove": keys[0]},
        [],
        page=f"/portal/cases/{number}/appeal",
    )
    assert removed.status_code == 200 and "kept while removing" in removed.get_data(as_text=True)
    assert counts() == (0, 1)


def test_a_nul_character_in_the_appeal_reason_is_refused_and_nothing_is_kept(portal, svc, personas):
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    response = appeal(portal, number, reason="My husband retired\x00 in 2015.", files=[("evidence", "a.pdf", PDF)])
    assert response.status_code == 400 and counts() == (0, 0)
    assert case(number).status == "REJECTED"


def test_evidence_upload_needs_a_csrf_token(portal, svc, personas):
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    response = post_multipart(
        portal, f"/portal/cases/{number}/appeal", {"reason": REASON}, [("evidence", "a.pdf", PDF)], page=False
    )
    assert response.status_code == 400 and counts() == (0, 0)


def test_an_absurdly_large_body_is_refused_unread(portal, svc, personas):
    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    response = portal.post(
        f"/portal/cases/{number}/appeal",
        data=b"x" * 16,
        content_type="multipart/form-data; boundary=x",
        environ_overrides={"CONTENT_LENGTH": str(300 * 1024 * 1024)},
    )
    assert response.status_code == 413 and "terlalu besar" in response.get_data(as_text=True)
    assert counts() == (0, 0)


def test_bytes_of_removed_evidence_are_swept_after_the_grace_period(portal, svc, personas, app):
    import os
    import time

    from cases.portal.files import purge_unreferenced_evidence
    from web.portal.wiring import portal_services

    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    other = png()
    appeal(portal, number, reason="short", files=[("evidence", "keep.pdf", PDF), ("evidence", "drop.png", other)])
    rows = db.session.execute(select(EvidenceFile.key, EvidenceFile.ref).order_by(EvidenceFile.id)).all()
    (_, kept), (dropped_key, dropped) = rows
    store = portal_services().evidence
    post_multipart(
        portal,
        f"/portal/cases/{number}/appeal",
        {"reason": "removing the photo", "remove": dropped_key},
        [],
        page=f"/portal/cases/{number}/appeal",
    )
    assert counts() == (0, 1) and store.read(dropped) == other  # the row is gone, the bytes not yet
    assert purge_unreferenced_evidence(db.session, store) == 0  # younger than the grace period: kept
    old = time.time() - 2 * 24 * 3600
    for ref in (kept, dropped):
        os.utime(store._path(ref), (old, old))
    assert purge_unreferenced_evidence(db.session, store) == 1
    assert store.read(dropped) is None and store.read(kept) == PDF


MiB = 1024 * 1024


class _PartsStream:
    """A multipart body of many ~5 MiB PDF parts, made as it is read; counts the bytes read from it."""

    def __init__(self, csrf_token, parts, boundary=b"tepat-test-boundary"):
        self.boundary = boundary
        self.file = b"%PDF-1.4\n" + b"0" * (5 * MiB - 64) + b"\n%%EOF\n"
        head = [self._field("csrf_token", csrf_token), self._field("reason", REASON)]
        self.segments = head + [self._file_head(i) for i in range(parts)]
        self.length = (
            sum(len(s) for s in head) + parts * (len(self._file_head(0)) + len(self.file) + 2) + len(self._end())
        )
        self.read_bytes = 0
        self._pending = self._generate(parts, head)
        self._buffer = b""

    def _field(self, name, value):
        return b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (
            self.boundary,
            name.encode(),
            value.encode(),
        )

    def _file_head(self, i):
        return (
            b'--%s\r\nContent-Disposition: form-data; name="evidence"; filename="f%02d.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n" % (self.boundary, i)
        )

    def _end(self):
        return b"--%s--\r\n" % self.boundary

    def _generate(self, parts, head):
        yield from head
        for i in range(parts):
            yield self._file_head(i)
            for start in range(0, len(self.file), MiB):
                yield self.file[start : start + MiB]
            yield b"\r\n"
        yield self._end()

    def read(self, size=-1):
        while size < 0 or len(self._buffer) < size:
            piece = next(self._pending, None)
            if piece is None:
                break
            self._buffer += piece
        size = len(self._buffer) if size < 0 else size
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        self.read_bytes += len(out)
        return out


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
def test_dozens_of_large_parts_are_not_read_past_the_allowed_files(portal, svc, personas, announced):
    import re
    import tracemalloc

    nik = personas["civil_servant"]
    number = submit(svc, nik).case_number
    sign_in_applicant(portal, nik)
    page = portal.get(f"/portal/cases/{number}/appeal").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = _PartsStream(token, parts=36)  # 180 MiB, under the 200 MiB refused unread
    # As a WSGI server hands it over: a Content-Length, or a chunked body the server terminates.
    environ = {
        "wsgi.input": body,
        "CONTENT_TYPE": f"multipart/form-data; boundary={body.boundary.decode()}",
        **(
            {"CONTENT_LENGTH": str(body.length)} if announced else {"CONTENT_LENGTH": "", "wsgi.input_terminated": True}
        ),
    }
    tracemalloc.start()
    try:
        response = portal.post(f"/portal/cases/{number}/appeal", environ_overrides=environ)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    html = response.get_data(as_text=True)
    assert response.status_code == 413 and "Paling banyak 5 berkas dapat dikirim sekaligus" in html
    assert REASON in html  # the reason is kept on the page
    assert counts() == (0, 5)  # the first five files are attached for the next try, the appeal not filed
    # Reading stopped at the sixth file's headers: five files and a chunk of the sixth at most.
    assert body.read_bytes < 5 * len(body.file) + 256 * 1024, body.read_bytes
    assert peak < 16 * MiB, peak  # about one file in memory at a time, not 36 of them
