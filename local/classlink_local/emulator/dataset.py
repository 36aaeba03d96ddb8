"""The emulator's data: OneRoster 1.1 records per collection, keyed by sourcedId (SPEC §1).

A ``Dataset`` holds one district as a OneRoster REST server would serve it. Records are plain
dicts in OneRoster 1.1 JSON shape; the generator (``datagen``) stores its bulk records as compact
tuples that are expanded to dicts on first access, so a 500,000-user district stays frugal. The
server reads through ``Collection.json`` (serialised once, cached) and never materialises dicts.

Mutation helpers (``add_user``, ``rename_class``, ``drop``, ``replace_source_ids``...) stamp
``dateLastModified`` so delta fetches (``dateLastModified>'...'``) see them, and bump
``Dataset.version`` so the server's cached views are recomputed.

A collection may also carry ``extras``: entries its whole-collection listing shows besides its
records, counted by X-Total-Count: a sourcedId listed a second time (``Dataset.duplicate``) or
raw JSON that is not a record object (``Dataset.add_junk``). Faults use them (SPEC R4).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any

Record = dict[str, Any]
Expander = Callable[[Any, str], Record]

DEFAULT_HREF_BASE = "https://district-example-v2.oneroster.test/ims/oneroster/v1p1"

# What ``Dataset.add_junk`` lists where records should be, in turn (SPEC R4: each is an issue).
JUNK_VALUES: tuple[bytes, ...] = (b'"not-a-record"', b"42", b"null", b'["a","list"]', b"true")

# OneRoster collection name -> (Dataset attribute, singular envelope key, reference type).
COLLECTIONS: dict[str, tuple[str, str, str]] = {
    "orgs": ("orgs", "org", "org"),
    "academicSessions": ("academic_sessions", "academicSession", "academicSession"),
    "courses": ("courses", "course", "course"),
    "classes": ("classes", "class", "class"),
    "users": ("users", "user", "user"),
    "enrollments": ("enrollments", "enrollment", "enrollment"),
    "demographics": ("demographics", "demographics", "demographics"),
}


def now_iso() -> str:
    """The current time as OneRoster writes ``dateLastModified`` (UTC, milliseconds, ``Z``)."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def instant(text: Any) -> str:
    """A timestamp in one comparable form (UTC, microseconds), so ``dateLastModified>'...'`` compares
    moments, not spellings (``...:00Z`` against ``...:00.123Z``); anything else is left as it is."""
    text = str(text or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def ref(href_base: str, collection: str, sourced_id: str, ref_type: str) -> Record:
    """A OneRoster GUIDRef: ``{"href", "sourcedId", "type"}``."""
    return {"href": f"{href_base}/{collection}/{sourced_id}", "sourcedId": sourced_id, "type": ref_type}


def _dumps(record: Record) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


class Collection(MutableMapping[str, Record]):
    """One OneRoster collection, keyed by sourcedId, in the order a server lists it.

    ``coll[id]`` returns the stored dict (expanding a compact row once), so in-place edits stick;
    prefer the Dataset helpers, which also stamp ``dateLastModified``. ``record(id)`` and
    ``iter_records()`` give read-only views without storing expansions (cheap for big scans).
    """

    def __init__(self, name: str, dataset: Dataset, expand: Expander | None = None) -> None:
        self.name = name
        self._ds = dataset
        self._expand = expand
        self._rows: dict[str, Any] = {}
        self._json: dict[str, bytes] = {}
        self._order: list[str] | None = None
        # (listing position, entry) shown besides the records: a sourcedId listed again, or raw
        # JSON bytes that are not a record object (faults, R4). See ``listing``.
        self.extras: list[tuple[int, str | bytes]] = []
        # R18: the newest dateLastModified of the rows still compact (never edited), as ``instant``;
        # None until computed (``compact_newest``). Compact rows never change, so it stays valid.
        self._compact_newest: str | None = None

    # -- mapping protocol ------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Record:
        with self._ds.lock:
            row = self._rows[key]
            if type(row) is not dict:
                assert self._expand is not None  # nosec B101 # type narrowing; never run with -O
                row = self._expand(row, self._ds.href_base)
                self._rows[key] = row
            # The caller may edit the dict in place: forget its serialisation.
            self._json.pop(key, None)
            self._ds.bump()
            return row

    def __setitem__(self, key: str, value: Record) -> None:
        with self._ds.lock:
            if key not in self._rows:
                self._order = None
            self._rows[key] = value
            self._json.pop(key, None)
            self._ds.bump()

    def __delitem__(self, key: str) -> None:
        with self._ds.lock:
            del self._rows[key]
            self._json.pop(key, None)
            self._order = None
            self._ds.bump()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    # -- fast paths for the server and the generator ------------------------------------------
    def put_compact(self, key: str, row: Any) -> None:
        """Store a compact row (expanded by this collection's expander on demand)."""
        self._rows[key] = row
        self._order = None

    def insert_first(self, key: str, value: Record) -> None:
        """Insert a record at the start of the listing order (shifts every later offset)."""
        with self._ds.lock:
            rows = {key: value}
            rows.update((k, v) for k, v in self._rows.items() if k != key)
            self._rows = rows
            self._json.pop(key, None)
            self._order = None
            self._ds.bump()

    def record(self, key: str) -> Record:
        """The record as served, without storing an expansion: treat it as read-only."""
        row = self._rows[key]
        if type(row) is dict:
            return row
        assert self._expand is not None  # nosec B101 # type narrowing; never run with -O
        return self._expand(row, self._ds.href_base)

    def iter_records(self) -> Iterator[tuple[str, Record]]:
        """(sourcedId, read-only record) in listing order."""
        for key in self.ids():
            yield key, self.record(key)

    def add_extra(self, position: int, entry: str | bytes) -> None:
        """List ``entry`` (a sourcedId listed again, or raw JSON) at ``position`` of the listing."""
        with self._ds.lock:
            self.extras.append((position, entry))
            self._ds.bump()

    def listing(self, ids: list[str]) -> list[str | bytes]:
        """``ids`` with the ``extras`` inserted at their positions (in the order they were added)."""
        if not self.extras:
            return list(ids)
        out: list[str | bytes] = list(ids)
        for position, entry in self.extras:
            out.insert(min(position, len(out)), entry)
        return out

    def compact_newest(self) -> str:
        """R18: the newest ``dateLastModified`` (``instant``) of the generated rows nobody edited."""
        newest = self._compact_newest
        if newest is None:
            newest = ""
            for key, row in list(self._rows.items()):
                if type(row) is not dict:
                    newest = max(newest, instant(self.record(key).get("dateLastModified")))
            self._compact_newest = newest
        return newest

    def changed_since(self, ids: list[str], since: str) -> list[str]:
        """R18: of ``ids``, those that may have a ``dateLastModified`` after ``since`` (an ``instant``):
        only edited (expanded) rows when every generated row is older, else all of them."""
        if since <= self.compact_newest():
            return ids
        rows = self._rows
        return [i for i in ids if type(rows.get(i)) is dict]

    def ids(self) -> list[str]:
        """sourcedIds in listing order (cached until the key set changes)."""
        order = self._order
        if order is None:
            order = self._order = list(self._rows)
        return order

    def json(self, key: str) -> bytes:
        """The record serialised as the server sends it (cached until it changes)."""
        cached = self._json.get(key)
        if cached is None:
            cached = self._json[key] = _dumps(self.record(key))
        return cached


class Dataset:
    """One district as a OneRoster 1.1 server holds it (SPEC §1), with mutation helpers.

    Collections (``orgs``, ``academic_sessions``, ``courses``, ``classes``, ``users``,
    ``enrollments``, ``demographics``) map sourcedId -> record dict. ``planted`` maps a problem
    kind (see ``datagen.PROBLEM_KINDS``) to the sourcedIds that carry it.
    """

    def __init__(self, href_base: str = DEFAULT_HREF_BASE, *, username_prefix: str = "district") -> None:
        self.href_base = href_base
        self.username_prefix = username_prefix
        self.email_domain = f"{username_prefix.lower()}.example.org"
        self.lock = threading.RLock()
        self.version = 0
        self.planted: dict[str, list[str]] = {}
        self.unlicensed_school_ids: list[str] = []
        self.clock: Callable[[], str] = now_iso
        self._serial = itertools.count(1)
        self.orgs = Collection("orgs", self)
        self.academic_sessions = Collection("academicSessions", self)
        self.courses = Collection("courses", self)
        self.classes = Collection("classes", self)
        self.users = Collection("users", self)
        self.enrollments = Collection("enrollments", self)
        self.demographics = Collection("demographics", self)

    # -- access ----------------------------------------------------------------------------------
    def bump(self) -> None:
        """Mark the dataset changed (the server recomputes its cached views)."""
        self.version += 1

    def collection(self, name: str) -> Collection:
        """A collection by its OneRoster name (``"academicSessions"``) or attribute name."""
        attr = COLLECTIONS[name][0] if name in COLLECTIONS else name
        coll = getattr(self, attr, None)
        if not isinstance(coll, Collection):
            raise KeyError(name)
        return coll

    def all_collections(self) -> dict[str, Collection]:
        """OneRoster name -> collection."""
        return {name: getattr(self, attr) for name, (attr, _, _) in COLLECTIONS.items()}

    def warm(self, *names: str) -> int:
        """Serialise every record of the named collections (all when none) ahead of the first
        fetch, so the first full fetch is as fast as the next ones. Returns the records done."""
        done = 0
        for coll in (self.collection(n) for n in names) if names else self.all_collections().values():
            for key in coll.ids():
                coll.json(key)
                done += 1
            coll.compact_newest()  # R18: delta filters then read only edited records
        return done

    def counts(self) -> dict[str, int]:
        """Records per collection (OneRoster names)."""
        return {name: len(coll) for name, coll in self.all_collections().items()}

    @property
    def school_ids(self) -> list[str]:
        """sourcedIds of the orgs of type school."""
        return [k for k, r in self.orgs.iter_records() if str(r.get("type", "")).lower() == "school"]

    @property
    def licensed_school_ids(self) -> list[str]:
        """Schools a test district should license (R3): all except the planted unlicensed ones."""
        return [s for s in self.school_ids if s not in self.unlicensed_school_ids]

    def ref(self, collection: str, sourced_id: str) -> Record:
        """A GUIDRef to a record of ``collection`` (OneRoster name)."""
        return ref(self.href_base, collection, sourced_id, COLLECTIONS[collection][2])

    def new_id(self, prefix: str) -> str:
        """A fresh sourcedId that no generated record uses."""
        return f"{prefix}-new-{next(self._serial)}"

    # -- mutation helpers ------------------------------------------------------------------------
    def update(self, collection: str, sourced_id: str, **fields: Any) -> Record:
        """Set fields of one record (OneRoster field names) and stamp ``dateLastModified``."""
        with self.lock:
            record = self.collection(collection)[sourced_id]
            record.update(fields)
            record["dateLastModified"] = self.clock()
            return record

    def touch(self, collection: str, sourced_id: str) -> Record:
        """Stamp ``dateLastModified`` without changing anything else (a delta sees it)."""
        return self.update(collection, sourced_id)

    def add_user(
        self,
        role: str = "student",
        school_ids: Iterable[str] | None = None,
        class_ids: Iterable[str] = (),
        sourced_id: str | None = None,
        **fields: Any,
    ) -> Record:
        """Add a user (default: an enabled student of the first school), enrolled in ``class_ids``
        with its role; ``fields`` override any OneRoster field (``username``, ``email``...)."""
        with self.lock:
            sid = sourced_id or self.new_id("usr")
            schools = list(school_ids) if school_ids is not None else self.school_ids[:1]
            serial = sid.rsplit("-", 1)[-1]
            username = f"{self.username_prefix}-{sid}"
            record: Record = {
                "sourcedId": sid,
                "status": "active",
                "dateLastModified": self.clock(),
                "metadata": {},
                "username": username,
                "userIds": [{"type": "LDAP", "identifier": username}],
                "enabledUser": "true",
                "givenName": "New",
                "familyName": f"User {serial}",
                "middleName": "",
                "role": role,
                "identifier": sid,
                "email": f"{username.lower()}@{self.email_domain}",
                "sms": "",
                "phone": "",
                "orgs": [self.ref("orgs", s) for s in schools],
                "agents": [],
                "grades": [],
                "password": "",  # nosec B105 # OneRoster's (empty) password field
            }
            record.update(fields)
            self.users[sid] = record
            for class_id in class_ids:
                self.add_enrollment(sid, class_id, role=role)
            return record

    def add_enrollment(
        self,
        user_id: str,
        class_id: str,
        role: str | None = None,
        primary: bool = False,
        sourced_id: str | None = None,
        **fields: Any,
    ) -> Record:
        """Enrol a user in a class (role defaults to the user's role; school from the class)."""
        with self.lock:
            sid = sourced_id or self.new_id("enr")
            user = self.users.record(user_id)
            klass = self.classes.record(class_id)
            school = (klass.get("school") or {}).get("sourcedId", "")
            record: Record = {
                "sourcedId": sid,
                "status": "active",
                "dateLastModified": self.clock(),
                "metadata": {},
                "user": self.ref("users", user_id),
                "class": self.ref("classes", class_id),
                "school": self.ref("orgs", school) if school else "",
                "role": role or user.get("role", "student"),
                "primary": "true" if primary else "false",
                "beginDate": "",
                "endDate": "",
            }
            record.update(fields)
            self.enrollments[sid] = record
            return record

    def add_class(
        self,
        title: str,
        school_id: str,
        teacher_ids: Iterable[str] = (),
        course_id: str | None = None,
        term_ids: Iterable[str] | None = None,
        sourced_id: str | None = None,
        **fields: Any,
    ) -> Record:
        """Add a class in a school with its teachers enrolled (the first as primary)."""
        with self.lock:
            sid = sourced_id or self.new_id("cls")
            terms = (
                list(term_ids)
                if term_ids is not None
                else [k for k, r in self.academic_sessions.iter_records() if r.get("type") == "term"][:1]
            )
            record: Record = {
                "sourcedId": sid,
                "status": "active",
                "dateLastModified": self.clock(),
                "metadata": {},
                "title": title,
                "classCode": sid,
                "classType": "scheduled",
                "location": "",
                "grades": [],
                "subjects": [],
                "course": self.ref("courses", course_id) if course_id else "",
                "school": self.ref("orgs", school_id),
                "terms": [self.ref("academicSessions", t) for t in terms],
                "periods": [],
            }
            record.update(fields)
            self.classes[sid] = record
            for i, teacher in enumerate(teacher_ids):
                self.add_enrollment(teacher, sid, role="teacher", primary=i == 0)
            return record

    def rename_class(self, class_id: str, title: str) -> Record:
        """Change a class's title (R7: may add or lose its subject)."""
        return self.update("classes", class_id, title=title)

    def move_teacher(self, user_id: str, school_id: str, *, move_classes: bool = False) -> Record:
        """Make ``school_id`` the user's only school (``orgs``). With ``move_classes`` their
        classes move too (class ``school`` and enrolment ``school`` refs); otherwise they keep
        teaching classes of the old school, which R8 then reports."""
        with self.lock:
            record = self.update("users", user_id, orgs=[self.ref("orgs", school_id)])
            if move_classes:
                for enr_id, enr in list(self.enrollments.iter_records()):
                    if (enr.get("user") or {}).get("sourcedId") != user_id or enr.get("role") != "teacher":
                        continue
                    class_id = enr["class"]["sourcedId"]
                    self.update("classes", class_id, school=self.ref("orgs", school_id))
                    for other_id, other in list(self.enrollments.iter_records()):
                        if (other.get("class") or {}).get("sourcedId") == class_id:
                            self.update("enrollments", other_id, school=self.ref("orgs", school_id))
                    self.update("enrollments", enr_id, school=self.ref("orgs", school_id))
            return record

    def mark_tobedeleted(self, collection: str, *sourced_ids: str) -> None:
        """Set ``status`` to ``tobedeleted`` (R9: a removal trigger)."""
        with self.lock:
            for sid in sourced_ids:
                self.update(collection, sid, status="tobedeleted")

    def drop(self, collection: str, *sourced_ids: str, cascade: bool = True) -> int:
        """Remove records as if the district stopped sharing them (R9). With ``cascade``,
        dropping users or classes also drops their enrolments. Returns the records removed."""
        with self.lock:
            coll = self.collection(collection)
            gone = set(sourced_ids)
            removed = 0
            for sid in sourced_ids:
                if sid in coll:
                    del coll[sid]
                    removed += 1
            field = {"users": "user", "classes": "class"}.get(coll.name)
            if cascade and field:
                for enr_id, enr in list(self.enrollments.iter_records()):
                    if (enr.get(field) or {}).get("sourcedId") in gone:
                        del self.enrollments[enr_id]
                        removed += 1
            return removed

    def replace_source_ids(
        self, collections: Iterable[str] = ("users", "classes", "enrollments"), prefix: str = "r11-"
    ) -> dict[str, str]:
        """R11: give the same people and classes new sourcedIds (``prefix`` + old id), rewriting
        every reference and the ``planted`` summary. Returns old id -> new id."""
        with self.lock:
            mapping: dict[str, str] = {}
            names = [self.collection(c).name for c in collections]
            for name in names:
                coll = self.collection(name)
                for old in coll.ids():
                    mapping[old] = prefix + old
            stamp = self.clock()
            for coll in self.all_collections().values():
                rows: dict[str, Any] = {}
                for old in coll.ids():
                    record = _rewrite(coll.record(old), mapping)
                    record["dateLastModified"] = stamp if coll.name in names else record.get("dateLastModified", stamp)
                    rows[mapping.get(old, old)] = record
                coll._rows = rows
                coll._json.clear()
                coll._order = None
            self.planted = {kind: [mapping.get(s, s) for s in ids] for kind, ids in self.planted.items()}
            self.unlicensed_school_ids = [mapping.get(s, s) for s in self.unlicensed_school_ids]
            self.bump()
            return mapping

    def shift(self, collection: str, mode: str, pick: int = 0) -> str | None:
        """Change a collection mid-fetch (a fault): ``insert`` a copy of a record at the start
        with a new sourcedId, ``remove`` the record at position ``pick % len``, or ``replace``:
        remove that record and append a copy of it with a new sourcedId at the end (the total
        stays the same). Returns the sourcedId inserted or removed (for ``replace``, removed)."""
        with self.lock:
            coll = self.collection(collection)
            ids = coll.ids()
            if not ids:
                return None
            victim = ids[pick % len(ids)]
            if mode == "remove":
                del coll[victim]
                return victim
            clone = json.loads(coll.json(victim))
            if mode == "replace":
                del coll[victim]
                clone = self._renamed(clone, coll.name)
                coll[clone["sourcedId"]] = clone  # a new key: listed last
                return victim
            clone = self._renamed(clone, coll.name)
            coll.insert_first(clone["sourcedId"], clone)
            return str(clone["sourcedId"])

    def _renamed(self, clone: Record, name: str) -> Record:
        sid = self.new_id(f"shift-{name}")
        clone["sourcedId"] = sid
        clone["dateLastModified"] = self.clock()
        if "username" in clone:
            clone["username"] = f"{self.username_prefix}-{sid}"
            clone["email"] = f"{sid}@{self.email_domain}"
        return clone

    def duplicate(self, collection: str, pick: int = 0, at: int | None = None) -> str | None:
        """List the record at position ``pick % len`` a second time, at listing position ``at``
        (default: the end); X-Total-Count counts the copy (a fault, SPEC R4). Returns its id."""
        with self.lock:
            coll = self.collection(collection)
            ids = coll.ids()
            if not ids:
                return None
            listed_again = {entry for _, entry in coll.extras}
            if len(listed_again) >= len(ids):
                return None
            index = pick % len(ids)
            while ids[index] in listed_again:  # a different record each time
                index = (index + 1) % len(ids)
            sid = ids[index]
            coll.add_extra(len(ids) + len(coll.extras) if at is None else at, sid)
            return sid

    def add_junk(self, collection: str, at: int, kind: int = 0) -> bytes:
        """List an entry that is not a record object (``JUNK_VALUES[kind % 5]``) at listing
        position ``at``; X-Total-Count counts it (a fault, SPEC R4). Returns the raw JSON."""
        raw = JUNK_VALUES[kind % len(JUNK_VALUES)]
        self.collection(collection).add_extra(at, raw)
        return raw


def _rewrite(value: Any, mapping: dict[str, str]) -> Any:
    """A deep copy of a record with every sourcedId (own and in references) mapped."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "sourcedId" and isinstance(item, str):
                new = mapping.get(item, item)
                out[key] = new
            elif key == "href" and isinstance(item, str):
                head, _, tail = item.rpartition("/")
                out[key] = f"{head}/{mapping.get(tail, tail)}" if head else item
            else:
                out[key] = _rewrite(item, mapping)
        return out
    if isinstance(value, list):
        return [_rewrite(v, mapping) for v in value]
    return value
