"""Load a OneRoster 1.1 CSV bundle into a ``Dataset``, as a REST server would serve it (SPEC §1).

CSV columns become JSON fields: ``parentSourcedId`` -> ``parent`` ref, ``orgSourcedIds`` ->
``orgs`` refs, ``courseSourcedId``/``schoolSourcedId``/``termSourcedIds`` -> ``course``/``school``/
``terms`` refs, ``userIds`` ``{LDAP:12},{LTI:15}`` -> ``[{"type": "LDAP", "identifier": "12"}, ...]``,
multi-value fields (quoted, comma separated, with or without spaces) -> lists, ``metadata.x``
columns -> ``metadata``. Values are kept as the bundle has them: blank stays ``""`` (a blank
``status`` is the client's to read as active), ``TRUE``/``false`` stay strings, dates keep their
mixed formats; ``children`` of orgs and sessions are derived from the parents. Files the manifest
marks ``absent`` (or that do not exist) give empty collections. Handles CRLF, a missing final
newline and a UTF-8 BOM.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .dataset import DEFAULT_HREF_BASE, Dataset, Record, ref

FILES = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments", "demographics")
_USER_ID = re.compile(r"\{([^:{}]*):([^{}]*)\}")

# CSV column -> (JSON field, referenced collection, reference type, is a list)
_REFS: dict[str, dict[str, tuple[str, str, str, bool]]] = {
    "orgs": {"parentSourcedId": ("parent", "orgs", "org", False)},
    "academicSessions": {"parentSourcedId": ("parent", "academicSessions", "academicSession", False)},
    "courses": {
        "schoolYearSourcedId": ("schoolYear", "academicSessions", "academicSession", False),
        "orgSourcedId": ("org", "orgs", "org", False),
    },
    "classes": {
        "courseSourcedId": ("course", "courses", "course", False),
        "schoolSourcedId": ("school", "orgs", "org", False),
        "termSourcedIds": ("terms", "academicSessions", "academicSession", True),
    },
    "users": {
        "orgSourcedIds": ("orgs", "orgs", "org", True),
        "agentSourcedIds": ("agents", "users", "user", True),
    },
    "enrollments": {
        "classSourcedId": ("class", "classes", "class", False),
        "schoolSourcedId": ("school", "orgs", "org", False),
        "userSourcedId": ("user", "users", "user", False),
    },
}
_LISTS: dict[str, set[str]] = {
    "courses": {"grades", "subjects", "subjectCodes"},
    "classes": {"grades", "subjects", "subjectCodes", "periods"},
    "users": {"grades"},
}


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            yield {(k or "").strip(): (v if v is not None else "") for k, v in row.items()}


def read_manifest(directory: Path) -> dict[str, str]:
    """``manifest.csv`` as propertyName -> value (empty when there is none)."""
    path = directory / "manifest.csv"
    if not path.exists():
        return {}
    return {row.get("propertyName", ""): row.get("value", "").strip() for row in _rows(path)}


def _record(name: str, row: dict[str, str], href_base: str) -> Record:
    refs, lists = _REFS.get(name, {}), _LISTS.get(name, set())
    record: Record = {}
    metadata: dict[str, Any] = {}
    for column, value in row.items():
        if not column:
            continue
        if column.startswith("metadata."):
            metadata[column[len("metadata.") :]] = value
        elif column in refs:
            field, coll, kind, many = refs[column]
            if many:
                record[field] = [ref(href_base, coll, v, kind) for v in _split(value)]
            else:
                record[field] = ref(href_base, coll, value.strip(), kind) if value.strip() else ""
        elif name == "users" and column == "userIds":
            record[column] = [{"type": t, "identifier": i} for t, i in _USER_ID.findall(value)]
        elif column in lists:
            record[column] = _split(value)
        else:
            record[column] = value
    record["metadata"] = metadata
    return record


def load_csv_bundle(directory: str | Path, *, href_base: str = DEFAULT_HREF_BASE) -> Dataset:
    """Read a OneRoster 1.1 CSV bundle directory into a ``Dataset`` (SPEC §1 REST shapes)."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"no OneRoster CSV bundle at {root}")
    manifest = read_manifest(root)
    version = manifest.get("oneroster.version")
    if version and version != "1.1":
        raise ValueError(f"{root}: manifest says OneRoster {version}; only 1.1 bundles are supported")
    ds = Dataset(href_base)
    for name in FILES:
        path = root / f"{name}.csv"
        if manifest.get(f"file.{name}", "bulk").lower() == "absent" or not path.exists():
            continue
        collection = ds.collection(name)
        for row in _rows(path):
            sid = row.get("sourcedId", "").strip()
            if not sid:
                sid = f"{name}-row-{len(collection) + 1}"  # keep it servable; the client reports it
            collection[sid] = _record(name, row, href_base)
    for name in ("orgs", "academicSessions"):
        collection = ds.collection(name)
        kind = "org" if name == "orgs" else "academicSession"
        children: dict[str, list[str]] = {}
        for sid, record in collection.iter_records():
            parent = record.get("parent")
            if isinstance(parent, dict) and parent["sourcedId"] in collection:
                children.setdefault(parent["sourcedId"], []).append(sid)
        for sid, record in collection.iter_records():
            record["children"] = [ref(href_base, name, c, kind) for c in children.get(sid, [])]
    ds.version = 0
    return ds
