"""The OneRoster 1.1 side of the emulator: ``/ims/oneroster/v1p1/...`` over a ``Dataset`` (SPEC §1).

Auth is checked with oauthlib (OAuth 1.0a, HMAC-SHA256, two-legged; Authorization header or
query-string parameters), never with our own signer, so the client's signer and this check verify
each other; or with a bearer token (ClassLink's OneRoster proxy, where a ``/{appId}`` prefix before
``/ims/oneroster/v1p1`` is accepted). Paging by ``limit``/``offset`` with a silent cap, an
``X-Total-Count`` and a ``Link`` header; ``filter`` (two predicates at most), ``sort``/``orderBy``,
``fields``; faults from ``faults.Faults`` (including data faults: a shift, a repeated sourcedId,
junk entries, which whole-collection listings show and count, see ``Collection.extras``).

R18: every listing page carries ClassLink's ``x-perm-rev`` header (``OneRosterApp.perm_rev``);
the ``perm-rev`` fault, or ``bump_perm_rev()``, changes it (a delta sync that sees it change
between pages is abandoned). ``filter=dateLastModified>'...'`` works as any filter does: the
dataset's edits stamp ``dateLastModified``.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA256

from .dataset import Dataset, Record, instant
from .faults import Faults
from .http import Request, Response

PREFIX = "/ims/oneroster/v1p1"
JSON = "application/json; charset=utf-8"

_COMMON = {"sourcedId", "status", "dateLastModified", "metadata"}
KNOWN_FIELDS: dict[str, set[str]] = {
    "orgs": _COMMON | {"name", "type", "identifier", "parent", "children"},
    "academicSessions": _COMMON | {"title", "type", "startDate", "endDate", "parent", "children", "schoolYear"},
    "courses": _COMMON | {"title", "schoolYear", "courseCode", "grades", "subjects", "org", "subjectCodes"},
    "classes": _COMMON
    | {
        "title",
        "classCode",
        "classType",
        "location",
        "grades",
        "subjects",
        "course",
        "school",
        "terms",
        "subjectCodes",
        "periods",
    },
    "users": _COMMON
    | {
        "username",
        "userIds",
        "enabledUser",
        "givenName",
        "familyName",
        "middleName",
        "role",
        "identifier",
        "email",
        "sms",
        "phone",
        "agents",
        "orgs",
        "grades",
    },
    "enrollments": _COMMON | {"user", "class", "school", "role", "primary", "beginDate", "endDate"},
}

Predicate = Callable[[Record], bool]


def _lower(value: Any) -> str:
    return value.lower() if isinstance(value, str) else ""


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        sid = value.get("sourcedId")
        return sid if isinstance(sid, str) else None
    return value if isinstance(value, str) and value else None


def _ref_ids(value: Any) -> list[str]:
    if isinstance(value, list):
        return [s for s in (_ref_id(v) for v in value) if s]
    one = _ref_id(value)
    return [one] if one else []


# collection route -> (dataset collection, envelope key, predicate or None)
LISTS: dict[str, tuple[str, str, Predicate | None]] = {
    "orgs": ("orgs", "orgs", None),
    "schools": ("orgs", "orgs", lambda r: _lower(r.get("type")) == "school"),
    "academicSessions": ("academicSessions", "academicSessions", None),
    "terms": ("academicSessions", "academicSessions", lambda r: _lower(r.get("type")) == "term"),
    "gradingPeriods": (
        "academicSessions",
        "academicSessions",
        lambda r: _lower(r.get("type")) == "gradingperiod",
    ),
    "courses": ("courses", "courses", None),
    "classes": ("classes", "classes", None),
    "users": ("users", "users", None),
    "teachers": ("users", "users", lambda r: _lower(r.get("role")) == "teacher"),
    "students": ("users", "users", lambda r: _lower(r.get("role")) == "student"),
    "enrollments": ("enrollments", "enrollments", None),
    "demographics": ("demographics", "demographics", None),
}
SINGULAR = {
    "orgs": "org",
    "academicSessions": "academicSession",
    "courses": "course",
    "classes": "class",
    "users": "user",
    "enrollments": "enrollment",
    "demographics": "demographics",
}
NESTED_SCHOOL = {"classes", "enrollments", "students", "teachers", "courses", "users"}
NESTED_CLASS = {"students", "teachers", "enrollments"}

_OPS = r"!=|>=|<=|=|>|<|~"
_PRED = rf"\s*([A-Za-z_][\w.]*)\s*({_OPS})\s*'(.*?)'\s*"
_FILTER = re.compile(rf"^{_PRED}(?:(AND|OR){_PRED})?$", re.DOTALL)


class BadRequest(Exception):
    """A request the server refuses with 400 and an imsx body."""

    def __init__(self, minor: str, description: str) -> None:
        super().__init__(description)
        self.minor = minor


def imsx_error(status: int, minor: str, description: str, *, wrapped: bool = False) -> Response:
    """An error in OneRoster's imsx format (optionally wrapped in ``statusInfoSet``)."""
    info = {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [{"imsx_codeMinorFieldName": "TargetEndSystem", "imsx_codeMinorFieldValue": minor}]
        },
    }
    body = {"statusInfoSet": [info]} if wrapped else info
    return Response(status, {"Content-Type": JSON}, json.dumps(body).encode())


