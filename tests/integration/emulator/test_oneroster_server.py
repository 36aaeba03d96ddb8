"""The emulator speaks OneRoster 1.1 as ClassLink does (SPEC §1): auth, paging, filters, endpoints."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from classlink_local.emulator.datagen import generate
from classlink_local.emulator.http import Request, Response

from .conftest import Get, signed_get

pytestmark = pytest.mark.integration


def ids(resp: httpx.Response, key: str = "users") -> list[str]:
    assert resp.status_code == 200, resp.text
    return [r["sourcedId"] for r in resp.json()[key]]


def minor(resp: httpx.Response) -> str:
    return resp.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"]


# -- auth ------------------------------------------------------------------------------------------


def test_signed_requests_pass_in_header_and_in_query(emulator: Any) -> None:
    for in_query in (False, True):
        resp = signed_get(
            emulator.base_url + "/users",
            emulator.client_id,
            emulator.client_secret,
            {"limit": 3, "filter": "givenName~'é' OR familyName='O'Brien'"},
            in_query=in_query,
        )
        assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    ("key", "secret", "options", "reason"),
    [
        ("emulator-client-id", "wrong", {}, "invalid signature"),
        ("someone-else", "emulator-client-secret", {}, "unknown oauth_consumer_key"),
        (
            "emulator-client-id",
            "emulator-client-secret",
            {"timestamp": str(int(time.time()) - 3600)},
            "stale oauth_timestamp",
        ),
    ],
)
def test_bad_credentials_get_401_with_an_imsx_body(
    emulator: Any, key: str, secret: str, options: dict[str, str], reason: str
) -> None:
    resp = signed_get(emulator.base_url + "/users", key, secret, **options)
    assert resp.status_code == 401
    body = resp.json()
    assert body["imsx_codeMajor"] == "failure" and body["imsx_severity"] == "error"
    assert body["imsx_description"] == reason
    assert minor(resp) == "unauthorisedrequest"


def test_tampered_query_and_replayed_nonce_and_no_credentials_are_refused(emulator: Any) -> None:
    from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client

    client = Client(emulator.client_id, client_secret=emulator.client_secret, signature_method=SIGNATURE_HMAC_SHA256)
    uri, headers, _ = client.sign(emulator.base_url + "/users?filter=role%3D%27teacher%27")
    assert httpx.get(uri, headers=headers).status_code == 200
    assert httpx.get(uri, headers=headers).status_code == 401  # the same nonce again
    uri, headers, _ = client.sign(emulator.base_url + "/users?limit=5")
    assert httpx.get(uri.replace("limit=5", "limit=6"), headers=headers).status_code == 401
    resp = httpx.get(emulator.base_url + "/users")
    assert resp.status_code == 401 and resp.json()["imsx_description"] == "missing OAuth 1.0a credentials"


def test_bearer_token_and_proxy_prefix(emulator_factory: Any) -> None:
    emu = emulator_factory(bearer_token="tok-123")
    good = {"Authorization": "Bearer tok-123"}
    assert httpx.get(emu.base_url + "/schools", headers=good).status_code == 200
    proxied = emu.url + "/app-42/ims/oneroster/v1p1/users?limit=2"
    assert len(httpx.get(proxied, headers=good).json()["users"]) == 2
    assert httpx.get(proxied, headers={"Authorization": "Bearer nope"}).status_code == 401


# -- paging ----------------------------------------------------------------------------------------


def test_default_limit_cap_offset_total_and_link(emulator_factory: Any) -> None:
    emu = emulator_factory(max_limit=40)

    def get(**params: Any) -> httpx.Response:
        return signed_get(emu.base_url + "/users", emu.client_id, emu.client_secret, params)

    all_ids = emu.dataset.users.ids()
    first = get()
    assert ids(first) == all_ids[:40]  # default 100, capped silently at 40
    assert first.headers["X-Total-Count"] == str(len(all_ids))
    resp = get(limit=25, offset=30)
    assert ids(resp) == all_ids[30:55]
    links = httpx.Response(200, headers={"Link": resp.headers["Link"]}).links
    assert httpx.URL(links["next"]["url"]).params["offset"] == "55"
    last = httpx.URL(links["last"]["url"]).params
    assert int(last["offset"]) == (len(all_ids) - 1) // 25 * 25 and last["limit"] == "25"
    assert ids(get(offset=len(all_ids))) == []
    # Follow Link next to the end: every user exactly once.
    seen: list[str] = []
    url: str | None = emu.base_url + "/users?limit=1000"
    while url:
        page = signed_get(url, emu.client_id, emu.client_secret)
        seen += ids(page)
        url = page.links.get("next", {}).get("url")
    assert seen == all_ids
    assert get(limit="x").status_code == 400 and get(limit=0).status_code == 400


# -- filters and sort ------------------------------------------------------------------------------


def test_filters(emulator: Any, get: Get) -> None:
    users = list(emulator.dataset.users.iter_records())
    teachers = [k for k, u in users if u.get("role") == "teacher"]
    assert ids(get("/users", filter="role='teacher'", limit=1000)) == teachers
    assert ids(get("/users", filter="role!='teacher'", limit=1000)) == [k for k, _ in users if k not in teachers]
    both = get("/users", filter="role='teacher' OR role='student'", limit=1000)
    assert int(both.headers["X-Total-Count"]) == sum(u.get("role") in ("teacher", "student") for _, u in users)
    a_school = emulator.dataset.licensed_school_ids[0]
    mixed = ids(get("/users", filter=f"role='teacher' AND orgs.sourcedId='{a_school}'", limit=1000))
    assert mixed and set(mixed) < set(teachers)
    contains = ids(get("/users", filter="givenName~'JOSÉ'", limit=1000))
    assert contains == [k for k, u in users if "josé" in (u.get("givenName") or "").casefold()]
    assert get("/users", filter="role=teacher").status_code == 400
    bad = get("/users", filter="shoeSize='9'")
    assert bad.status_code == 400 and minor(bad) == "invalid_filter_field"


def test_date_last_modified_delta(emulator: Any, get: Get) -> None:
    cutoff = "2026-01-01T00:00:00Z"
    assert ids(get("/users", filter=f"dateLastModified>'{cutoff}'")) == []
    ds = emulator.dataset
    changed = ds.users.ids()[7]
    ds.touch("users", changed)
    klass = ds.classes.ids()[2]
    ds.rename_class(klass, "Italian 3")
    assert ids(get("/users", filter=f"dateLastModified>'{cutoff}'")) == [changed]
    assert ids(get("/classes", filter=f"dateLastModified>='{cutoff}'"), "classes") == [klass]
    older = get("/users", filter="dateLastModified<'2025-07-01T00:00:00Z'", limit=1000)
    assert 0 < int(older.headers["X-Total-Count"]) < len(ds.users)


def test_sort_and_fields(emulator: Any, get: Get) -> None:
    resp = get("/users", sort="familyName", orderBy="desc", limit=1000, fields="sourcedId,familyName")
    families = [u.get("familyName", "") for u in resp.json()["users"]]
    assert families == sorted(families, reverse=True)
    assert all(set(u) <= {"sourcedId", "familyName"} for u in resp.json()["users"])


# -- endpoints -------------------------------------------------------------------------------------


def test_collections_and_envelopes(emulator: Any, get: Get) -> None:
    ds = emulator.dataset
    assert ids(get("/schools"), "orgs") == ds.school_ids
    assert len(ids(get("/orgs"), "orgs")) == len(ds.orgs)
    terms = [k for k, r in ds.academic_sessions.iter_records() if r["type"] == "term"]
    assert ids(get("/terms"), "academicSessions") == terms
    assert len(ids(get("/academicSessions"), "academicSessions")) == len(ds.academic_sessions)
    assert len(ids(get("/courses", limit=1000), "courses")) == len(ds.courses)
    assert len(ids(get("/classes", limit=1000), "classes")) == len(ds.classes)
    assert len(ids(get("/enrollments", limit=1000), "enrollments")) == len(ds.enrollments)
    students = [k for k, u in ds.users.iter_records() if u.get("role") == "student"]
    assert ids(get("/students", limit=1000)) == students
    assert get("/demographics").json() == {"demographics": []}
    user = ds.users.ids()[0]
    single = get(f"/users/{user}")
    assert single.json()["user"]["sourcedId"] == user
    assert get(f"/classes/{ds.classes.ids()[0]}").json()["class"]["sourcedId"] == ds.classes.ids()[0]
    missing = get("/users/nobody")
    assert missing.status_code == 404 and minor(missing) == "unknownobject"
    assert get(f"/teachers/{students[0]}").status_code == 404
    assert get("/nothing").status_code == 404


def test_nested_collections(emulator: Any, get: Get) -> None:
    ds = emulator.dataset
    school = ds.licensed_school_ids[1]
    classes = [k for k, c in ds.classes.iter_records() if (c.get("school") or {}).get("sourcedId") == school]
    assert ids(get(f"/schools/{school}/classes", limit=1000), "classes") == classes
    enrolments = [k for k, e in ds.enrollments.iter_records() if e["school"]["sourcedId"] == school]
    assert ids(get(f"/schools/{school}/enrollments", limit=1000), "enrollments") == enrolments
    in_school = {k for k, u in ds.users.iter_records() if school in [o["sourcedId"] for o in u["orgs"]]}
    teachers = ids(get(f"/schools/{school}/teachers", limit=1000))
    students = ids(get(f"/schools/{school}/students", limit=1000))
    assert teachers and students and set(teachers) | set(students) <= in_school
    assert all(ds.users.record(t)["role"] == "teacher" for t in teachers)
    klass = ds.planted["co_taught_class"][0]
    roles: dict[str, set[str]] = {"teacher": set(), "student": set()}
    for _, e in ds.enrollments.iter_records():
        if e["class"]["sourcedId"] == klass and e["role"] in roles:
            roles[e["role"]].add(e["user"]["sourcedId"])
    assert set(ids(get(f"/classes/{klass}/teachers"))) == roles["teacher"] and len(roles["teacher"]) == 2
    assert set(ids(get(f"/classes/{klass}/students"))) == roles["student"]
    assert get("/schools/nope/classes").status_code == 404


def test_requests_are_counted_per_path(emulator: Any, get: Get) -> None:
    get("/users")
    get("/users", offset=100)
    get("/schools")
    httpx.get(emulator.base_url + "/users")  # unauthenticated: counted too
    assert emulator.requests.count("/users") == 3
    assert emulator.requests.count("/schools") == 1
    assert emulator.requests.count("/users", status=401) == 1
    assert emulator.requests.total == 4
    emulator.requests.reset()
    assert emulator.requests.total == 0


def test_more_apps_can_be_mounted(emulator_factory: Any) -> None:
    class Hello:
        def __init__(self, root: str) -> None:
            self.root = root

        def handle(self, request: Request) -> Response | None:
            if request.path != "/hello":
                return None
            return Response(200, {"Content-Type": "text/plain"}, f"{request.method} {self.root}".encode())

    emu = emulator_factory(generate(seed=1, users=20, problem_share=0), apps=[Hello])
    assert httpx.get(emu.url + "/hello").text == f"GET {emu.url}"
    assert httpx.post(emu.url + "/other").status_code == 404
    assert signed_get(emu.base_url + "/users", emu.client_id, emu.client_secret).status_code == 200
