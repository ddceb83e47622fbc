"""Selfies live outside the database, readable by the service only, and are purged after retention."""

import os
import stat
import time

import pytest
from flask import current_app

from integrations.photos import PhotoTooLarge
from web.scheduler import purge_photos


def test_photos_are_private_files_and_expire(svc):
    ref = svc.photos.put(b"\xff\xd8 a selfie")
    path = svc.photos._path(ref)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert svc.photos.read(ref) == b"\xff\xd8 a selfie"
    assert svc.photos.read("../../etc/passwd") is None  # references are hashes, never paths
    days = current_app.config["BANSOS_PHOTO_RETENTION_DAYS"]
    old = time.time() - (days + 1) * 86400
    os.utime(path, (old, old))
    fresh = svc.photos.put(b"\xff\xd8 a newer selfie")
    assert purge_photos(current_app._get_current_object()) == 1
    assert svc.photos.read(ref) is None and svc.photos.read(fresh) is not None


def test_oversized_photo_is_refused(svc):
    with pytest.raises(PhotoTooLarge):
        svc.photos.put(b"\0" * (svc.photos.max_bytes + 1))
