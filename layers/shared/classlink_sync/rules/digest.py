"""Stable content digests of synced states (DESIGN.md "Memory matters"; SPEC R9, R10, §3 "A no-change
sync makes zero roster writes").

A digest is blake2b (digest_size 8, hex) over a state's synced fields in declaration order, excluding
the ``active``/``archived`` flags (compared on their own) and the digest itself. It never uses
Python's ``hash()``, which is salted per process. The planner computes digests from field values
(``digest_values``) before it builds a state, so unchanged items cost no object at all; ``digest_of``
computes the same value from a state and is what tests and the store use.
"""

from __future__ import annotations

from dataclasses import fields
from hashlib import blake2b
from typing import Any

EXCLUDED = frozenset({"active", "archived", "digest"})

_FIELD_SEP = "\x1f"
_ITEM_SEP = "\x1e"
_NONE = "\x00"
# The encodings ``digest_values`` uses, for callers that pre-encode fields (``digest_encoded``).
ENC_NONE = _NONE
ENC_TRUE = "\x01T"
ENC_FALSE = "\x01F"


def _encode(value: Any) -> str:
    if value is None:
        return _NONE
    if value is True:
        return ENC_TRUE
    if value is False:
        return ENC_FALSE
    if isinstance(value, tuple):
        return "\x02" + _ITEM_SEP.join(_encode(v) for v in value)
    return str(value)


def digest_values(*values: Any) -> str:
    """The digest of these field values, in order (strings, None, bools, tuples of those)."""
    text = _FIELD_SEP.join([_encode(v) for v in values])
    return blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def enc_opt(value: str | None) -> str:
    """The encoding of an optional string field."""
    return _NONE if value is None else value


def enc_strs(values: tuple[str, ...]) -> str:
    """The encoding of a tuple of strings."""
    return "\x02" + _ITEM_SEP.join(values)


def digest_encoded(parts: tuple[str, ...]) -> str:
    """The digest of already encoded fields: equal to ``digest_values`` of the raw values (fast path)."""
    return blake2b(_FIELD_SEP.join(parts).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


_FIELDS: dict[type, tuple[str, ...]] = {}


def digest_fields(state_type: type) -> tuple[str, ...]:
    """The names of the fields of ``state_type`` that its digest covers, in order."""
    names = _FIELDS.get(state_type)
    if names is None:
        names = _FIELDS[state_type] = tuple(f.name for f in fields(state_type) if f.name not in EXCLUDED)
    return names


def digest_of(state: Any) -> str:
    """The digest of a plan state (``AccountState``, ``ClassState``, ...), ignoring flags."""
    return digest_values(*(getattr(state, name) for name in digest_fields(type(state))))
