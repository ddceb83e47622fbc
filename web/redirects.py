"""Where a `next` parameter may send the browser: same-origin relative paths only (no open redirect)."""

from urllib.parse import urlsplit

MAX_LENGTH = 2048


def safe_next(target):
    """Return `target` if it is a path on this site, else None.

    Accepted: "/" followed by printable ASCII (a path, with an optional query and fragment).
    Refused: anything else, in particular a scheme ("https:", "javascript:"), "//host" and "/\\host"
    (browsers read a backslash as a slash), and any control character or whitespace anywhere:
    browsers drop tab, CR and LF from URLs, so "/\\t/evil.example" would become "//evil.example".
    Non-ASCII characters are refused too (our own paths are ASCII; a link to one is percent-encoded).
    """
    if not isinstance(target, str) or not target.startswith("/") or len(target) > MAX_LENGTH:
        return None
    if any(not ("\x21" <= ch <= "\x7e") for ch in target):  # whitespace, controls, DEL, non-ASCII
        return None
    if target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def local_referrer(url, host):
    """Return the path of a Referer on this host (for "back where you were"), else None."""
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc != host:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return safe_next(path)
