"""Multipart uploads read while streaming, with limits: a file over its limit is counted and dropped,
the other fields (an appeal's reason) are kept, and nothing large is stored anywhere.

Views that take uploads are exempt from the app-wide CSRF check (it would read the whole body
first); `read_upload_form` checks the CSRF token itself, after the limits.
"""
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile

from flask import request
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import parse_form_data
from werkzeug.utils import secure_filename
from wtforms.validators import ValidationError

# Bodies announced larger than this are refused before a byte is read.
HARD_LIMIT = 200 * 1024 * 1024
FIELDS_LIMIT = 500_000  # text fields (and the parser's read buffer), as Flask's default


class CappedFile:
    """Where the form parser writes one file part: keeps up to `limit` bytes, then only counts."""

    def __init__(self, limit):
        self.limit = limit
        self.size = 0
        self.too_large = False
        self._buffer = SpooledTemporaryFile(max_size=1024 * 1024)

    def write(self, data):
        self.size += len(data)
        if not self.too_large and self.size > self.limit:
            self.too_large = True
            self._buffer.close()
            self._buffer = SpooledTemporaryFile(max_size=1)
        if not self.too_large:
            self._buffer.write(data)
        return len(data)

    def seek(self, *args):
        return self._buffer.seek(*args)

    def tell(self):
        return self._buffer.tell()

    def read(self, *args):
        return self._buffer.read(*args)

    def readline(self, *args):
        return self._buffer.readline(*args)

    def close(self):
        self._buffer.close()


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its bytes (None when over the limit), its size and the name it was sent with."""

    field: str
    filename: str
    data: bytes | None
    size: int

    @property
    def too_large(self):
        return self.data is None


def read_upload_form(max_file_bytes, hard_limit=HARD_LIMIT):
    """Parse this request's form with per-file limits; check its CSRF token; return (form, uploads)."""
    length = request.content_length
    if length is not None and length > hard_limit:
        raise RequestEntityTooLarge()
    made = []

    def factory(total_content_length=None, content_type=None, filename=None, content_length=None):
        made.append(CappedFile(max_file_bytes))
        return made[-1]

    try:
        _stream, form, files = parse_form_data(request.environ, stream_factory=factory,
                                               max_form_memory_size=FIELDS_LIMIT, max_content_length=hard_limit)
        try:
            validate_csrf(form.get("csrf_token") or request.headers.get("X-CSRFToken"))
        except ValidationError as exc:
            raise CSRFError(str(exc)) from exc
        uploads = []
        for field, storage in files.items(multi=True):
            stream = storage.stream
            if not storage.filename and not getattr(stream, "size", 0):
                continue  # an empty file input
            too_large = getattr(stream, "too_large", False)
            if not too_large:
                stream.seek(0)
            name = secure_filename(storage.filename or "")[:100] or "file"
            uploads.append(Upload(field, name, None if too_large else stream.read(), getattr(stream, "size", 0)))
        return form, uploads
    finally:
        for made_file in made:
            made_file.close()
