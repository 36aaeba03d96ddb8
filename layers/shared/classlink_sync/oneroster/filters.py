"""OneRoster filter expressions (SPEC §1 "Filters").

``field<op>'value'`` with ``= != > >= < <= ~``, at most two predicates joined by ``AND`` or ``OR``.
OneRoster 1.1 defines no escape for a single quote inside a value, so such a value is refused
rather than sent in a form the server would misread.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")


def predicate(field: str, op: str, value: str | int | date | datetime) -> str:
    """One predicate, e.g. ``predicate("status", "=", "active")`` -> ``status='active'``."""
    if op not in OPERATORS:
        raise ValueError(f"unknown filter operator {op!r}; use one of {', '.join(OPERATORS)}")
    if not _FIELD.match(field):
        raise ValueError(f"invalid filter field name {field!r}")
    if isinstance(value, datetime):
        text = format_timestamp(value)
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    if "'" in text:
        raise ValueError(f"filter value {text!r} contains a single quote, which OneRoster 1.1 cannot express")
    return f"{field}{op}'{text}'"


def combine(first: str, second: str | None = None, join: str = "AND") -> str:
    """Join at most two predicates with ``AND`` or ``OR`` (SPEC §1)."""
    if second is None:
        return first
    join = join.upper()
    if join not in ("AND", "OR"):
        raise ValueError(f"filters join with AND or OR, not {join!r}")
    return f"{first} {join} {second}"


def format_timestamp(value: datetime | str) -> str:
    """ISO 8601 UTC with a ``Z``, as ``dateLastModified`` filters expect."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def modified_since(since: datetime | str) -> str:
    """The delta filter ``dateLastModified>'...'``.

    Pass the start time of the previous fetch (not its end) so that no change falls in between.
    """
    return predicate("dateLastModified", ">", format_timestamp(since))
