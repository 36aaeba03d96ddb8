"""The write adapter (``classlink_local.moto_write``) answers exactly what moto answers.

Every scenario (a list of raw DynamoDB requests) runs twice on moto's server, in this process, on
freshly created template tables (``create_tables``: Accounts with its GSI, Runs with its LSI, the
hash-only Reservations table, plus small ad-hoc tables): once with moto's own write path, once with
the adapter. Equal means: every response's status, body bytes and headers (request id and date
aside; the CRC32 of the body included), and every table's stored items afterwards, read from
moto's own structures (partition order, item order, attribute order, values, key objects) and by
Scan. Errors are in the responses: ConditionalCheckFailed (with ALL_OLD), ValidationException
(duplicate keys, empty keys, oversized items and keys, wrong key types, unused names),
TransactionCanceled with its reasons, unknown tables. Hypothesis adds random items (every
AttributeValue type, nested, sizes around moto's 405,000-byte limit) at the Item, parser and
request level.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classlink_local import moto_write
from classlink_local.stack import LOCAL_AWS_ENV, MOTO_ACCOUNT, free_port, resource_env

pytestmark = pytest.mark.integration

PREFIX = "mw"
REGION = LOCAL_AWS_ENV["AWS_REGION"]
ENV = {**LOCAL_AWS_ENV, **resource_env(PREFIX)}
ACCOUNTS = ENV["ACCOUNTS_TABLE"]
RESERVATIONS = ENV["RESERVATIONS_TABLE"]
RUNS = ENV["RUNS_TABLE"]
ENROLMENTS = ENV["ENROLLMENTS_TABLE"]
NUMBERS = "mw-numbers"  # ad hoc: pk N, sk B
GSI_HASH_ONLY = "mw-hash-gsi"  # ad hoc: hash-only pk S with a GSI "by_g" on g (ties in g)
STREAMED = "mw-streamed"  # ad hoc: a table with a stream (transactions keep moto's copies)
HEADERS_IGNORED = {"x-amzn-requestid", "date", "x-amz-id-2", "server"}


@pytest.fixture(scope="module", autouse=True)
def adapter_state() -> Iterator[None]:
    """Leave the adapter as this module found it (a stack in the same session installs it)."""
    was = moto_write.installed()
    yield
    if was:
        moto_write.install(force=True)
    else:
        moto_write.uninstall()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """moto's server in this process (the adapter patches this process)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    srv.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {key: os.environ.get(key) for key in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**ENV, "AWS_ENDPOINT_URL": endpoint})
    try:
        yield endpoint
    finally:
        httpx.post(f"{endpoint}/moto-api/reset", timeout=30)
        srv.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        from classlink_local.stack import reset_cached_settings

        reset_cached_settings()


# -- the world: fresh tables, raw requests, a dump of what moto holds ----------------------------------
def _fresh_tables(endpoint: str) -> None:
    from classlink_local.stack import reset_cached_settings
    from classlink_local.tables import create_tables
    from classlink_sync.settings import AppSettings

    httpx.post(f"{endpoint}/moto-api/reset", timeout=30)
    reset_cached_settings()
    env = {**ENV, "AWS_ENDPOINT_URL": endpoint, "SYNC_QUEUE_URL": f"{endpoint}/{MOTO_ACCOUNT}/{PREFIX}-sync"}
    create_tables(AppSettings.from_env(env), environ=env)
    _send(
        endpoint,
        "CreateTable",
        {
            "TableName": NUMBERS,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "N"},
                {"AttributeName": "sk", "AttributeType": "B"},
            ],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        },
    )
    _send(
        endpoint,
        "CreateTable",
        {
            "TableName": GSI_HASH_ONLY,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "g", "AttributeType": "S"},
            ],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by_g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    )
    _send(
        endpoint,
        "CreateTable",
        {
            "TableName": STREAMED,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        },
    )


_HTTP: list[httpx.Client] = []  # one client for the module: httpx.post builds one (and an SSL context) per call


def _client() -> httpx.Client:
    if not _HTTP:
        _HTTP.append(httpx.Client(timeout=120))
    return _HTTP[0]


