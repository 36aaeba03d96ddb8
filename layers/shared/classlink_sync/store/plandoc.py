"""A continued sync's plan in the report bucket (R20; issue 10, memory).

Hop 0 keeps its plan before its first write; every follow-up loads it back. Kept as one JSON
document, the plan of a 1,000,000-user district is 2.1 GB of text, and loading it builds about
6.4 GB of Python objects: a follow-up would peak near 13 GB, over Lambda's 10,240 MB. Enrolments
are six in seven of the plan's items, so they are kept apart:

* the head document (the run's ``plan.json``): the plan without its enrolments (``Plan.to_dict``
  layout), plus ``enrollment_parts`` (per part: the action, its number of rows, its key) and
  ``digest`` (the plan's ``store.apply.plan_digest``, so that a follow-up need not read every part
  to find it);
* ``enrollments-{n:04d}.json.gz`` beside it: at most ``PART_ROWS`` enrolment rows of one action
  each, gzip'ed JSON, written one at a time while iterating the plan's ``StateRows``.

``load_plan`` gives the plan back with each enrolment action list as ``PartRows``: a read-only
sequence that knows its length from the head document and reads a part only when a slice or an
iteration reaches it, holding one part at a time. Apply reads enrolments chunk by chunk in order,
so a follow-up holds the plan's accounts, classes, schools and reservations, and one part.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any, overload

from classlink_sync.rules.plan import EnrollmentState, LazyStates, Plan
from classlink_sync.settings import AppSettings
from classlink_sync.store.reports import get_json, put_json, s3_client

PART_ROWS = 50_000  # about 2.5 MB of gzip'ed JSON a part; 120 parts for 6,000,000 enrolments
_ENROLLMENT_FIELDS = [f.name for f in fields(EnrollmentState)]
_TUPLE_FIELDS = frozenset(f.name for f in fields(EnrollmentState) if "tuple" in str(f.type))


def part_key(head_key: str, number: int) -> str:
    """The key of part ``number`` of the plan whose head document is ``head_key``."""
    return f"{head_key.rsplit('/', 1)[0]}/enrollments-{number:04d}.json.gz"


def keep_plan(settings: AppSettings, head_key: str, plan: Plan, *, digest: str, part_rows: int = PART_ROWS) -> int:
    """Write the plan's documents: its parts one at a time, then the head at ``head_key``.
    Returns the number of parts (their keys are ``part_key(head_key, 0 .. n-1)``)."""
    head = plan.to_dict_head()
    for name, names in plan.state_fields().items():
        if name != "enrollments":
            head[name] = {
                action: [[getattr(item, n) for n in names] for item in items]
                for action, items in getattr(plan, name).items()
            }
            head[name + "_fields"] = names
    parts: list[dict[str, Any]] = []
    client = s3_client(settings)
    for action, items in plan.enrollments.items():
        for start in range(0, len(items), part_rows):
            rows = [[getattr(state, name) for name in _ENROLLMENT_FIELDS] for state in items[start : start + part_rows]]
            key = part_key(head_key, len(parts))
            body = gzip.compress(json.dumps(rows, separators=(",", ":"), default=str).encode(), compresslevel=5)
            client.put_object(Bucket=settings.report_bucket, Key=key, Body=body, ContentType="application/gzip")
            parts.append({"action": action, "rows": len(rows), "key": key})
            del rows, body
    head["enrollments"] = {action: [] for action in plan.enrollments}
    head["enrollments_fields"] = _ENROLLMENT_FIELDS
    head["enrollment_parts"] = parts
    head["digest"] = digest
    put_json(settings, head_key, head)
    return len(parts)


def load_plan(settings: AppSettings, head_key: str) -> tuple[Plan, str | None]:
    """The plan kept at ``head_key`` and its digest (None for a one-document plan without one)."""
    head = get_json(settings, head_key)
    parts = head.pop("enrollment_parts", None)
    digest = head.pop("digest", None)
    plan = Plan.from_dict(head)
    if parts is not None:
        reader = _PartReader(settings, list(head.get("enrollments_fields") or _ENROLLMENT_FIELDS))
        for action in plan.enrollments:
            mine = [_Part(p["key"], int(p["rows"])) for p in parts if p["action"] == action]
            plan.enrollments[action] = PartRows(mine, reader)
    return plan, digest


@dataclass(frozen=True, slots=True)
class _Part:
    key: str
    rows: int


class _PartReader:
    """Reads one part at a time and keeps the last one read (apply reads parts in order)."""

    def __init__(self, settings: AppSettings, names: list[str]) -> None:
        self.settings = settings
        self.names = names
        self._key: str | None = None
        self._rows: list[list[Any]] = []

    def rows(self, part: _Part) -> list[list[Any]]:
        if self._key != part.key:
            self._rows = []  # the previous part is freed before the next is read
            response = s3_client(self.settings).get_object(Bucket=self.settings.report_bucket, Key=part.key)
            rows: list[list[Any]] = json.loads(gzip.decompress(response["Body"].read()))
            if len(rows) != part.rows:
                raise ValueError(f"plan part {part.key} has {len(rows)} rows, the plan says {part.rows}")
            self._key, self._rows = part.key, rows
        return self._rows

    def state(self, row: list[Any]) -> EnrollmentState:
        values = dict(zip(self.names, row, strict=True))
        for name in _TUPLE_FIELDS & values.keys():
            values[name] = tuple(values[name])
        return EnrollmentState(**values)


class PartRows(LazyStates):
    """One action's enrolments of a kept plan: read-only, length known, parts read on demand."""

    __slots__ = ("_len", "_parts", "_reader", "_starts")

    def __init__(self, parts: list[_Part], reader: _PartReader) -> None:
        self._parts = parts
        self._reader = reader
        self._starts: list[int] = []
        total = 0
        for part in parts:
            self._starts.append(total)
            total += part.rows
        self._len = total

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> EnrollmentState: ...

    @overload
    def __getitem__(self, index: slice) -> list[EnrollmentState]: ...

    def __getitem__(self, index: int | slice) -> EnrollmentState | list[EnrollmentState]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step != 1:
                raise ValueError("PartRows slices take no step")
            return list(self._range(start, stop))
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        return next(self._range(index, index + 1))

    def _range(self, start: int, stop: int) -> Iterator[EnrollmentState]:
        reader = self._reader
        for part, first in zip(self._parts, self._starts, strict=True):
            end = first + part.rows
            if end <= start or first >= stop:
                continue
            rows = reader.rows(part)
            for row in rows[max(start, first) - first : min(stop, end) - first]:
                yield reader.state(row)

    def __iter__(self) -> Iterator[EnrollmentState]:
        return self._range(0, self._len)

    def __repr__(self) -> str:
        return f"PartRows({len(self._parts)} parts, {self._len} rows)"
