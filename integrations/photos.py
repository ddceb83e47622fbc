"""Applicants' photos, kept as files outside the database and the web root."""

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

REF_PATTERN = re.compile(r"^[0-9a-f]{64}$")  # a photo's reference: its SHA-256
MAX_PHOTO_BYTES = 10 * 1024 * 1024


class PhotoTooLarge(ValueError):
    """The upload is larger than the store accepts."""


class FilePhotoStore:
    """Content-addressed photo files, readable by the service account only."""

    def __init__(self, root, max_bytes=MAX_PHOTO_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def _path(self, ref):
        if not isinstance(ref, str) or not REF_PATTERN.match(ref):
            raise ValueError("invalid photo reference")
        return self.root / ref[:2] / ref

    def put(self, data: bytes) -> str:
        """Store bytes and return their reference (the sha256); storing twice is harmless."""
        if len(data) > self.max_bytes:
            raise PhotoTooLarge(f"photo is larger than {self.max_bytes // (1024 * 1024)} MB")
        ref = hashlib.sha256(data).hexdigest()
        path = self._path(ref)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        return ref

    def read(self, ref) -> bytes | None:
        """Return the photo's bytes, or None when it is gone."""
        try:
            return self._path(ref).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, ref) -> None:
        """Remove a photo (retention or erasure)."""
        try:
            self._path(ref).unlink()
        except (FileNotFoundError, ValueError):
            pass

    def purge_older_than(self, days) -> int:
        """Delete photos older than `days`; return how many."""
        cutoff = (datetime.now(UTC) - timedelta(days=days)).timestamp()
        count = 0
        for path in self.root.glob("*/*"):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                count += 1
        return count

    def sweep_unreferenced(self, keep, grace_seconds) -> int:
        """Delete stored files whose reference is not in `keep` and that are older than the grace period
        (a file younger than it may belong to a transaction not committed yet); return how many."""
        cutoff = datetime.now(UTC).timestamp() - grace_seconds
        keep = set(keep)
        count = 0
        for path in self.root.glob("*/*"):
            if path.is_file() and path.name not in keep and path.stat().st_mtime < cutoff:
                path.unlink()
                count += 1
        return count
