"""S4: the return-path allow-list (no open redirect).

A return path is accepted only if it is a plain absolute path on the app's own origin (starts with
exactly one ``/``; no scheme, host, backslash, control character or encoded slash tricks) and it
equals an allowed path or lies under one (``/classes`` allows ``/classes`` and ``/classes/42``).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit


def safe_return_path(candidate: str | None, allowed: Iterable[str]) -> str | None:
    """The candidate if it is an allowed same-origin path, else None (S4)."""
    if not candidate or len(candidate) > 512:
        return None
    if not candidate.startswith("/") or candidate.startswith("//"):
        return None
    decoded = unquote(candidate)
    # Backslashes are read as slashes by browsers ("/\\evil.com"); control chars can hide a host.
    if "\\" in decoded or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
        return None
    if decoded.startswith("//") or "/../" in decoded + "/" or "/./" in decoded + "/":
        return None
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return None
    path = parts.path
    for prefix in allowed:
        base = prefix.rstrip("/") or "/"
        if base == "/" or path == base or path.startswith(base + "/"):
            return candidate
    return None