def _field_values(record: Record, path: str) -> list[str]:
    value: Any = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list):
            value = [v.get(part) for v in value if isinstance(v, dict)]
        else:
            return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("sourcedId")
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, int | float | str) and item != "":
            out.append(str(item))
    return out


def _predicate(name: str, op: str, value: str) -> Predicate:
    folded = value.casefold()
    moments = name == "dateLastModified"  # R18 delta filters compare instants
    if moments:
        value = instant(value)

    def test(record: Record) -> bool:
        values = _field_values(record, name)
        if moments:
            values = [instant(v) for v in values]
        if op == "=":
            return value in values
        if op == "!=":
            return value not in values
        if op == "~":
            return any(folded in v.casefold() for v in values)
        if op == ">":
            return any(v > value for v in values)
        if op == ">=":
            return any(v >= value for v in values)
        if op == "<":
            return any(v < value for v in values)
        return any(v <= value for v in values)

    return test


# R18: a delta filter alone (``dateLastModified>'T'`` or ``>=``), for the fast path of ``_view``.
_SINCE = re.compile(r"^\s*dateLastModified\s*>=?\s*'([^']*)'\s*$")


def parse_filter(text: str, collection: str) -> Predicate:
    """``field<op>'value'`` with ``= != > >= < <= ~``, at most two joined by AND or OR (SPEC §1)."""
    match = _FILTER.match(text)
    if not match:
        raise BadRequest("invalid_filter_field", f"cannot parse filter {text!r}")
    f1, op1, v1, joiner, f2, op2, v2 = match.groups()
    known = KNOWN_FIELDS.get(collection)
    for name in (f1, f2):
        if name and known is not None and name.split(".")[0] not in known:
            raise BadRequest("invalid_filter_field", f"unknown filter field {name!r} for {collection}")
    first = _predicate(f1, op1, v1)
    if not joiner:
        return first
    second = _predicate(f2, op2, v2)
    if joiner == "AND":
        return lambda r: first(r) and second(r)
    return lambda r: first(r) or second(r)


class _Validator(RequestValidator):
    """oauthlib's view of our one consumer (two-legged: no tokens)."""

    def __init__(self, app: OneRosterApp) -> None:
        super().__init__()
        self._app = app
        self._nonces: set[tuple[str, str, str]] = set()
        self._order: deque[tuple[str, str, str]] = deque()
        self._lock = threading.Lock()

    @property
    def enforce_ssl(self) -> bool:  # the emulator is plain HTTP on 127.0.0.1
        return False

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return (SIGNATURE_HMAC_SHA256,)

    @property
    def timestamp_lifetime(self) -> int:
        return self._app.timestamp_lifetime

    @property
    def dummy_client(self) -> str:
        return "dummy-client"

    def check_client_key(self, client_key: str) -> bool:
        return bool(client_key) and len(client_key) <= 512

    def check_nonce(self, nonce: str) -> bool:
        return bool(nonce) and len(nonce) <= 256

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        return hmac.compare_digest(client_key.encode(), self._app.client_id.encode())

    def get_client_secret(self, client_key: str, request: Any) -> str:
        return self._app.client_secret if client_key == self._app.client_id else "dummy-secret"

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        if not self._app.reject_replays:
            return True
        key = (client_key, timestamp, nonce)
        with self._lock:
            if key in self._nonces:
                return False
            self._nonces.add(key)
            self._order.append(key)
            if len(self._order) > 200_000:
                self._nonces.discard(self._order.popleft())
        return True