def _send(endpoint: str, operation: str, body: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    """One raw DynamoDB request (JSON 1.0, as the SDK sends it); the answer as it came."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = _client().post(
        endpoint,
        content=raw,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential=testing/20260302/{REGION}/dynamodb/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0"
            ),
            "X-Amz-Date": "20260302T000000Z",
        },
    )
    headers = sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() not in HEADERS_IGNORED)
    return response.status_code, response.content, headers


def _key_repr(key: Any) -> Any:
    return None if key is None else (type(key).__name__, key.type, repr(key.value))


def _item_repr(item: Any) -> Any:
    return (
        type(item).__name__,
        _key_repr(item.hash_key),
        _key_repr(item.range_key),
        type(item.attrs).__name__,
        [(name, value.type, repr(value.value)) for name, value in item.attrs.items()],
        item.size(),
    )


def _stored(endpoint: str, only: str | None = None) -> dict[str, Any]:
    """Every table (or ``only`` that one) as moto holds it (insertion order of partitions and
    items, attribute order, values), its Scan, and a GSI Query with ties (its order follows
    insertion order)."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[MOTO_ACCOUNT][REGION]
    held: dict[str, Any] = {}
    for name, table in backend.tables.items():
        if only is not None and name != only:
            continue
        parts = []
        for hash_key, partition in table.items.items():
            if table.range_key_attr:
                parts.append((_key_repr(hash_key), [(_key_repr(r), _item_repr(i)) for r, i in partition.items()]))
            else:
                parts.append((_key_repr(hash_key), _item_repr(partition)))
        held[name] = {"partitions": parts, "len": len(table), "scan": _send(endpoint, "Scan", {"TableName": name})[1]}
    if only is not None:
        return held
    held["gsi ties"] = _send(
        endpoint,
        "Query",
        {
            "TableName": GSI_HASH_ONLY,
            "IndexName": "by_g",
            "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "tie"}},
        },
    )[1]
    return held


def _run(endpoint: str, requests: list[tuple[str, Any]], only: str | None = None) -> tuple[list[Any], dict[str, Any]]:
    """The answers and the tables after ``requests`` on fresh tables; with ``only`` (requests that
    touch that table alone) the tables are made once and that table is emptied instead."""
    if only is None or not _emptied(only):
        _fresh_tables(endpoint)
    answers = [_send(endpoint, operation, body) for operation, body in requests]
    return answers, _stored(endpoint, only)


def _emptied(name: str) -> bool:
    """Empty one existing table in moto's backend (as a new table holds nothing); False if absent."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[MOTO_ACCOUNT][REGION].tables.get(name)
    if table is None:
        return False
    table.items.clear()
    return True


def _both(endpoint: str, requests: list[tuple[str, Any]], only: str | None = None) -> tuple[Any, Any]:
    """(moto's own answers and tables, the adapter's)."""
    with moto_write.unpatched():
        expected = _run(endpoint, requests, only)
    assert moto_write.install(), "the adapter did not install on this moto"
    actual = _run(endpoint, requests, only)
    return expected, actual


def _assert_same(endpoint: str, requests: list[tuple[str, Any]], only: str | None = None) -> list[Any]:
    (answers, held), (answers2, held2) = _both(endpoint, requests, only)
    for n, (mine, theirs) in enumerate(zip(answers2, answers, strict=True)):
        assert mine == theirs, f"request {n} ({requests[n][0]}) answered differently"
    assert held2 == held
    return answers


# -- items shaped like ours ------------------------------------------------------------------------
def _account(n: int, district: str = "dist-1", **extra: Any) -> dict[str, Any]:
    from classlink_sync.rules.plan import AccountState
    from classlink_sync.store.items import account_item

    item = account_item(
        AccountState(
            account_id=f"acc-{n:06d}",
            district_id=district,
            tenant_id="4242",
            sourced_id=f"src-{n}" if n % 7 else None,
            username=f"User{n}",
            username_norm=f"user{n}",
            email=f"user{n}@example.org" if n % 3 else None,
            email_norm=f"user{n}@example.org" if n % 3 else None,
            given_name="Zo\u00eb" if n % 5 == 0 else "Given",
            family_name="Family",
            role="teacher" if n % 9 == 0 else "student",
            active=n % 4 != 0,
            enabled=True,
            school_ids=tuple(f"sch-{s}" for s in range(n % 3)),
            grades=("05",) if n % 2 else (),
            managed=True,
            digest=f"{n:016x}",
        )
    )
    item.update(extra)
    return item


def _reservation(name: str, account: str, district: str = "dist-1") -> dict[str, Any]:
    from classlink_sync.store.items import reservation_item

    return reservation_item(name, account, district)


def _batch(table: str, items: list[dict[str, Any]], deletes: list[dict[str, Any]] = ()) -> tuple[str, Any]:  # type: ignore[assignment]
    requests = [{"PutRequest": {"Item": item}} for item in items] + [{"DeleteRequest": {"Key": k}} for k in deletes]
    return "BatchWriteItem", {"RequestItems": {table: requests}, "ReturnConsumedCapacity": "TOTAL"}


def _reserve(name: str, account: str, **extra: Any) -> tuple[str, Any]:
    return "PutItem", {
        "TableName": RESERVATIONS,
        "Item": _reservation(name, account),
        "ConditionExpression": "attribute_not_exists(#pk) OR (#a = :a AND #d = :d)",
        "ExpressionAttributeNames": {"#pk": "pk", "#a": "a", "#d": "d"},
        "ExpressionAttributeValues": {":a": {"S": account}, ":d": {"S": "dist-1"}},
        **extra,
    }


def _key(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in ("pk", "sk") if name in item}


def _big(size: int) -> dict[str, Any]:
    """An item whose moto size is exactly ``size`` bytes (pk "big" + attribute "b")."""
    return {"pk": {"S": "big"}, "b": {"S": "x" * (size - len("pk") - len("big") - len("b"))}}


ACCS = [_account(n) for n in range(60)]

SCENARIOS: dict[str, list[tuple[str, Any]]] = {
    "batch writes of accounts, overwrites and deletes": [
        _batch(ACCOUNTS, ACCS[:25]),
        _batch(ACCOUNTS, ACCS[25:50]),
        _batch(
            ACCOUNTS, [_account(n, given_name={"S": "Renamed"}) for n in range(0, 50, 5)], [_key(a) for a in ACCS[1:4]]
        ),
        _batch(ACCOUNTS, ACCS[50:]),
        ("Scan", {"TableName": ACCOUNTS, "Limit": 7, "ReturnConsumedCapacity": "INDEXES"}),
        (
            "Query",
            {
                "TableName": ACCOUNTS,
                "IndexName": "signin",
                "KeyConditionExpression": "sig = :s",
                "ExpressionAttributeValues": {":s": ACCS[8]["sig"]},
            },
        ),
        ("GetItem", {"TableName": ACCOUNTS, "Key": _key(ACCS[10]), "ReturnConsumedCapacity": "TOTAL"}),
    ],
    "batch errors": [
        _batch(ACCOUNTS, [ACCS[0], ACCS[0]]),  # duplicate keys
        _batch(ACCOUNTS, [ACCS[1], {**ACCS[2], "pk": {"S": ""}}]),  # empty key
        _batch(ACCOUNTS, [ACCS[3], {**ACCS[4], "sig": {"S": ""}}]),  # empty GSI key
        _batch(ACCOUNTS, [ACCS[5], {**ACCS[6], "sig": {"NULL": True}}]),
        _batch(ACCOUNTS, [ACCS[7], {k: v for k, v in ACCS[8].items() if k != "sk"}]),  # missing range key
        _batch(ACCOUNTS, [ACCS[9], {**ACCS[10], "pk": {"N": "5"}}]),  # wrong key type
        _batch(ACCOUNTS, [ACCS[11], {**ACCS[12], "pk": {"S": "p" * 2049}}]),  # hash key too long
        _batch(ACCOUNTS, [ACCS[13], {**ACCS[14], "sk": {"S": "s" * 1025}}]),  # range key too long
        _batch(ACCOUNTS, [ACCS[15], {**ACCS[16], "sig": {"S": "g" * 2049}}]),  # GSI key too long
        _batch(ACCOUNTS, [ACCS[17], {**ACCS[18], "x": {"S": "x" * 410_000}}]),  # item too large
        _batch(ACCOUNTS, [ACCS[19], {**ACCS[20], "n": {"N": "not a number"}}]),
        _batch(ACCOUNTS, [ACCS[21], {**ACCS[22], "e": {"SS": []}}]),
        _batch("no-such-table", [ACCS[23]]),
        _batch(ACCOUNTS, ACCS[:26]),  # 26 requests
    ],
    "item size limit boundary": [
        ("PutItem", {"TableName": RESERVATIONS, "Item": _big(405_000)}),
        ("PutItem", {"TableName": RESERVATIONS, "Item": {**_big(405_001), "pk": {"S": "bIg"}}}),
        ("PutItem", {"TableName": RESERVATIONS, "Item": {**_big(404_999), "pk": {"S": "BIG"}}}),
        _batch(RESERVATIONS, [{**_big(405_000), "pk": {"S": f"b{n}g"}} for n in range(3)]),
        _batch(RESERVATIONS, [{"pk": {"S": "m"}, "m": {"M": {"k": {"S": "y" * 404_990}}}}]),
        _batch(RESERVATIONS, [{"pk": {"S": "l"}, "l": {"L": [{"S": "z" * 202_000}, {"S": "z" * 202_000}]}}]),
    ],
    "conditional reservations": [
        _reserve("alice", "acc-1"),
        _reserve("alice", "acc-1"),  # already ours
        _reserve("alice", "acc-2"),  # another account's: ConditionalCheckFailed
        _reserve("alice", "acc-2", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        _reserve("bob", "acc-3", ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL"),
        _reserve("bob", "acc-3", ReturnValues="ALL_OLD", ReturnConsumedCapacity="INDEXES"),
        _reserve("carol", "acc-4", ReturnConsumedCapacity="SOMETIMES"),
        _reserve("dave", "acc-5", ReturnValues="UPDATED_NEW"),
        (
            "PutItem",
            {
                **_reserve("erin", "acc-6")[1],
                "ExpressionAttributeNames": {"#pk": "pk", "#a": "a", "#d": "d", "#u": "u"},
            },
        ),
        (
            "PutItem",
            {**_reserve("erin", "acc-6")[1], "ConditionExpression": "attribute_not_exists(#pk) OR (#a = :a AND"},
        ),
        (
            "PutItem",
            {
                **_reserve("erin", "acc-6")[1],
                "ConditionExpression": "attribute_not_exists(#pk) OR (#a = :a AND #d = :d) $",
            },
        ),
        (
            "PutItem",
            {
                **_reserve("erin", "acc-6")[1],
                "ConditionExpression": "attribute_not_exists(#pk) OR (#a = :a AND #d = :nope)",
            },
        ),
        (
            "PutItem",
            {"TableName": RESERVATIONS, "Item": _reservation("fay", "acc-7"), "Expected": {"pk": {"Exists": False}}},
        ),
        (
            "PutItem",
            {"TableName": RESERVATIONS, "Item": _reservation("fay", "acc-8"), "Expected": {"pk": {"Exists": False}}},
        ),
        ("PutItem", {"TableName": RESERVATIONS, "Item": {"pk": {"S": ""}, "a": {"S": "x"}}}),
        ("PutItem", {"TableName": "no-such-table", "Item": _reservation("gus", "acc-9")}),
        (
            "DeleteItem",
            {
                "TableName": RESERVATIONS,
                "Key": {"pk": {"S": "bob"}},
                "ConditionExpression": "#a = :a",
                "ExpressionAttributeNames": {"#a": "a"},
                "ExpressionAttributeValues": {":a": {"S": "acc-1"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),
        (
            "DeleteItem",
            {
                "TableName": RESERVATIONS,
                "Key": {"pk": {"S": "bob"}},
                "ConditionExpression": "#a = :a",
                "ExpressionAttributeNames": {"#a": "a"},
                "ExpressionAttributeValues": {":a": {"S": "acc-3"}},
                "ReturnValues": "ALL_OLD",
            },
        ),
        (
            "UpdateItem",
            {
                "TableName": RESERVATIONS,
                "Key": {"pk": {"S": "alice"}},
                "UpdateExpression": "SET #a = :a",
                "ExpressionAttributeNames": {"#a": "a"},
                "ExpressionAttributeValues": {":a": {"S": "acc-9"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        *[_reserve(f"user{n}", f"acc-{n}") for n in range(20)],
    ],
}


def _move(old: str, new: str, account: dict[str, Any], owner: str, condition_key: dict[str, Any] | None = None) -> Any:
    """A reservation move as the store sends it (R5), optionally with a ConditionCheck first."""
    items: list[dict[str, Any]] = []
    if condition_key is not None:
        items.append(
            {
                "ConditionCheck": {
                    "TableName": ACCOUNTS,
                    "Key": condition_key,
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": "pk"},
                }
            }
        )
    items += [
        {
            "Delete": {
                "TableName": RESERVATIONS,
                "Key": {"pk": {"S": old}},
                "ConditionExpression": "attribute_not_exists(#pk) OR #a = :a",
                "ExpressionAttributeNames": {"#pk": "pk", "#a": "a"},
                "ExpressionAttributeValues": {":a": {"S": owner}},
            }
        },
        {
            "Put": {
                "TableName": RESERVATIONS,
                "Item": _reservation(new, owner),
                "ConditionExpression": "attribute_not_exists(#pk) OR #a = :a",
                "ExpressionAttributeNames": {"#pk": "pk", "#a": "a"},
                "ExpressionAttributeValues": {":a": {"S": owner}},
            }
        },
        {"Put": {"TableName": ACCOUNTS, "Item": account}},
    ]
    return "TransactWriteItems", {"TransactItems": items}


def _tie(name: str, g: str = "tie") -> dict[str, Any]:
    return {"pk": {"S": name}, "g": {"S": g}, "v": {"S": name.upper()}}


SCENARIOS["transactions"] = [
    _batch(ACCOUNTS, ACCS[:25]),
    *[_reserve(f"user{n}", ACCS[n]["sk"]["S"]) for n in range(10)],
    _batch(GSI_HASH_ONLY, [_tie(n) for n in ("d", "b", "a", "c", "e")]),
    # a move that succeeds, one whose account check fails after writing (rolled back), one whose
    # new name is taken (the last item fails), ALL_OLD reasons, and the store's orphan release
    _move("user1", "renamed1", _account(1, given_name={"S": "Moved"}), ACCS[1]["sk"]["S"]),
    _move("user2", "renamed2", _account(2), ACCS[2]["sk"]["S"], condition_key=_key(ACCS[3])),
    _move("user3", "user4", _account(3), ACCS[3]["sk"]["S"]),
    _move("user5", "new5", _account(5), ACCS[5]["sk"]["S"], condition_key={"pk": {"S": "nobody#00"}, "sk": {"S": "x"}}),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation("zed", "acc-z")}},
                {"Delete": {"TableName": RESERVATIONS, "Key": {"pk": {"S": "user6"}}}},
                {"Put": {"TableName": ACCOUNTS, "Item": _account(200, district="dist-9")}},
                {"Delete": {"TableName": ACCOUNTS, "Key": _key(ACCS[20])}},
                {
                    "ConditionCheck": {
                        "TableName": ACCOUNTS,
                        "Key": _key(ACCS[21]),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [  # a hash-only table with a GSI: order of ties after a rollback
                {"Delete": {"TableName": GSI_HASH_ONLY, "Key": {"pk": {"S": "b"}}}},
                {"Put": {"TableName": GSI_HASH_ONLY, "Item": _tie("f")}},
                {"Put": {"TableName": GSI_HASH_ONLY, "Item": _tie("a", "other")}},
                {
                    "Delete": {
                        "TableName": GSI_HASH_ONLY,
                        "Key": {"pk": {"S": "c"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [  # the same, committed
                {"Delete": {"TableName": GSI_HASH_ONLY, "Key": {"pk": {"S": "b"}}}},
                {"Put": {"TableName": GSI_HASH_ONLY, "Item": _tie("f")}},
                {"Put": {"TableName": GSI_HASH_ONLY, "Item": _tie("b")}},
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [  # reads of missing keys in new partitions, cancelled
                {
                    "ConditionCheck": {
                        "TableName": ACCOUNTS,
                        "Key": {"pk": {"S": "new#1"}, "sk": {"S": "a"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {"Put": {"TableName": ACCOUNTS, "Item": _account(300, district="new-district")}},
                {"Delete": {"TableName": ACCOUNTS, "Key": {"pk": {"S": "new#2"}, "sk": {"S": "b"}}}},
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [  # reads of missing keys, committed
                {
                    "ConditionCheck": {
                        "TableName": ACCOUNTS,
                        "Key": {"pk": {"S": "new#3"}, "sk": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {"Delete": {"TableName": ACCOUNTS, "Key": {"pk": {"S": "new#4"}, "sk": {"S": "b"}}}},
                {"Put": {"TableName": ACCOUNTS, "Item": _account(301, district="new-district")}},
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [  # validation errors: rolled back, raised as they are
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation("valid1", "acc-v")}},
                {"Put": {"TableName": RESERVATIONS, "Item": {"pk": {"S": "toolarge"}, "x": {"S": "x" * 410_000}}}},
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation("valid2", "acc-v")}},
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation("valid2", "acc-w")}},
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation("valid3", "acc-v")}},
                {"Put": {"TableName": ACCOUNTS, "Item": {**_account(400), "pk": {"S": ""}}}},
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation("valid4", "acc-v")}},
                {"Put": {"TableName": ACCOUNTS, "Item": {**_account(401), "pk": {"N": "1"}}}},
                {"Put": {"TableName": "no-such-table", "Item": _reservation("x", "y")}},
                {"Delete": {"TableName": ACCOUNTS, "Key": {"pk": {"S": "only-hash"}}}},
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation("valid5", "acc-v")}},
                {
                    "Put": {
                        "TableName": RESERVATIONS,
                        "Item": _reservation("user7", "acc-v"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ExpressionAttributeValues": {},
                    }
                },
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [  # an unused name
                {
                    "Put": {
                        "TableName": RESERVATIONS,
                        "Item": _reservation("valid6", "acc-v"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ExpressionAttributeNames": {"#x": "x"},
                    }
                },
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [  # Update and streams: moto's own copies
                {
                    "Update": {
                        "TableName": RESERVATIONS,
                        "Key": {"pk": {"S": "user8"}},
                        "UpdateExpression": "SET #d = :d",
                        "ExpressionAttributeNames": {"#d": "d"},
                        "ExpressionAttributeValues": {":d": {"S": "dist-2"}},
                    }
                },
                {
                    "Put": {
                        "TableName": RESERVATIONS,
                        "Item": _reservation("user9", "acc-other"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": STREAMED, "Item": {"pk": {"S": "s1"}}}},
                {
                    "Put": {
                        "TableName": RESERVATIONS,
                        "Item": _reservation("user9", "acc-other"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        },
    ),
    ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": STREAMED, "Item": {"pk": {"S": "s2"}}}}]}),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation(f"t{n}", "a")}} for n in range(101)
            ]
        },
    ),
    ("TransactWriteItems", {"TransactItems": [{"Frobnicate": {"TableName": RESERVATIONS}}]}),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {
                    "Put": {"TableName": RESERVATIONS, "Item": _reservation("two", "a")},
                    "Delete": {"TableName": RESERVATIONS, "Key": {"pk": {"S": "user0"}}},
                }
            ]
        },
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": RESERVATIONS, "Item": _reservation(f"ok{n}", "acc-ok")}} for n in range(25)
            ],
            "ClientRequestToken": "token-1",
        },
    ),
]

SCENARIOS["attribute values: every type, odd shapes"] = [
    (
        "PutItem",
        {
            "TableName": NUMBERS,
            "Item": {
                "pk": {"N": "1.50"},
                "sk": {"B": base64.b64encode(b"\x00\xff").decode()},
                "s": {"S": 'caf\u00e9 "q" \u2603 \U0001f600'},
                "n": {"N": "-0.000"},
                "t": {"BOOL": False},
                "z": {"NULL": True},
                "ss": {"SS": ["b", "a"]},
                "ns": {"NS": ["1", "1e3", "-2.5"]},
                "bs": {"BS": [base64.b64encode(b"x").decode()]},
                "m": {
                    "M": {"deep": {"L": [{"M": {}}, {"L": []}, {"B": base64.b64encode(b"\x01").decode()}, {"N": "0"}]}}
                },
                "e": {"S": ""},
            },
        },
    ),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "2"}, "sk": {"B": "AA=="}, "two": {"S": "a", "N": "1"}}}),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "3"}, "sk": {"B": "AA=="}, "unknown": {"X": "y"}}}),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "4"}, "sk": {"B": "AA=="}, "nul": {"S": None}}}),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "5"}, "sk": {"B": "AA=="}, "empty": {}}}),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "6"}, "sk": {"B": "AA=="}, "str": "plain"}}),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "7"}, "sk": {"B": "AA=="}, "b": {"BOOL": "true"}}}),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "8"}, "sk": {"B": "AA=="}, "l": {"L": "notalist"}}}),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "9"}, "sk": {"B": "AA=="}, "m": {"M": {"a": None}}}}),
    ("PutItem", {"TableName": NUMBERS, "Item": {"pk": {"N": "10"}, "sk": {"B": "AA=="}, "ss": {"SS": "abc"}}}),
    (
        "PutItem",
        b'{"TableName": "mw-numbers", "Item": {"pk": {"N": "11"}, "sk": {"B": "AA=="}, "s": {"S": "x", "S": "y"}}}',
    ),
    ("PutItem", b'{"TableName": "mw-numbers", "Item": not json'),
    (
        "BatchWriteItem",
        {
            "RequestItems": {
                NUMBERS: [
                    {"PutRequest": {"Item": {"pk": {"N": "12"}, "sk": {"B": "AQ=="}}}},
                    {"PutRequest": {"Item": {"pk": {"N": "12.0"}, "sk": {"B": "AQ=="}}}},
                ]
            }
        },
    ),
    (
        "GetItem",
        {"TableName": NUMBERS, "Key": {"pk": {"N": "1.5"}, "sk": {"B": base64.b64encode(b"\x00\xff").decode()}}},
    ),
]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_answers_and_tables_as_moto(server: str, name: str) -> None:
    answers = _assert_same(server, SCENARIOS[name])
    codes = {json.loads(body).get("__type", "").split("#")[-1] for _, body, _ in answers if body.startswith(b"{")}
    if name == "batch errors":
        assert "ValidationException" in codes
    if name == "conditional reservations":
        assert "ConditionalCheckFailedException" in codes
    if name == "transactions":
        assert {"TransactionCanceledException", "ValidationException"} <= codes


def test_transactions_use_the_undo_log(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain transactions took the undo-log path (no deep copy of a table), the others moto's."""
    import copy

    copied: list[str] = []
    real = copy.deepcopy

    def spy(value: Any, *args: Any) -> Any:
        if type(value).__name__ == "Table":
            copied.append(value.name)
        return real(value, *args)

    assert moto_write.install()
    _fresh_tables(server)
    monkeypatch.setattr("moto.dynamodb.models.copy.deepcopy", spy)
    _send(server, *_move("a", "b", ACCS[0], "acc-000000"))
    _send(server, *_move("b", "c", ACCS[0], "acc-000000", condition_key=_key(ACCS[0])))
    assert copied == []
    update = next(
        body
        for op, body in SCENARIOS["transactions"]
        if op == "TransactWriteItems" and "Update" in body["TransactItems"][0]
    )
    _send(server, "TransactWriteItems", update)
    assert copied == [RESERVATIONS, RESERVATIONS]


# -- hypothesis: random items at the Item, parser and request level -----------------------------------
_names = st.text(alphabet="abcdefgh#_", min_size=1, max_size=4)
_numbers = st.sampled_from(["0", "1", "-1", "1.50", "1e3", "-0.000", "12345678901234567890", "3.14159"])
_leaf = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=12)),
    st.builds(lambda n: {"N": n}, _numbers),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(min_size=1, max_size=5), min_size=1, max_size=4)),
    st.builds(lambda s: {"NS": sorted(s)}, st.sets(_numbers, min_size=1, max_size=4)),
    st.builds(lambda b: {"B": base64.b64encode(b).decode()}, st.binary(max_size=8)),
    st.builds(
        lambda s: {"BS": sorted(base64.b64encode(b).decode() for b in s)},
        st.sets(st.binary(min_size=1, max_size=4), min_size=1, max_size=3),
    ),
)
_values = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"L": xs}, st.lists(inner, max_size=4)),
        st.builds(lambda m: {"M": m}, st.dictionaries(_names, inner, max_size=4)),
    ),
    max_leaves=12,
)
_attributes = st.dictionaries(_names.filter(lambda n: n not in ("pk", "sk")), _values, max_size=14)


