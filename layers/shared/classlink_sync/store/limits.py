"""DynamoDB's limits on one item, checked before the item is sent (issue 9, record-level isolation).

DynamoDB refuses a whole request (BatchWriteItem's 25 items, a transaction) with a
``ValidationException`` when one item breaks a limit, so ``store.apply`` checks every item first:
an item that cannot be written is reported (R4) and skipped, never sent, and the account a
reservation belongs to is checked before the reservation is written. Pure functions, no AWS call.

The limits (DynamoDB developer guide, "Service, account, and table quotas"; moto enforces the
same ones):

- an item is at most 400 KB (409,600 bytes), attribute names included;
- a partition key value is at most 2,048 bytes and a sort key value at most 1,024 bytes, in
  UTF-8; the same holds for the key attributes of a secondary index (the ``sig`` key of the
  accounts' ``signin`` index);
- a key attribute (of the table, or of an index when the item carries it) cannot be an empty
  string.

Sizes follow the guide's "Item sizes and formats": a string is its UTF-8 bytes, a number about
one byte per two significant digits plus one (counted here as its characters plus one, an upper
bound), a boolean or null one byte, a list or map 3 bytes plus one byte and the size of each
element (and each map key), a set the sum of its members.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024

ITEM_SIZE = "item_size"
KEY_SIZE = "key_size"
EMPTY_KEY = "empty_key"
MISSING_KEY = "missing_key"


@dataclass(frozen=True, slots=True)
class KeySchema:
    """Stored names of a table's key attributes and of its secondary indexes' key attributes."""

    hash_key: str
    range_key: str | None = None
    index_hash_keys: tuple[str, ...] = ()
    index_range_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitProblem:
    """Why DynamoDB would refuse an item: which stored attribute, which limit, by how much."""

    attribute: str  # stored name; for ITEM_SIZE the largest attribute (the likely culprit)
    kind: str  # ITEM_SIZE | KEY_SIZE | EMPTY_KEY | MISSING_KEY
    size: int  # bytes: the item's (ITEM_SIZE) or the key value's
    limit: int
    attribute_size: int = 0  # ITEM_SIZE: the size of ``attribute`` (name and value)


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _binary(value: Any) -> int:
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    try:
        return len(base64.b64decode(value, validate=False))
    except (ValueError, TypeError):
        return len(str(value))


def value_size(value: Mapping[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value (``{"S": ...}``, ``{"L": [...]}``...)."""
    ((kind, body),) = value.items()
    if kind == "S":
        return _utf8(body)
    if kind == "N":
        return len(str(body)) + 1
    if kind == "B":
        return _binary(body)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(_utf8(v) for v in body)
    if kind == "NS":
        return sum(len(str(v)) + 1 for v in body)
    if kind == "BS":
        return sum(_binary(v) for v in body)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in body)
    if kind == "M":
        return 3 + sum(1 + _utf8(k) + value_size(v) for k, v in body.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def attribute_size(name: str, value: Mapping[str, Any]) -> int:
    return _utf8(name) + value_size(value)


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """The size DynamoDB counts for an item: every attribute's name and value."""
    return sum(attribute_size(name, value) for name, value in item.items())


def _key_problem(item: Mapping[str, Mapping[str, Any]], name: str, limit: int, required: bool) -> LimitProblem | None:
    value = item.get(name)
    if value is None or "NULL" in value:
        return LimitProblem(name, MISSING_KEY, 0, limit) if required else None
    size = value_size(value)
    if size == 0:
        return LimitProblem(name, EMPTY_KEY, 0, limit)
    if size > limit:
        return LimitProblem(name, KEY_SIZE, size, limit)
    return None


def check_item(item: Mapping[str, Mapping[str, Any]], keys: KeySchema) -> LimitProblem | None:
    """The first limit ``item`` breaks (keys first, then the item's size), or None if DynamoDB
    can hold it."""
    checks: list[tuple[str, int, bool]] = [(keys.hash_key, MAX_PARTITION_KEY_BYTES, True)]
    if keys.range_key is not None:
        checks.append((keys.range_key, MAX_SORT_KEY_BYTES, True))
    checks += [(name, MAX_PARTITION_KEY_BYTES, False) for name in keys.index_hash_keys]
    checks += [(name, MAX_SORT_KEY_BYTES, False) for name in keys.index_range_keys]
    for name, limit, required in checks:
        problem = _key_problem(item, name, limit, required)
        if problem is not None:
            return problem
    sizes = {name: attribute_size(name, value) for name, value in item.items()}
    total = sum(sizes.values())
    if total > MAX_ITEM_BYTES:
        largest = max(sizes, key=lambda n: sizes[n])
        return LimitProblem(largest, ITEM_SIZE, total, MAX_ITEM_BYTES, sizes[largest])
    return None
