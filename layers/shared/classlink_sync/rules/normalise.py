"""The one normalisation for usernames and emails (SPEC §3): NFKC, then case-fold, then trim."""

from __future__ import annotations

import unicodedata


def normalise(value: str | None) -> str | None:
    """Return the form in which two usernames or emails "match", or None for a blank value."""
    if value is None:
        return None
    result = unicodedata.normalize("NFKC", value).casefold().strip()
    return result or None
