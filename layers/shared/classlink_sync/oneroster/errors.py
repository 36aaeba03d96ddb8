"""Errors raised by the OneRoster client (SPEC §1 "Errors").

Messages name the URL, the HTTP status and the number of attempts, and carry the server's imsx
status (``imsx_codeMajor``/``imsx_severity``/``imsx_CodeMinor``/``imsx_description``) when the body
has one. They never contain credentials: the URL carries none (OAuth 1.0a travels in a header).

The exception classes live in ``classlink_sync.errors`` (every error a caller may catch, in one
module) and are re-exported here; reading the imsx status of an error body stays here.
"""

from __future__ import annotations

import json
from typing import Any

from classlink_sync.errors import CredentialsRejected as CredentialsRejected
from classlink_sync.errors import OneRosterError as OneRosterError


def _first_imsx(node: Any, depth: int = 0) -> dict[str, Any] | None:
    """Find the first dict carrying ``imsx_codeMajor`` (the body may wrap it in ``statusInfoSet``)."""
    if depth > 4:
        return None
    if isinstance(node, dict):
        if any(k.lower() == "imsx_codemajor" for k in node):
            return node
        for value in node.values():
            found = _first_imsx(value, depth + 1)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node[:5]:
            found = _first_imsx(value, depth + 1)
            if found is not None:
                return found
    return None


def _minor_values(node: Any) -> list[str]:
    """``imsx_CodeMinor`` as a string, a dict of ``imsx_codeMinorField`` entries, or a list of them."""
    if node is None or node == "":
        return []
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [v for item in node for v in _minor_values(item)]
    if isinstance(node, dict):
        for key, value in node.items():
            if key.lower() == "imsx_codeminorfieldvalue" and isinstance(value, str):
                return [value]
        return [v for value in node.values() for v in _minor_values(value)]
    return [str(node)]


def parse_imsx(body: bytes) -> str | None:
    """Summarise an imsx status body as one line, or None if the body is not one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    info = _first_imsx(data)
    if info is None:
        return None
    fields = {k.lower(): v for k, v in info.items()}
    parts = [str(fields[k]) for k in ("imsx_codemajor", "imsx_severity") if fields.get(k) not in (None, "")]
    minors = _minor_values(fields.get("imsx_codeminor"))
    if minors:
        parts.append("/".join(minors))
    text = " ".join(parts)
    description = fields.get("imsx_description")
    if description not in (None, ""):
        text = f"{text}: {description}" if text else str(description)
    return text or None
