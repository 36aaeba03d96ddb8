"""Raw OneRoster JSON records, read through the client's real models (``parse_page``: fast path and
pydantic), into a ``RosterSnapshot``: so a test sees what the planner gets from hostile data,
rejections included, with the client's leniency.

``snapshot_of`` also does what the client's collector does with a sourcedId listed more than once in
a steady listing (R4): one ``Rejected`` (field ``sourcedId``) and none of its records used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from classlink_sync.oneroster.models import TupleInterner, parse_page
from classlink_sync.oneroster.records import CollectionStatus, Rejected, RosterSnapshot

COLLECTIONS = {
    "orgs": "orgs",
    "academicSessions": "academic_sessions",
    "courses": "courses",
    "classes": "classes",
    "users": "users",
    "enrollments": "enrollments",
}


def ref(sid: str, kind: str) -> dict[str, str]:
    return {"href": f"/{kind}s/{sid}", "sourcedId": sid, "type": kind}


def raw_school(sid: str = "sch1", name: str = "Lincoln High") -> dict[str, Any]:
    return {"sourcedId": sid, "status": "active", "name": name, "type": "school"}


def raw_term(sid: str = "t1") -> dict[str, Any]:
    return {"sourcedId": sid, "status": "active", "title": "Spring", "type": "term",
            "startDate": "2026-01-05", "endDate": "2026-06-12", "schoolYear": "2026"}  # fmt: skip


def raw_user(sid: str, role: str = "student", *, school: str = "sch1", **fields: Any) -> dict[str, Any]:
    record = {
        "sourcedId": sid,
        "status": "active",
        "username": f"ExampleISD-{sid}",
        "enabledUser": "true",
        "givenName": "Ada",
        "familyName": "Lovelace",
        "role": role,
        "email": f"{sid}@school.example.org",
        "orgs": [ref(school, "org")],
    }
    record.update(fields)
    return record


def raw_class(sid: str, title: str = "Spanish 1", *, school: str = "sch1", **fields: Any) -> dict[str, Any]:
    record = {
        "sourcedId": sid,
        "status": "active",
        "title": title,
        "classType": "scheduled",
        "school": ref(school, "org"),
        "terms": [ref("t1", "academicSession")],
    }
    record.update(fields)
    return record


def raw_enrol(sid: str, user: str, klass: str, role: str = "student", **fields: Any) -> dict[str, Any]:
    record = {
        "sourcedId": sid,
        "status": "active",
        "user": ref(user, "user"),
        "class": ref(klass, "class"),
        "school": ref("sch1", "org"),
        "role": role,
        "primary": "false",
        "beginDate": "2025-08-20",
    }
    record.update(fields)
    return record


def raw_district(n_classes: int = 2, students: int = 2) -> dict[str, list[dict[str, Any]]]:
    """A small, well-formed district: per class a teacher and ``students`` students."""
    data: dict[str, list[dict[str, Any]]] = {
        "orgs": [raw_school()],
        "academicSessions": [raw_term()],
        "courses": [],
        "classes": [],
        "users": [],
        "enrollments": [],
    }
    for n in range(n_classes):
        data["classes"].append(raw_class(f"c{n}", ["Spanish 1", "French 2", "German 3"][n % 3]))
        data["users"].append(raw_user(f"t{n}", "teacher"))
        data["enrollments"].append(raw_enrol(f"e{n}-t", f"t{n}", f"c{n}", "teacher", primary="true"))
        for i in range(students):
            data["users"].append(raw_user(f"s{n}-{i}"))
            data["enrollments"].append(raw_enrol(f"e{n}-{i}", f"s{n}-{i}", f"c{n}"))
    return data


def snapshot_of(data: dict[str, list[Any]], *, complete: bool = True) -> RosterSnapshot:
    """Every collection through ``parse_page`` (as the client reads a page), into a snapshot."""
    snap = RosterSnapshot()
    tuples = TupleInterner()
    for collection, attribute in COLLECTIONS.items():
        items = data.get(collection, [])
        records, rejected = parse_page(collection, items, tuples)
        snap.rejected.extend(rejected)
        target = getattr(snap, attribute)
        seen = Counter(r.sourced_id for r in records)
        seen.update(r.sourced_id for r in rejected if r.sourced_id is not None)
        repeated = {sid for sid, n in seen.items() if n > 1}
        for record in records:
            if record.sourced_id not in repeated:
                target[record.sourced_id] = record
        for sid in sorted(repeated):  # as the client's collector does (R4)
            snap.rejected.append(
                Rejected(collection, sid, "sourcedId", f"R4: sourcedId {sid!r} appears {seen[sid]} times")
            )
        snap.collections[collection] = CollectionStatus(collection, complete, len(items), len(items))
    return snap


def without(data: dict[str, list[Any]], *sids: str) -> dict[str, list[Any]]:
    """A copy of ``data`` without the records of these sourcedIds."""
    drop = set(sids)
    return {c: [r for r in rs if not (isinstance(r, dict) and r.get("sourcedId") in drop)] for c, rs in data.items()}


def replaced(data: dict[str, list[Any]], sid: str, **fields: Any) -> dict[str, list[Any]]:
    """A copy of ``data`` where the record(s) with this sourcedId have these fields."""
    return {
        c: [({**r, **fields} if isinstance(r, dict) and r.get("sourcedId") == sid else r) for r in rs]
        for c, rs in data.items()
    }


def every_id(records: Iterable[Any]) -> set[str]:
    return {r.sourced_id for r in records}