def _decoded(value: Any) -> Any:
    """An AttributeValue as moto's parser hands it to the backend (binary decoded)."""
    (kind, inner), *_ = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "L":
        return {"L": [_decoded(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _decoded(v) for k, v in inner.items()}}
    return value


def _build(attrs: dict[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    try:
        item = Item(DynamoType({"S": "p"}), DynamoType({"S": "s"}), attrs)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    return _item_repr(item)


@settings(max_examples=300, deadline=None)
@given(attrs=_attributes, padding=st.one_of(st.none(), st.integers(404_900, 405_100)))
def test_property_item_construction(attrs: dict[str, Any], padding: int | None) -> None:
    """``Item(...)``: the same attributes, order, values, size, and the same size error."""
    attrs = {"pk": {"S": "p"}, "sk": {"S": "s"}, **{k: _decoded(v) for k, v in attrs.items()}}
    if padding is not None:  # pad to around moto's limit, at the front, the middle or the end
        from moto.dynamodb.models.dynamo_type import DynamoType

        size = sum(len(k.encode()) + DynamoType(v).size() for k, v in attrs.items())
        fill = {"pad": {"S": "x" * max(padding - size - 3, 0)}}
        keys = list(attrs)
        cut = len(keys) // 2 if padding % 3 == 0 else (0 if padding % 3 == 1 else len(keys))
        attrs = {**{k: attrs[k] for k in keys[:cut]}, **fill, **{k: attrs[k] for k in keys[cut:]}}
    with moto_write.unpatched():
        expected = _build(attrs)
    assert moto_write.install()
    assert _build(attrs) == expected


def _parse(operation: str, body: bytes) -> Any:
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.utils import get_service_model
    from werkzeug.datastructures import Headers, MultiDict

    model = get_service_model("dynamodb").operation_model(operation)
    parser = PROTOCOL_PARSERS["json"](model, map_type=dict)
    request = {"method": "POST", "values": MultiDict(), "headers": Headers(), "body": body, "url_path": "/"}
    try:
        parsed = parser.parse({**request, "url_params": {}})  # type: ignore[typeddict-item]
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    return repr(parsed)


_odd = st.one_of(
    st.just({"S": "a", "N": "1"}),
    st.just({"X": "y"}),
    st.just({"S": None}),
    st.just({}),
    st.just(None),
    st.just({"L": [None, {"S": "x"}]}),
    st.just({"M": {"a": None}}),
)


@settings(max_examples=300, deadline=None)
@given(attrs=st.dictionaries(_names, st.one_of(_values, _odd), max_size=10))
def test_property_request_parsing(attrs: dict[str, Any]) -> None:
    """moto's request parser, with and without the one-member shortcut: the same parameters."""
    body = json.dumps(
        {
            "RequestItems": {"t": [{"PutRequest": {"Item": attrs}}, {"DeleteRequest": {"Key": attrs}}]},
            "ReturnConsumedCapacity": "TOTAL",
        }
    ).encode()
    put = json.dumps({"TableName": "t", "Item": attrs, "ExpressionAttributeValues": attrs}).encode()
    with moto_write.unpatched():
        expected = (_parse("BatchWriteItem", body), _parse("PutItem", put))
    assert moto_write.install()
    assert (_parse("BatchWriteItem", body), _parse("PutItem", put)) == expected


_batches = itertools.count()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(
        st.tuples(st.sampled_from(["a#00", "a#01", "b#00"]), st.text(min_size=1, max_size=6), _attributes),
        min_size=1,
        max_size=25,
    ),
    big=st.one_of(st.none(), st.integers(404_990, 405_010)),
)
def test_property_batch_writes(server: str, items: list[tuple[str, str, dict[str, Any]]], big: int | None) -> None:
    """BatchWriteItem of random items (one large one near the limit): same answers, same tables."""
    batch = [{"pk": {"S": pk}, "sk": {"S": sk}, **attrs} for pk, sk, attrs in items]
    if big is not None:
        batch.append({"pk": {"S": "big"}, "sk": {"S": "b"}, "x": {"S": "x" * (big - 11)}})
    requests = (
        [_batch(ENROLMENTS, batch[:25]), _batch(ENROLMENTS, batch[25:])]
        if len(batch) > 25
        else [_batch(ENROLMENTS, batch)]
    )
    requests.append(
        (
            "Query",
            {
                "TableName": ENROLMENTS,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "a#00"}},
            },
        )
    )
    _assert_same(server, requests, only=ENROLMENTS)  # the batches write that table alone


