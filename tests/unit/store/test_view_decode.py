"""Issue 10: the view's cheap decode and its read-ahead change nothing the planner receives.

- ``decode_*`` build each record positionally from raw DynamoDB JSON; here they are compared with a
  straightforward reference decode (keyword arguments, one helper per attribute type: the decode
  the view had before) on items with every attribute, absent ones, NULLs, empty lists, both
  booleans and attributes the projection would not return (numbers, maps).
- ``_raw_items`` hands a Query page's ``Items`` over as decoded JSON instead of botocore's parse:
  the response must be the one botocore's own parser makes, and binary values, errors and other
  requests must be left to botocore.
- ``read_ahead`` starts the district-wide reads before ``gather``: the holdings must equal those
  of a sequential read.
"""

from __future__ import annotations

import base64
import copy
import gc
import json
import sys
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser

from classlink_sync.oneroster.records import RosterSnapshot
from classlink_sync.rules.holdings import HeldAccount, HeldClass, HeldEnrollment, HeldSchool, gather
from classlink_sync.rules.normalise import normalise
from classlink_sync.store import view as view_module
from classlink_sync.store.apply import apply_plan
from classlink_sync.store.models import partitions
from classlink_sync.store.view import (
    ACCOUNT_PROJECTION,
    CLASS_PROJECTION,
    ENROLLMENT_PROJECTION,
    SCHOOL_PROJECTION,
    DynamoRosterView,
    decode_account,
    decode_class,
    decode_enrollment,
    decode_school,
)