class OneRosterApp:
    """Serves a ``Dataset`` as a ClassLink Roster Server (an ``EmulatorApp``)."""

    def __init__(
        self,
        dataset: Dataset,
        *,
        client_id: str = "emulator-client-id",
        client_secret: str = "emulator-client-secret",
        bearer_token: str | None = None,
        max_limit: int = 1000,
        default_limit: int = 100,
        faults: Faults | None = None,
        timestamp_lifetime: int = 600,
        reject_replays: bool = True,
    ) -> None:
        self.dataset = dataset
        self.client_id = client_id
        self.client_secret = client_secret
        self.bearer_token = bearer_token
        self.max_limit = max_limit
        self.default_limit = default_limit
        self.faults = faults if faults is not None else Faults()
        self.timestamp_lifetime = timestamp_lifetime
        self.reject_replays = reject_replays
        self._endpoint = SignatureOnlyEndpoint(_Validator(self))
        self._views: OrderedDict[tuple[Any, ...], list[str | bytes]] = OrderedDict()
        self._views_lock = threading.Lock()
        self.perm_rev = 1  # R18: sent as x-perm-rev on every listing page

    def bump_perm_rev(self) -> int:
        """R18: change ``x-perm-rev`` (as ClassLink does when the district's data changes)."""
        with self._views_lock:
            self.perm_rev += 1
            return self.perm_rev

    # -- entry point -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        """Answer ``.../ims/oneroster/v1p1/...``; anything else is for another app."""
        at = request.path.find(PREFIX)
        if at < 0 or (at > 0 and request.path[:at].count("/") != 1):
            return None
        rest = request.path[at + len(PREFIX) :]
        if request.method not in ("GET", "HEAD"):
            return imsx_error(405, "unsupported_method", f"{request.method} is not supported (read only)")
        denied = self._authenticate(request, proxied=at > 0)
        if denied is not None:
            return denied
        truncate = False
        parts = [p for p in rest.split("/") if p]
        for rule in self.faults.decide(request.path):
            if rule.kind == "slow":
                time.sleep(rule.delay)
            elif rule.kind == "shift":
                self._shift(parts, rule.mode, self._offset(request))
            elif rule.kind in ("duplicate", "junk"):
                self._inject(parts, rule.kind, rule.count)
            elif rule.kind == "429":
                resp = imsx_error(429, "server_busy", "Too Many Requests")
                resp.headers["Retry-After"] = rule.retry_after
                return resp
            elif rule.kind == "429-no-retry-after":
                return imsx_error(429, "server_busy", "")
            elif rule.kind == "5xx":
                return imsx_error(rule.status, "internal_server_error", "", wrapped=True)
            elif rule.kind == "truncate":
                truncate = True
            elif rule.kind == "perm-rev":
                self.bump_perm_rev()
        try:
            resp = self._route(parts, request)
        except BadRequest as exc:
            return imsx_error(400, exc.minor, str(exc))
        if truncate and resp.status == 200 and len(resp.body) > 2:
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        return resp

    # -- auth ----------------------------------------------------------------------------------------
    def _authenticate(self, request: Request, *, proxied: bool) -> Response | None:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
            if self.bearer_token and hmac.compare_digest(token.encode(), self.bearer_token.encode()):
                return None
            return self._unauthorised("invalid bearer token")
        if proxied:
            return self._unauthorised("the OneRoster proxy takes a bearer token")
        has_query_oauth = any(k.startswith("oauth_") for k, _ in request.query)
        if not auth.lower().startswith("oauth ") and not has_query_oauth:
            return self._unauthorised("missing OAuth 1.0a credentials")
        headers = {"Authorization": auth} if auth else {}
        valid, oauth_request = self._endpoint.validate_request(request.url, request.method, None, headers)
        if valid:
            return None
        return self._unauthorised(self._why(oauth_request))

    def _why(self, oauth_request: Any) -> str:
        if oauth_request is None:
            return "malformed OAuth parameters"
        timestamp = getattr(oauth_request, "timestamp", None)
        if not timestamp or not getattr(oauth_request, "nonce", None):
            return "missing oauth_timestamp or oauth_nonce"
        try:
            stale = abs(time.time() - int(timestamp)) > self.timestamp_lifetime
        except ValueError:
            return "invalid oauth_timestamp"
        if stale:
            return "stale oauth_timestamp"
        if getattr(oauth_request, "signature_method", None) != SIGNATURE_HMAC_SHA256:
            return "unsupported oauth_signature_method (HMAC-SHA256 expected)"
        log = getattr(oauth_request, "validator_log", {}) or {}
        if "client" not in log:
            return "invalid OAuth parameters or a replayed nonce"
        if not log.get("client"):
            return "unknown oauth_consumer_key"
        return "invalid signature"

    def _unauthorised(self, description: str) -> Response:
        resp = imsx_error(401, "unauthorisedrequest", description)
        resp.headers["WWW-Authenticate"] = 'OAuth realm="oneroster"'
        return resp

    # -- routing -----------------------------------------------------------------------------------
    def _route(self, parts: list[str], request: Request) -> Response:
        ds = self.dataset
        if len(parts) == 1 and parts[0] in LISTS:
            coll, key, pred = LISTS[parts[0]]
            return self._list(request, ("list", parts[0]), coll, key, lambda: self._scan(coll, pred))
        if len(parts) == 2 and parts[0] in LISTS:
            coll, _, pred = LISTS[parts[0]]
            collection = ds.collection(coll)
            if parts[1] not in collection or (pred and not pred(collection.record(parts[1]))):
                return imsx_error(404, "unknownobject", f"no {parts[0]} record {parts[1]!r}")
            body = b'{"' + SINGULAR[coll].encode() + b'":' + collection.json(parts[1]) + b"}"
            return Response(200, {"Content-Type": JSON}, body)
        if len(parts) == 3 and parts[0] == "schools" and parts[2] in NESTED_SCHOOL:
            school = parts[1]
            if school not in ds.orgs:
                return imsx_error(404, "unknownobject", f"no school {school!r}")
            return self._school_nested(request, school, parts[2])
        if len(parts) == 3 and parts[0] == "classes" and parts[2] in NESTED_CLASS:
            klass = parts[1]
            if klass not in ds.classes:
                return imsx_error(404, "unknownobject", f"no class {klass!r}")
            return self._class_nested(request, klass, parts[2])
        return imsx_error(404, "unknownobject", f"no such endpoint {PREFIX}/{'/'.join(parts)}")

    def _school_nested(self, request: Request, school: str, what: str) -> Response:
        if what in ("classes", "enrollments"):

            def scan() -> list[str]:
                return self._scan(what, lambda r: _ref_id(r.get("school")) == school)

            return self._list(request, ("school", school, what), what, what, scan)
        if what == "courses":
            return self._list(
                request,
                ("school", school, what),
                "courses",
                "courses",
                lambda: self._scan("courses", lambda r: _ref_id(r.get("org")) == school),
            )
        role = {"students": "student", "teachers": "teacher"}.get(what)

        def members() -> list[str]:
            return self._scan(
                "users",
                lambda r: school in _ref_ids(r.get("orgs")) and (role is None or _lower(r.get("role")) == role),
            )

        return self._list(request, ("school", school, what), "users", "users", members)

    def _class_nested(self, request: Request, klass: str, what: str) -> Response:
        if what == "enrollments":
            return self._list(
                request,
                ("class", klass, what),
                "enrollments",
                "enrollments",
                lambda: self._scan("enrollments", lambda r: _ref_id(r.get("class")) == klass),
            )
        role = what[:-1]  # students -> student

        def members() -> list[str]:
            wanted = set()
            for _, enr in self.dataset.enrollments.iter_records():
                if _ref_id(enr.get("class")) == klass and _lower(enr.get("role")) == role:
                    uid = _ref_id(enr.get("user"))
                    if uid:
                        wanted.add(uid)
            return [u for u in self.dataset.users.ids() if u in wanted]

        return self._list(request, ("class", klass, what), "users", "users", members)

    def _scan(self, coll: str, pred: Predicate | None) -> list[str]:
        collection = self.dataset.collection(coll)
        if pred is None:
            return list(collection.ids())
        return [k for k, r in collection.iter_records() if pred(r)]

    # -- listing -----------------------------------------------------------------------------------
    def _list(
        self, request: Request, route: tuple[str, ...], coll: str, key: str, scan: Callable[[], list[str]]
    ) -> Response:
        params = dict(request.query)
        limit = self._int(params.get("limit"), self.default_limit, "limit", minimum=1)
        limit = min(limit, self.max_limit)
        offset = self._int(params.get("offset"), 0, "offset", minimum=0)
        filt = params.get("filter") or ""
        sort = params.get("sort") or ""
        order = (params.get("orderBy") or "asc").lower()
        if sort and coll in KNOWN_FIELDS and sort.split(".")[0] not in KNOWN_FIELDS[coll]:
            raise BadRequest("invalid_sort_field", f"unknown sort field {sort!r} for {coll}")
        fields = [f for f in (params.get("fields") or "").split(",") if f]
        ds = self.dataset
        collection = ds.collection(coll)
        # Data faults (a repeated sourcedId, junk entries) show in whole-collection listings only.
        raw = route[0] == "list" and LISTS[route[1]][2] is None and not filt and not sort
        with ds.lock:
            ids = self._view(route, filt, sort, order, coll, scan, raw)
            total = len(ids)
            page = ids[offset : offset + limit]
            if fields:

                def project(entry: str | bytes) -> bytes:
                    if isinstance(entry, bytes):
                        return entry  # junk is served as it is
                    r = collection.record(entry)
                    return json.dumps(
                        {f: r[f] for f in fields if f in r}, ensure_ascii=False, separators=(",", ":")
                    ).encode()

                items: Iterable[bytes] = (project(i) for i in page)
            else:
                items = (i if isinstance(i, bytes) else collection.json(i) for i in page)
            body = b'{"' + key.encode() + b'":[' + b",".join(items) + b"]}"
        headers = {"Content-Type": JSON, "X-Total-Count": str(total), "x-perm-rev": str(self.perm_rev)}
        link = self._link(request, limit, offset, total)
        if link:
            headers["Link"] = link
        return Response(200, headers, body)

    def _view(
        self,
        route: tuple[str, ...],
        filt: str,
        sort: str,
        order: str,
        coll: str,
        scan: Callable[[], list[str]],
        raw: bool = False,
    ) -> list[str | bytes]:
        cache_key = (route, filt, sort, order, raw, self.dataset.version)
        with self._views_lock:
            hit = self._views.get(cache_key)
            if hit is not None:
                self._views.move_to_end(cache_key)
                return hit
        ids = scan()
        collection = self.dataset.collection(coll)
        if filt:
            pred = parse_filter(filt, coll)
            since = _SINCE.match(filt)
            if since is not None:  # R18: a delta reads only records edited since the data was made
                ids = collection.changed_since(ids, instant(since.group(1)))
            ids = [i for i in ids if pred(collection.record(i))]
        if sort:

            def sort_key(i: str) -> str:
                values = _field_values(collection.record(i), sort)
                return values[0] if values else ""

            ids = sorted(ids, key=sort_key, reverse=order == "desc")
        entries = collection.listing(ids) if raw else list[str | bytes](ids)
        with self._views_lock:
            self._views[cache_key] = entries
            while len(self._views) > 64:
                self._views.popitem(last=False)
        return entries

    @staticmethod
    def _int(raw: str | None, default: int, name: str, *, minimum: int) -> int:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest("invalid_selection_field", f"{name} must be an integer, got {raw!r}") from None
        if value < minimum:
            raise BadRequest("invalid_selection_field", f"{name} must be at least {minimum}, got {value}")
        return value

    @staticmethod
    def _link(request: Request, limit: int, offset: int, total: int) -> str:
        split = urlsplit(request.url)
        base = f"{split.scheme}://{split.netloc}{split.path}"
        keep = [(k, v) for k, v in request.query if k not in ("limit", "offset") and not k.startswith("oauth_")]

        def url(at: int) -> str:
            return f"{base}?{urlencode([*keep, ('limit', str(limit)), ('offset', str(at))])}"

        links = []
        if offset + limit < total:
            links.append(f'<{url(offset + limit)}>; rel="next"')
        last = max(0, (total - 1) // limit * limit)
        links.append(f'<{url(last)}>; rel="last"')
        links.append(f'<{url(0)}>; rel="first"')
        if offset > 0:
            links.append(f'<{url(max(0, offset - limit))}>; rel="prev"')
        return ", ".join(links)

    # -- faults --------------------------------------------------------------------------------------
    @staticmethod
    def _offset(request: Request) -> int:
        raw = dict(request.query).get("offset") or "0"
        return int(raw) if raw.isdigit() else 0

    @staticmethod
    def _collection_of(parts: list[str]) -> str | None:
        if not parts:
            return None
        name = parts[-1] if len(parts) == 3 else parts[0]
        coll = LISTS[name][0] if name in LISTS else None
        return None if coll == "demographics" else coll

    def _shift(self, parts: list[str], mode: str, offset: int = 0) -> None:
        coll = self._collection_of(parts)
        if coll is None:
            return
        size = len(self.dataset.collection(coll))
        # replace: a record from the pages already served (before this request's offset), R9
        pick = self.faults.pick(min(offset, size) or size) if mode == "replace" else self.faults.pick(size)
        self.dataset.shift(coll, mode, pick=pick)

    def _inject(self, parts: list[str], kind: str, count: int) -> None:
        """R4 faults: list ``count`` records again (``duplicate``) or ``count`` non-objects
        (``junk``) at positions drawn from the seed; X-Total-Count counts them."""
        coll = self._collection_of(parts)
        if coll is None:
            return
        collection = self.dataset.collection(coll)
        for n in range(count):
            at = self.faults.pick(len(collection) + len(collection.extras) + 1)
            if kind == "duplicate":
                self.dataset.duplicate(coll, pick=self.faults.pick(len(collection)), at=at)
            else:
                self.dataset.add_junk(coll, at, kind=n)