# -- lexer, per-request lookups, installation ----------------------------------------------------------
EXPRESSIONS = [
    "attribute_not_exists(#pk) OR (#a = :a AND #d = :d)",
    "attribute_not_exists(#pk) OR #a = :a",
    "#a = :a",
    "a.b[1].c <> :v AND size(#x) >= :n",
    "x BETWEEN :a AND :b OR y IN (:c, :d)",
    "  NOT  contains(tags, :t)  ",
    "a = :a AND",
    "a = :a $",
    "a=:a",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_condition_lexing_is_moto(expression: str) -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    def lex_and_parse() -> Any:
        parser = ConditionExpressionParser(expression, {"#pk": "pk", "#a": "a", "#d": "d", "#x": "x"}, {})
        try:
            lexed = list(parser._lex_condition_expression())
        except Exception as exc:
            return ("error", type(exc).__name__, str(exc))
        parsed: Any
        try:
            parsed = repr(
                ConditionExpressionParser(
                    expression,
                    {"#pk": "pk", "#a": "a", "#d": "d", "#x": "x"},
                    {k: {"S": k} for k in (":a", ":d", ":v", ":n", ":b", ":c", ":t")},
                ).parse()
            )
        except Exception as exc:
            parsed = ("error", type(exc).__name__, str(exc))
        return lexed, parsed

    with moto_write.unpatched():
        expected = lex_and_parse()
    assert moto_write.install()
    assert lex_and_parse() == expected
    assert lex_and_parse() == expected  # from the kept tokens
    if not isinstance(expected[0], str):
        first = ConditionExpressionParser(expression, {}, {})._lex_condition_expression()
        again = ConditionExpressionParser(expression, {}, {})._lex_condition_expression()
        assert first is not again and all(a.children is not b.children for a, b in zip(first, again, strict=True))


def test_a_parse_is_reused_only_for_the_same_objects() -> None:
    """The handler's parse and the table's parse of one request share a tree; anything else parses."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    text = "attribute_not_exists(#pk) OR (#a = :a AND #d = :d)"
    names = {"#pk": "pk", "#a": "a", "#d": "d"}
    values = {":a": {"S": "acc-1"}, ":d": {"S": "dist-1"}}

    def parse(n: Any, v: Any) -> tuple[Any, list[str], list[str]]:
        parser = ConditionExpressionParser(text, n, v)
        op = parser.parse()
        return op, parser.expr_attr_names_found, parser.expr_attr_values_found

    with moto_write.unpatched():
        expected = parse(names, values)
    assert moto_write.install()
    first = parse(names, values)
    again = parse(names, values)
    assert again[0] is first[0] and again[1:] == first[1:] == expected[1:]
    assert repr(first[0]) == repr(expected[0])
    other = parse(dict(names), {":a": {"S": "acc-2"}, ":d": {"S": "dist-1"}})
    assert other[0] is not first[0] and "acc-2" in repr(vars(other[0].rhs.lhs.rhs))
    flag = {":a": {"BOOL": True}, ":d": {"S": "x"}}
    numeric = {":a": {"BOOL": 1}, ":d": {"S": "x"}}  # equal to ``flag`` by ==, another object
    assert parse(names, flag)[0] is not parse(names, numeric)[0]


def test_per_request_lookups_are_moto() -> None:
    from moto import backends
    from moto.core import responses as core_responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    with moto_write.unpatched():
        modules = list(backends.list_of_moto_modules())
        names = core_responses.method_names_from_class(DynamoHandler)
        sqs_names = core_responses.method_names_from_class(SQSResponse)
    assert moto_write.install()
    assert list(backends.list_of_moto_modules()) == modules
    assert core_responses.method_names_from_class(DynamoHandler) == names
    assert core_responses.method_names_from_class(SQSResponse) == sqs_names


def test_refuses_another_moto(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    moto_write.uninstall()
    before = Item.__init__
    monkeypatch.setattr(moto_write, "moto_version", lambda: "9.9.9")
    with caplog.at_level(logging.WARNING, logger=moto_write.__name__):
        assert moto_write.install() is False
    assert Item.__init__ is before and not moto_write.installed()
    assert "9.9.9" in caplog.text and moto_write.MOTO_VERSION in caplog.text


def test_install_is_idempotent() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    assert moto_write.install()
    patched = (Item.__init__, DynamoDBBackend.transact_write_items)
    assert moto_write.install()
    assert (Item.__init__, DynamoDBBackend.transact_write_items) == patched
    moto_write.uninstall()
    assert Item.__init__ is not patched[0] and not moto_write.installed()
    moto_write.uninstall()  # twice is fine


def test_written_for_this_moto() -> None:
    assert moto_write.moto_version() == moto_write.MOTO_VERSION, "moto changed: re-check the adapter, then pin it"
