"""Multipart uploads read while streaming, with limits, straight to disk.

- Each file part goes to a temporary file on disk as it arrives (never the whole part in memory); a
  part over its size limit is counted and dropped, and the view says so.
- Reading stops, leaving the rest of the body unread, at the first file part beyond ``max_files``,
  or once ``max_total`` bytes have been read (by default ``HARD_LIMIT``: a body sent without a
  Content-Length). One request therefore keeps at most ``max_files`` files of ``max_file_bytes``
  on disk and one file in memory at a time (``Upload.data`` is read when a view asks for it); an
  oversized file is read past and dropped, so the fields and files after it are still kept. What
  was read before a stop is kept too (an appeal's reason, the first good files), and
  ``UploadForm.stopped`` says why the rest was not read.
- Text fields are held in memory up to ``FIELDS_LIMIT`` bytes in all; the number of parts is capped.
- A body announced larger than ``HARD_LIMIT`` is refused before a byte is read (413).

Views that take uploads are exempt from the app-wide CSRF check (it would read the whole body
first); `read_upload_form` checks the CSRF token itself, after the limits.
"""

import dataclasses
from dataclasses import dataclass
from tempfile import TemporaryFile

from flask import g, request
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.utils import secure_filename
from wtforms.validators import ValidationError

from . import bp

# Bodies announced larger than this are refused before a byte is read.
HARD_LIMIT = 200 * 1024 * 1024
FIELDS_LIMIT = 500_000  # all text fields together (and the decoder's buffer), as Flask's default
FIELD_PARTS = 20  # text fields a form may have besides its files (buttons, tokens, a reason)
CHUNK = 64 * 1024

TOO_MANY_FILES = "TOO_MANY_FILES"
TOO_LARGE = "TOO_LARGE"


class CappedFile:
    """Where one file part is written: a temporary file on disk up to `limit` bytes, then only a count."""

    def __init__(self, limit):
        self.limit = limit
        self.size = 0
        self.too_large = False
        self._file = TemporaryFile()

    def write(self, data):
        self.size += len(data)
        if not self.too_large and self.size > self.limit:
            self.drop()
        if not self.too_large:
            self._file.write(data)

    def drop(self):
        """Keep nothing: the part was cut short by the request's limit."""
        self.too_large = True
        self._file.truncate(0)

    def read_all(self):
        self._file.seek(0)
        return self._file.read()

    def save_as(self, path):
        """Copy what was kept to `path`, in chunks (a large workbook never sits in memory)."""
        import shutil

        self._file.seek(0)
        with open(path, "wb") as out:
            shutil.copyfileobj(self._file, out, CHUNK)

    def close(self):
        self._file.close()


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name and size; `data` reads its bytes from disk (None when over the limit)."""

    field: str
    filename: str
    size: int
    _file: CappedFile = dataclasses.field(repr=False, compare=False)  # `field` is the name above

    @property
    def too_large(self):
        return self._file.too_large

    @property
    def data(self):
        return None if self.too_large else self._file.read_all()

    def save_as(self, path):
        """Write the file to `path` (streamed from its spool file)."""
        self._file.save_as(path)


@dataclass
class UploadForm:
    """The text fields, the files, why reading stopped early (None, TOO_MANY_FILES, TOO_LARGE), bytes read."""

    form: MultiDict
    uploads: list
    stopped: str | None
    bytes_read: int

    def __iter__(self):  # form, uploads = read_upload_form(...)
        return iter((self.form, self.uploads))


def read_upload_form(max_file_bytes, max_files=1, max_total=None, hard_limit=HARD_LIMIT, check_csrf=True):
    """Parse this request's multipart form within the limits; check its CSRF token; return an UploadForm.

    `check_csrf` False is for the JSON API, whose callers are checked by web/api/auth.py (a token needs
    no CSRF token; a session write sends it in the X-CSRFToken header).

    `max_total` (bytes read at most) defaults to `hard_limit`. The files stay on disk until the end
    of the request.
    """
    length = request.content_length
    if length is not None and length > hard_limit:
        raise RequestEntityTooLarge()
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "").encode("latin-1", "replace")
    if mimetype != "multipart/form-data" or not boundary:
        raise BadRequest("multipart/form-data expected")
    max_total = max_total or hard_limit
    # This view's own limit, above an app-wide MAX_CONTENT_LENGTH if one is set (before the stream is
    # opened); a chunk more, so that the stop below (which keeps what was read) comes first.
    request.max_content_length = max(max_total, hard_limit) + CHUNK
    result = _Reader(boundary, max_file_bytes, max_files, max_total).read(request.stream)
    if any("\x00" in value for _, value in result.form.items(multi=True)):
        from ..guards import NulCharacter

        raise NulCharacter("the form")  # as for every other form (web/guards.py): 400, nothing kept
    if not check_csrf:
        return result
    try:
        validate_csrf(result.form.get("csrf_token") or request.headers.get("X-CSRFToken"))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from exc
    return result


class _Reader:
    """Feed the body to Werkzeug's multipart decoder chunk by chunk, and stop at the limits."""

    def __init__(self, boundary, max_file_bytes, max_files, max_total):
        self.decoder = MultipartDecoder(boundary, max_form_memory_size=FIELDS_LIMIT, max_parts=max_files + FIELD_PARTS)
        self.max_file_bytes, self.max_files, self.max_total = max_file_bytes, max_files, max_total
        self.fields, self.uploads, self.files_seen, self.field_bytes = [], [], 0, 0
        self.part, self.sink = None, None
        self.made = g.setdefault("upload_files", [])  # closed at the end of the request

    def read(self, stream):
        bytes_read, stopped = 0, None
        while stopped is None:
            chunk = stream.read(CHUNK)
            bytes_read += len(chunk)
            if bytes_read > self.max_total:
                stopped = TOO_LARGE
                if isinstance(self.part, File):  # the file being read is the one over the limit
                    self.sink.drop()
                    self._finish()
                break
            self.decoder.receive_data(chunk or None)
            stopped = self._events()
            if not chunk:
                break
        return UploadForm(MultiDict(self.fields), self.uploads, stopped, bytes_read)

    def _events(self):
        while True:
            event = self.decoder.next_event()
            if isinstance(event, (NeedData, Epilogue)):
                return None
            if isinstance(event, File):
                self.files_seen += 1
                if self.files_seen > self.max_files:
                    return TOO_MANY_FILES
                self.part, self.sink = event, CappedFile(self.max_file_bytes)
                self.made.append(self.sink)
            elif isinstance(event, Field):
                self.part, self.sink = event, []
            elif isinstance(event, Data):
                if isinstance(self.part, Field):
                    self.field_bytes += len(event.data)
                    if self.field_bytes > FIELDS_LIMIT:
                        raise RequestEntityTooLarge()
                    self.sink.append(event.data)
                else:
                    self.sink.write(event.data)
                if not event.more_data:
                    self._finish()

    def _finish(self):
        part, sink = self.part, self.sink
        self.part = self.sink = None
        if isinstance(part, Field):
            self.fields.append((part.name, b"".join(sink).decode("utf-8", "replace")))
        elif part.filename or sink.size:  # an empty file input sends a nameless, empty part
            name = secure_filename(part.filename or "")[:100] or "file"
            self.uploads.append(Upload(part.name, name, sink.size, sink))


@bp.teardown_app_request
def _close_upload_files(_exc):
    for made in g.pop("upload_files", []):
        made.close()
