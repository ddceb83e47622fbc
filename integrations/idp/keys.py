"""The sandbox provider's signing key: an RSA key kept as a private JWK file (mode 0600)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from joserfc.jwk import RSAKey

_LOCK = threading.Lock()


def load_or_create_signing_key(path) -> RSAKey:
    """Return the RSA signing key stored at `path`, generating it there the first time."""
    path = Path(path)
    with _LOCK:
        if not path.exists():
            key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(key.as_dict(private=True), handle)
            try:
                os.link(tmp, path)  # never replaces a key another process wrote first
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return RSAKey.import_key(json.loads(path.read_text()))
