"""Evidence files sent with appeals: type checked by content, kept outside the web root
(content-addressed files, mode 0600), attached to the case until the appeal is sent."""

import io
import secrets

from PIL import Image, UnidentifiedImageError
from sqlalchemy import delete, select

from ..operations import CaseError
from .models import EvidenceFile

# Decided by the leading bytes, never by the file name or the type the browser declares.
EVIDENCE_TYPES = {"PDF": "application/pdf", "JPEG": "image/jpeg", "PNG": "image/png"}
EXTENSIONS = {"PDF": ".pdf", "JPEG": ".jpg", "PNG": ".png"}


class EvidenceRefused(CaseError):
    """A file that cannot be kept as evidence; ``code`` says why.

    Codes: EVIDENCE_EMPTY, EVIDENCE_TOO_LARGE, EVIDENCE_TYPE (not a PDF, JPEG or PNG by content),
    EVIDENCE_DAMAGED (the content does not hold together), EVIDENCE_TOO_MANY.
    """

    def __init__(self, code, filename="", **details):
        super().__init__(f"{code}: {filename}", filename=filename, **details)
        self.code = code
        self.filename = filename


def sniff_evidence_type(data):
    """Return 'PDF', 'JPEG' or 'PNG' from a file's leading bytes, or None."""
    if data[:5] == b"%PDF-":
        return "PDF"
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    return None


def check_evidence(filename, data, max_bytes):
    """Return the file's type if it may be kept as evidence, else raise EvidenceRefused."""
    if data is None or len(data) > max_bytes:
        raise EvidenceRefused("EVIDENCE_TOO_LARGE", filename, max_mb=max_bytes // (1024 * 1024))
    if not data:
        raise EvidenceRefused("EVIDENCE_EMPTY", filename)
    kind = sniff_evidence_type(data)
    if kind is None:
        raise EvidenceRefused("EVIDENCE_TYPE", filename)
    if kind == "PDF":
        if b"%%EOF" not in data[-2048:]:
            raise EvidenceRefused("EVIDENCE_DAMAGED", filename)
    else:
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format != kind:
                    raise EvidenceRefused("EVIDENCE_TYPE", filename)
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise EvidenceRefused("EVIDENCE_DAMAGED", filename) from exc
    return kind


def pending_files(session, app):
    """Return the files attached to the case's appeal not yet sent."""
    return (
        session.execute(
            select(EvidenceFile)
            .where(EvidenceFile.application_id == app.id, EvidenceFile.appeal_id.is_(None))
            .order_by(EvidenceFile.id)
        )
        .scalars()
        .all()
    )


def files_of_case(session, app):
    """Return every evidence file of the case."""
    return (
        session.execute(select(EvidenceFile).where(EvidenceFile.application_id == app.id).order_by(EvidenceFile.id))
        .scalars()
        .all()
    )


def evidence_file_of(session, app, key):
    """Return the case's file with this key, or None."""
    return session.execute(
        select(EvidenceFile).where(EvidenceFile.application_id == app.id, EvidenceFile.key == str(key)[:32])
    ).scalar_one_or_none()


def attach_evidence(session, store, app, filename, data, uploaded_by, max_bytes, max_files):
    """Check and keep one file for the case's next appeal; return the EvidenceFile."""
    kind = check_evidence(filename, data, max_bytes)
    if len(pending_files(session, app)) >= max_files:
        raise EvidenceRefused("EVIDENCE_TOO_MANY", filename, max_files=max_files)
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    row = EvidenceFile(
        key=secrets.token_urlsafe(16)[:22],
        application_id=app.id,
        filename=f"{stem[:90]}{EXTENSIONS[kind]}",
        content_type=EVIDENCE_TYPES[kind],
        size=len(data),
        ref=store.put(data),
        uploaded_by=uploaded_by,
    )
    session.add(row)
    session.flush()
    return row


def remove_pending_file(session, app, key):
    """Remove a file not yet sent with an appeal; return True if there was one."""
    done = session.execute(
        delete(EvidenceFile).where(
            EvidenceFile.application_id == app.id, EvidenceFile.key == str(key)[:32], EvidenceFile.appeal_id.is_(None)
        )
    )
    return done.rowcount == 1


def purge_unreferenced_evidence(session, store, grace_hours=24):
    """Delete evidence bytes no file row refers to any more (removed before sending); return how many."""
    keep = set(session.execute(select(EvidenceFile.ref)).scalars())
    return store.sweep_unreferenced(keep, grace_hours * 3600)