# -- the reference decode (straightforward, keyword arguments) --------------------------------------
def _s(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None else value.get("S")


def _b(item: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = item.get(name)
    return default if value is None else bool(value.get("BOOL"))


def _strings(item: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = item.get(name)
    if value is None:
        return ()
    return tuple(sys.intern(v["S"]) for v in value.get("L", []))


def _i(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)


def ref_account(item: Mapping[str, Any], district_id: str) -> HeldAccount:
    email = _s(item, "em")
    return HeldAccount(
        account_id=sys.intern(item["sk"]["S"]),
        district_id=district_id,
        username=item["un"]["S"],
        username_norm=item["unn"]["S"],
        email_norm=normalise(email),
        role=sys.intern(item["ro"]["S"]),
        active=_b(item, "ac"),
        sourced_id=_i(_s(item, "sid")),
        digest=_s(item, "dg") or "",
        managed=_b(item, "mg"),
        given_name=_s(item, "gn") or "",
        family_name=_s(item, "fn") or "",
        email=email,
        enabled=_b(item, "en", True),
        school_ids=_strings(item, "sch"),
        grades=_strings(item, "gr"),
    )


def ref_class(item: Mapping[str, Any]) -> HeldClass:
    return HeldClass(
        class_id=sys.intern(item["sk"]["S"]),
        sourced_id=sys.intern(item["sid"]["S"]),
        school_id=_i(_s(item, "sc")),
        title=item["ti"]["S"],
        term_ids=_strings(item, "te"),
        subject=_i(_s(item, "su")),
        archived=_b(item, "ar"),
        digest=_s(item, "dg") or "",
        class_code=_s(item, "cc"),
        course_id=_i(_s(item, "co")),
        grades=_strings(item, "gr"),
    )


def ref_enrollment(item: Mapping[str, Any]) -> HeldEnrollment:
    return HeldEnrollment(
        class_id=sys.intern(item["c"]["S"]),
        account_id=sys.intern(item["a"]["S"]),
        sourced_id=sys.intern(item["sid"]["S"]),
        archived=_b(item, "ar"),
        digest=_s(item, "dg") or "",
        class_sourced_id=sys.intern(_s(item, "csid") or ""),
        user_sourced_id=sys.intern(_s(item, "usid") or ""),
        role=sys.intern(item["ro"]["S"]),
        primary=_b(item, "pr"),
        begin_date=_s(item, "bd"),
        end_date=_s(item, "ed"),
    )


def ref_school(item: Mapping[str, Any]) -> HeldSchool:
    return HeldSchool(
        sourced_id=sys.intern(item["sk"]["S"]),
        archived=_b(item, "ar"),
        digest=_s(item, "dg") or "",
        name=_s(item, "nm") or "",
        identifier=_s(item, "idf"),
    )


# -- items: every attribute, absent, NULL, empty lists, both booleans, extra attributes ------------
NULL = {"NULL": True}
S = lambda v: {"S": v}  # noqa: E731
L = lambda *v: {"L": [{"S": x} for x in v]}  # noqa: E731
TRUE, FALSE = {"BOOL": True}, {"BOOL": False}
EXTRA: dict[str, Any] = {"n": {"N": "42"}, "m": {"M": {"k": {"N": "1.5"}}}, "ss": {"SS": ["a", "b"]}}

ACCOUNTS: list[dict[str, Any]] = [
    {  # every attribute, each a different value (a swapped field cannot go unnoticed)
        "sk": S("acc-1"), "sid": S("usr-1"), "un": S("Jo.Smith"), "unn": S("jo.smith"), "em": S("Jo@X.Example"),
        "gn": S("Jo"), "fn": S("Pérez"), "ro": S("teacher"), "ac": TRUE, "en": FALSE, "sch": L("s1", "s2"),
        "gr": L("07"), "dg": S("d1"), "mg": TRUE, **EXTRA,
    },
    {"sk": S("acc-2"), "un": S("Min"), "unn": S("min"), "ro": S("student")},  # only what is required
    {  # NULLs and empty lists
        "sk": S("acc-3"), "sid": NULL, "un": S("N"), "unn": S("n"), "em": NULL, "gn": NULL, "fn": NULL,
        "ro": S("student"), "ac": NULL, "en": NULL, "sch": NULL, "gr": {"L": []}, "dg": NULL, "mg": NULL,
    },
    {  # the other booleans (with the first item, every two flags differ somewhere)
        "sk": S("acc-4"), "sid": S("usr-4"), "un": S("B"), "unn": S("b"), "ro": S("administrator"), "ac": FALSE,
        "en": TRUE, "mg": TRUE, "sch": {"L": []}, "gr": L("09", "10", "11"), "dg": S(""), "em": S(""),
    },
]  # fmt: skip
CLASSES: list[dict[str, Any]] = [
    {
        "sk": S("cls-1"), "sid": S("c1"), "sc": S("s1"), "ti": S("French 1"), "cc": S("FR1"), "co": S("crs-1"),
        "te": L("t1", "t2"), "gr": L("07", "08"), "su": S("French"), "ar": TRUE, "dg": S("d2"), "mg": TRUE, **EXTRA,
    },
    {"sk": S("cls-2"), "sid": S("c2"), "ti": S("Art")},
    {
        "sk": S("cls-3"), "sid": S("c3"), "sc": NULL, "ti": S("T"), "cc": NULL, "co": NULL, "te": {"L": []},
        "gr": NULL, "su": NULL, "ar": NULL, "dg": NULL,
    },
    {"sk": S("cls-4"), "sid": S("c4"), "ti": S("Maths"), "ar": FALSE, "te": L("t9"), "cc": S("")},
]  # fmt: skip
ENROLLMENTS: list[dict[str, Any]] = [
    {
        "c": S("cls-1"), "a": S("acc-1"), "sid": S("e1"), "csid": S("c1"), "usid": S("usr-1"), "ro": S("teacher"),
        "pr": TRUE, "bd": S("2025-08-15"), "ed": S("2026-06-30"), "ar": FALSE, "dg": S("d3"), "mg": TRUE, **EXTRA,
    },
    {"c": S("cls-2"), "a": S("acc-2"), "sid": S("e2"), "ro": S("student")},
    {
        "c": S("cls-3"), "a": S("acc-3"), "sid": S("e3"), "csid": NULL, "usid": NULL, "ro": S("student"),
        "pr": NULL, "bd": NULL, "ed": NULL, "ar": NULL, "dg": NULL,
    },
    {"c": S("cls-4"), "a": S("acc-4"), "sid": S("e4"), "ro": S("aide"), "pr": FALSE, "ar": TRUE, "bd": S("")},
]  # fmt: skip
SCHOOLS: list[dict[str, Any]] = [
    {"sk": S("s1"), "nm": S("Lincoln High"), "idf": S("LHS"), "ar": TRUE, "dg": S("d4"), **EXTRA},
    {"sk": S("s2")},
    {"sk": S("s3"), "nm": NULL, "idf": NULL, "ar": NULL, "dg": NULL},
    {"sk": S("s4"), "ar": FALSE, "nm": S(""), "idf": S("")},
]

CASES: list[tuple[str, list[dict[str, Any]], Any, Any]] = [
    ("account", ACCOUNTS, lambda i: decode_account(i, "d1"), lambda i: ref_account(i, "d1")),
    ("class", CLASSES, decode_class, ref_class),
    ("enrollment", ENROLLMENTS, decode_enrollment, ref_enrollment),
    ("school", SCHOOLS, decode_school, ref_school),
]
INTERNED = {
    "account": ("account_id", "role", "sourced_id", "school_ids", "grades"),
    "class": ("class_id", "sourced_id", "school_id", "subject", "course_id", "term_ids", "grades"),
    "enrollment": ("class_id", "account_id", "sourced_id", "class_sourced_id", "user_sourced_id", "role"),
    "school": ("sourced_id",),
}


@pytest.mark.parametrize(("kind", "items", "decode", "reference"), CASES, ids=[c[0] for c in CASES])
def test_decode_equals_the_reference_decode(kind: str, items: list[dict[str, Any]], decode: Any, reference: Any):
    for item in items:
        fresh = json.loads(json.dumps(item))  # new string objects, as a response gives them
        got, want = decode(fresh), reference(json.loads(json.dumps(item)))
        assert got == want, item
        for name in got.__slots__:  # the same types too: bool is not 1, "" is not None
            assert type(getattr(got, name)) is type(getattr(want, name)), (kind, name)
        for name in INTERNED[kind]:
            value = getattr(got, name)
            for text in value if isinstance(value, tuple) else (value,):
                assert text is None or text is sys.intern(text), (kind, name)


def test_every_projected_attribute_is_decoded():
    """A field added to a projection without a decoder shows up here: removing any projected
    attribute from the first or the last item changes the record."""
    for items, projection, decode in (
        (ACCOUNTS, ACCOUNT_PROJECTION, lambda i: decode_account(i, "d1")),
        (CLASSES, CLASS_PROJECTION, decode_class),
        (ENROLLMENTS, ENROLLMENT_PROJECTION, decode_enrollment),
        (SCHOOLS, SCHOOL_PROJECTION, decode_school),
    ):
        assert set(projection) <= set(items[0])
        for name in projection:
            changed = False
            for full in (items[0], items[-1]):
                if name not in full:
                    continue
                without = {k: v for k, v in full.items() if k != name}
                try:
                    changed = changed or decode(without) != decode(full)
                except KeyError:  # a required attribute
                    changed = True
            assert changed, name


# -- the raw-items shortcut against botocore's own parser -----------------------------------------
QUERY = botocore.session.get_session().get_service_model("dynamodb").operation_model("Query")
QUERY_OUTPUT: Any = QUERY.output_shape
assert QUERY_OUTPUT is not None


def _response(body: dict[str, Any] | bytes, status: int = 200) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {"body": raw, "headers": {"x-amzn-requestid": "r1"}, "status_code": status}


def _parse(response: dict[str, Any], *, shortcut: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """botocore's parse of ``response``, after ``_raw_items`` if ``shortcut``; and what it took."""
    response = copy.deepcopy(response)
    customized: dict[str, Any] = {}
    if shortcut:
        view_module._raw.on = True
        try:
            view_module._raw_items(response_dict=response, customized_response_dict=customized)
        finally:
            view_module._raw.on = False
    parsed = create_parser("json").parse(response, QUERY_OUTPUT)
    parsed.update(customized)
    return parsed, customized


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Items": items,
        "Count": len(items),
        "ScannedCount": len(items),
        "LastEvaluatedKey": {"pk": S("d1#07"), "sk": S("acc-9")},
    }


def test_raw_items_are_what_botocore_parses():
    quoted = {**ACCOUNTS[0], "gn": S('say "B": hi \\"BS\\": {"B":1}'), "fn": S("名前 \u2028 é")}
    page = _page([*ACCOUNTS, quoted, *CLASSES, *ENROLLMENTS, *SCHOOLS])
    shortcut, taken = _parse(_response(page), shortcut=True)
    assert taken.get("Items") == page["Items"]  # the shortcut was taken (the quoted "B" is text)
    assert shortcut == _parse(_response(page), shortcut=False)[0]
    assert shortcut["Count"] == len(page["Items"]) and shortcut["LastEvaluatedKey"] == page["LastEvaluatedKey"]


@pytest.mark.parametrize(
    "value",
    [{"B": base64.b64encode(b"\x00\x01").decode()}, {"BS": [base64.b64encode(b"x").decode()]}],
    ids=["B", "BS"],
)
def test_raw_items_leave_binary_values_to_botocore(value: dict[str, Any]):
    page = _page([{**SCHOOLS[0], "bin": value}])
    response = _response(page)
    parsed, taken = _parse(response, shortcut=True)
    assert taken == {}
    assert parsed == _parse(response, shortcut=False)[0]
    assert isinstance(next(iter(parsed["Items"][0]["bin"].values())), bytes | list)


def test_raw_items_only_for_the_views_own_successful_queries():
    page = _page(ACCOUNTS)
    error = _response({"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": "no"}, 400)
    assert _parse(error, shortcut=True)[1] == {}
    response = _response(page)
    customized: dict[str, Any] = {}
    view_module._raw_items(response_dict=response, customized_response_dict=customized)  # flag off
    assert customized == {} and response["body"] == json.dumps(page).encode()
    assert _parse(_response(b"{not json"), shortcut=True)[1] == {}


# -- through moto: the view's reads, read ahead or not ---------------------------------------------
def _district(store: Any, b: Any, district: str, *, students: int, classes: int) -> Any:
    plan = b.first_sync_plan(district, students=students, classes=classes)
    result = apply_plan(plan, store, chunk_size=50)
    assert result.complete and not result.issues
    return plan


def _botocore_items(store: Any, table: str, district: str, entity: str, projection: tuple[str, ...]) -> Iterator[Any]:
    """The district's items as botocore parses them (``DynamoCalls.query_pages``: no shortcut)."""
    for pk in partitions(district, entity):
        for page in store.calls.query_pages(table, pk, attributes=projection):
            yield from page


def test_view_reads_equal_the_reference_decode_of_botocore_items(store, b):
    _district(store, b, "d1", students=30, classes=3)
    seen: list[bool] = []

    def spy(customized_response_dict: dict[str, Any], **_: Any) -> None:
        seen.append("Items" in customized_response_dict)

    view = DynamoRosterView(store)  # installs the shortcut; the spy runs after it
    store.calls.connection.client.meta.events.register("before-parse.dynamodb.Query", spy)
    try:
        got: dict[str, list[Any]] = {
            "account": view.held_accounts("d1"),
            "class": view.held_classes("d1"),
            "enrollment": view.held_enrollments("d1"),
            "school": view.held_schools("d1"),
        }
        assert seen and all(seen)  # every page of the view took the raw items
        seen.clear()
        s = store.settings

        def botocore_items(table: str, entity: str, projection: tuple[str, ...]) -> Iterator[Any]:
            return _botocore_items(store, table, "d1", entity, projection)

        want = {
            "account": [ref_account(i, "d1") for i in botocore_items(s.accounts_table, "account", ACCOUNT_PROJECTION)],
            "class": [ref_class(i) for i in botocore_items(s.classes_table, "class", CLASS_PROJECTION)],
            "enrollment": [
                ref_enrollment(i) for i in botocore_items(s.enrollments_table, "enrollment", ENROLLMENT_PROJECTION)
            ],
            "school": [ref_school(i) for i in botocore_items(s.schools_table, "school", SCHOOL_PROJECTION)],
        }
        assert seen and not any(seen)  # query_pages outside the view: botocore's parse
    finally:
        store.calls.connection.client.meta.events.unregister("before-parse.dynamodb.Query", spy)
    assert {k: len(v) for k, v in got.items()} == {"account": 31, "class": 3, "enrollment": 93, "school": 1}
    assert got == want


def _snapshot(*usernames: str) -> RosterSnapshot:
    users = {f"u-{n}": SimpleNamespace(username=n) for n in usernames}
    return RosterSnapshot(users=users)  # type: ignore[arg-type]  # gather reads .username only


def test_read_ahead_gives_the_holdings_of_a_sequential_read(store, b):
    _district(store, b, "d1", students=25, classes=3)
    other = _district(store, b, "d2", students=3, classes=1)
    # d1's snapshot lists one of its own users and a username d2 holds (a reservation to look up).
    taken = other.accounts["create"][1].username
    snapshot = _snapshot("d1-user1", taken, "brand-new")

    plain = DynamoRosterView(store)
    sequential = gather(plain, "d1", snapshot)
    view = DynamoRosterView(store)
    with view.read_ahead("d1"):
        pass  # the fetch would run here
    ahead = gather(view, "d1", snapshot)

    assert ahead == sequential
    assert len(ahead.accounts) == 26 and len(ahead.enrollments) == 78 and set(ahead.reservations) == {taken.lower()}
    assert view._ahead == {}  # gather took every read that was started
    assert view.stats.ahead_s > 0 and plain.stats.ahead_s == 0
    assert (view.stats.items, view.stats.requests) == (plain.stats.items, plain.stats.requests)
    # read ahead for another district is not used for this one
    view = DynamoRosterView(store)
    with view.read_ahead("d2"):
        pass
    assert gather(view, "d1", snapshot) == sequential


def test_read_ahead_stopped_by_a_failed_fetch_leaves_a_working_view(store, b):
    _district(store, b, "d1", students=10, classes=2)
    view = DynamoRosterView(store)
    with pytest.raises(ConnectionError), view.read_ahead("d1"):
        raise ConnectionError("ClassLink is down")
    assert view._ahead == {}
    assert gather(view, "d1", _snapshot()) == gather(DynamoRosterView(store), "d1", _snapshot())


def test_a_page_shorter_than_its_count_is_an_error_not_a_smaller_district(store, b):
    _district(store, b, "d1", students=10, classes=2)

    def drop_one(op: str, kwargs: dict[str, Any], send: Any) -> dict[str, Any]:
        response = send(op, kwargs)
        if op == "Query" and response.get("Items"):
            response["Items"] = response["Items"][1:]
        return response

    store.calls.interceptor = drop_one
    try:
        with pytest.raises(RuntimeError, match="Count"):
            DynamoRosterView(store).held_enrollments("d1")
        view = DynamoRosterView(store)
        with pytest.raises(RuntimeError, match="Count"):
            with view.read_ahead("d1"):
                pass
            gather(view, "d1", _snapshot())
    finally:
        store.calls.interceptor = None


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_during_reads_and_restored_after(store, b, enabled: bool):
    _district(store, b, "d1", students=10, classes=2)
    during: list[bool] = []

    def spy(**_: Any) -> None:
        during.append(gc.isenabled())

    view = DynamoRosterView(store)
    client = store.calls.connection.client
    client.meta.events.register("before-parse.dynamodb.Query", spy)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        gather(view, "d1", _snapshot())
        with view.read_ahead("d1"):
            pass
        gather(view, "d1", _snapshot())
        with pytest.raises(ConnectionError), view.read_ahead("d1"):
            raise ConnectionError("ClassLink is down")
        assert during and not any(during)  # paused while the pages were parsed
        assert gc.isenabled() is enabled  # and as it was once no read runs
    finally:
        client.meta.events.unregister("before-parse.dynamodb.Query", spy)
        (gc.enable if was else gc.disable)()
