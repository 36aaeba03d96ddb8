"""The partition Query adapter (``classlink_local.moto_query``) answers exactly what moto answers.

Every Query runs twice against the same moto tables, with moto's own ``Table.query`` and with the
adapter, and the responses must be equal page by page (items, order, Count, ScannedCount,
LastEvaluatedKey), errors included: the template's tables (``create_tables``: Accounts with its
GSI, Runs with its LSI, the hash-only Districts table) and small ad-hoc tables (a numeric sort key
with an LSI), plus a hypothesis property over random items and key conditions. The adapter's direct
``AttributeValue`` serialization is checked byte for byte against moto's serializer.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classlink_local import moto_query
from classlink_local.inprocess import IN_PROCESS_ENV, in_process_store

pytestmark = pytest.mark.integration

ACCOUNTS = IN_PROCESS_ENV["ACCOUNTS_TABLE"]
RUNS = IN_PROCESS_ENV["RUNS_TABLE"]
DISTRICTS = IN_PROCESS_ENV["DISTRICTS_TABLE"]
NUMBERS = "t-numbers"  # ad hoc: pk S, sk N, LSI "by_score" (pk, score N)
BIG = "t-big"  # ad hoc: one partition of more than 1 MB
PARTITIONS = [f"dist{d}#{s:02d}" for d in range(3) for s in range(4)]
RICH = {
    "x": {
        "M": {
            "b": {"B": b"\x00\xffbin"},
            "l": {"L": [{"N": "1.50"}, {"NULL": True}, {"SS": ["a", "b"]}, {"M": {}}, {"L": []}]},
            "s": {"S": 'caf\u00e9 "quoted" \u2603'},
            "f": {"BOOL": False},
        }
    },
    "ns": {"NS": ["1", "-2.5", "1e3"]},
    "bs": {"BS": [b"\x00\x01", b"xyz"]},
    "bin": {"B": b"raw"},
    "empty": {"S": ""},
    "nested": {"L": [{"M": {"deep": {"L": [{"B": b"\x01"}, {"N": "0"}]}}}]},
}


@pytest.fixture(scope="module", autouse=True)
def adapter_state() -> Iterator[None]:
    """Leave the adapter as this module found it (an e2e stack in the same session installs it)."""
    was = moto_query.installed()
    yield
    if was:
        moto_query.install(force=True)
    else:
        moto_query.uninstall()


@pytest.fixture(scope="module")
def dynamo() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in IN_PROCESS_ENV.items():
            mp.setenv(key, value)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        mp.delenv("SYNC_QUEUE_URL", raising=False)
        with in_process_store():
            client = boto3.client("dynamodb", region_name=IN_PROCESS_ENV["AWS_REGION"])
            _create_ad_hoc(client)
            _seed(client)
            yield client


def _create_ad_hoc(client: Any) -> None:
    client.create_table(
        TableName=NUMBERS,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "score", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_score",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "score", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    client.create_table(
        TableName=BIG,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


def _write(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={table: batch})


def _seed(client: Any) -> None:
    roles = ("student", "teacher", "administrator")
    accounts = []
    for p, pk in enumerate(PARTITIONS):
        for n in range(37 + p):  # partitions of different sizes
            item = {
                "pk": {"S": pk},
                "sk": {"S": f"acc{(n * 7919) % 1000:04d}"},  # written out of order
                "un": {"S": f"user{p}-{n}"},
                "ro": {"S": roles[n % 3]},
                "ac": {"BOOL": n % 4 != 0},
                "gr": {"L": [{"S": f"{n % 12:02d}"}]},
            }
            if n % 5 == 0:  # GSI signin is sparse
                item["sig"] = {"S": f"T{n % 2}#u{p}-{n}"}
            if n % 6 == 0:  # every AttributeValue type, binary and nested ones included
                item.update(RICH)
            accounts.append(item)
    _write(client, ACCOUNTS, accounts)
    runs = [
        {
            "pk": {"S": f"dist{d}"},
            "sk": {"S": f"run{r:03d}"},
            "started": {"S": f"2026-03-{(r * 13) % 28 + 1:02d}T10:{r % 60:02d}:00Z"},
            "status": {"S": "succeeded" if r % 3 else "failed"},
            "trigger": {"S": "schedule"},
            "counts": {"M": {"accounts": {"N": str(r)}}},
        }
        for d in range(3)
        for r in range(25)
    ]
    _write(client, RUNS, runs)
    _write(client, DISTRICTS, [{"pk": {"S": f"district#d{n}"}, "tenant_id": {"S": str(n)}} for n in range(10)])
    numbers = [
        {"pk": {"S": f"n{p}"}, "sk": {"N": str(n * 3 - 20)}, "score": {"N": str((n * 37) % 50)}, "v": {"N": str(n)}}
        for p in range(4)
        for n in range(30)
    ]
    numbers.append({"pk": {"S": "n0"}, "sk": {"N": "2.5"}, "v": {"N": "99"}})  # not in the LSI (no score)
    _write(client, NUMBERS, numbers)
    blob = "x" * 40_000
    big = [{"pk": {"S": "big"}, "sk": {"S": f"item{n:03d}"}, "blob": {"S": blob}} for n in range(60)]
    big += [{"pk": {"S": "other"}, "sk": {"S": f"item{n:03d}"}, "blob": {"S": blob}} for n in range(5)]
    _write(client, BIG, big)


def _pages(client: Any, request: dict[str, Any], max_pages: int = 500) -> list[Any]:
    """Every page of a Query (following LastEvaluatedKey), or the error it raises."""
    pages: list[Any] = []
    start: dict[str, Any] | None = None
    for _ in range(max_pages):
        kwargs = dict(request, ExclusiveStartKey=start) if start else dict(request)
        try:
            response = client.query(**kwargs)
        except ClientError as exc:
            pages.append(("error", exc.response["Error"]))
            return pages
        response.pop("ResponseMetadata", None)
        pages.append(response)
        start = response.get("LastEvaluatedKey")
        if not start:
            return pages
    raise AssertionError(f"more than {max_pages} pages: {request}")


def _both(client: Any, request: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """(moto's own pages, the adapter's pages) of one Query."""
    with moto_query.unpatched():
        expected = _pages(client, request)
    assert moto_query.install(), "the adapter did not install on this moto"
    actual = _pages(client, request)
    return expected, actual


def _values(**values: Any) -> dict[str, Any]:
    return {f":{name}": {"N": str(v)} if isinstance(v, int | float) else {"S": v} for name, v in values.items()}


P = PARTITIONS[5]
QUERIES: dict[str, dict[str, Any]] = {
    "hash only": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": _values(p=P),
    },
    "sk =": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p AND sk = :s",
        "ExpressionAttributeValues": _values(p=P, s="acc0000"),
    },
    "sk = absent": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p AND sk = :s",
        "ExpressionAttributeValues": _values(p=P, s="acc0001"),
    },
    **{
        f"sk {op}": {
            "TableName": ACCOUNTS,
            "KeyConditionExpression": f"pk = :p AND sk {op} :s",
            "ExpressionAttributeValues": _values(p=P, s="acc0500"),
        }
        for op in ("<", "<=", ">", ">=")
    },
    "between": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": _values(p=P, a="acc0200", b="acc0700"),
    },
    "begins_with": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": _values(p=P, s="acc05"),
    },
    "names for keys": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "#k = :p AND #s > :s",
        "ExpressionAttributeNames": {"#k": "pk", "#s": "sk"},
        "ExpressionAttributeValues": _values(p=P, s="acc0300"),
    },
    "filter": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "ro = :r AND ac = :t",
        "ExpressionAttributeValues": {**_values(p=P, r="teacher"), ":t": {"BOOL": True}},
    },
    "filter on a missing attribute": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "attribute_exists(sig)",
        "ExpressionAttributeValues": _values(p=P),
    },
    "limit paging": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "Limit": 7,
        "ExpressionAttributeValues": _values(p=P),
    },
    "limit paging with range and filter": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p AND sk >= :s",
        "FilterExpression": "ro <> :r",
        "Limit": 4,
        "ExpressionAttributeValues": _values(p=P, s="acc0100", r="student"),
    },
    "descending": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "ScanIndexForward": False,
        "ExpressionAttributeValues": _values(p=P),
    },
    "descending limit range": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p AND sk < :s",
        "ScanIndexForward": False,
        "Limit": 5,
        "ExpressionAttributeValues": _values(p=P, s="acc0800"),
    },
    "projection": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "ProjectionExpression": "sk, un, #r, gr[0]",
        "ExpressionAttributeNames": {"#r": "ro"},
        "Limit": 10,
        "ExpressionAttributeValues": _values(p=P),
    },
    "select count": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "Select": "COUNT",
        "ExpressionAttributeValues": _values(p=P, s="acc0"),
    },
    "select count limit filter": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "ro = :r",
        "Select": "COUNT",
        "Limit": 9,
        "ExpressionAttributeValues": _values(p=P, r="student"),
    },
    "consistent read": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "ConsistentRead": True,
        "Limit": 20,
        "ExpressionAttributeValues": _values(p=PARTITIONS[0]),
    },
    "empty partition": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": _values(p="nobody#00"),
    },
    "empty partition with range": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p AND sk > :s",
        "Limit": 3,
        "ExpressionAttributeValues": _values(p="nobody#00", s="a"),
    },
    "legacy KeyConditions and QueryFilter": {
        "TableName": ACCOUNTS,
        "KeyConditions": {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": P}]},
            "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "acc0"}]},
        },
        "QueryFilter": {"ro": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "student"}]}},
    },
    "gsi": {
        "TableName": ACCOUNTS,
        "IndexName": "signin",
        "KeyConditionExpression": "sig = :s",
        "ExpressionAttributeValues": _values(s="T0#u5-10"),
    },
    "gsi absent": {
        "TableName": ACCOUNTS,
        "IndexName": "signin",
        "KeyConditionExpression": "sig = :s",
        "ExpressionAttributeValues": _values(s="T9#none"),
    },
    "unknown index": {
        "TableName": ACCOUNTS,
        "IndexName": "nope",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": _values(p=P),
    },
    "wrong key type": {
        "TableName": ACCOUNTS,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": _values(p=5),
    },
    "lsi runs by_start": {
        "TableName": RUNS,
        "IndexName": "by_start",
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": _values(p="dist1"),
    },
    "lsi newest first, paged": {
        "TableName": RUNS,
        "IndexName": "by_start",
        "KeyConditionExpression": "pk = :p AND started > :s",
        "ScanIndexForward": False,
        "Limit": 4,
        "ExpressionAttributeValues": _values(p="dist2", s="2026-03-05"),
    },
    "lsi filter and projection": {
        "TableName": RUNS,
        "IndexName": "by_start",
        "KeyConditionExpression": "pk = :p AND started BETWEEN :a AND :b",
        "FilterExpression": "#s = :f",
        "ProjectionExpression": "sk, started, #s",
        "ExpressionAttributeNames": {"#s": "status"},
        "Limit": 3,
        "ExpressionAttributeValues": _values(p="dist0", a="2026-03-02", b="2026-03-20", f="succeeded"),
    },
    "lsi all attributes": {
        "TableName": RUNS,
        "IndexName": "by_start",
        "KeyConditionExpression": "pk = :p",
        "Select": "ALL_PROJECTED_ATTRIBUTES",
        "ExpressionAttributeValues": _values(p="dist0"),
    },
    "runs base table": {
        "TableName": RUNS,
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": _values(p="dist2", s="run01"),
    },
    "hash-only table": {
        "TableName": DISTRICTS,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": _values(p="district#d3"),
    },
    "hash-only table, absent": {
        "TableName": DISTRICTS,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": _values(p="district#zz"),
    },
    "numeric sort key <": {
        "TableName": NUMBERS,
        "KeyConditionExpression": "pk = :p AND sk < :s",
        "ExpressionAttributeValues": _values(p="n0", s=10),
    },
    "numeric between descending paged": {
        "TableName": NUMBERS,
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
        "ScanIndexForward": False,
        "Limit": 4,
        "ExpressionAttributeValues": _values(p="n0", a=-5, b=40),
    },
    "numeric filter": {
        "TableName": NUMBERS,
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "v > :v",
        "Limit": 6,
        "ExpressionAttributeValues": _values(p="n3", v=12),
    },
    "numeric lsi keys only paged": {
        "TableName": NUMBERS,
        "IndexName": "by_score",
        "KeyConditionExpression": "pk = :p AND score >= :s",
        "Limit": 5,
        "ExpressionAttributeValues": _values(p="n0", s=10),
    },
    "numeric lsi descending": {
        "TableName": NUMBERS,
        "IndexName": "by_score",
        "KeyConditionExpression": "pk = :p",
        "ScanIndexForward": False,
        "ExpressionAttributeValues": _values(p="n1"),
    },
    "1 MB pages": {
        "TableName": BIG,
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": _values(p="big"),
    },
    "1 MB pages descending, projected": {
        "TableName": BIG,
        "KeyConditionExpression": "pk = :p AND sk > :s",
        "ScanIndexForward": False,
        "ProjectionExpression": "sk",
        "ExpressionAttributeValues": _values(p="big", s="item005"),
    },
}

PARTITION_QUERIES = {name for name, q in QUERIES.items() if q.get("IndexName") in (None, "by_start", "by_score")}
GSI_QUERIES = {name for name, q in QUERIES.items() if q.get("IndexName") == "signin"}


@pytest.mark.parametrize("name", list(QUERIES))
def test_same_pages_as_moto(dynamo: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    real, real_index = moto_query.partition_items, moto_query.index_items

    def spy(table: Any, hash_key: Any) -> list[Any]:
        read.append(table.name)
        return real(table, hash_key)

    def index_spy(table: Any, conditions: Any) -> list[Any]:
        matched.append(table.name)
        return real_index(table, conditions)

    matched: list[str] = []
    monkeypatch.setattr(moto_query, "partition_items", spy)
    monkeypatch.setattr(moto_query, "index_items", index_spy)
    expected, actual = _both(dynamo, QUERIES[name])
    assert actual == expected
    if name == "limit paging":
        assert len(expected) > 3
    if name.startswith("1 MB"):
        assert len(expected) >= 2  # moto's 1 MB page limit was exercised
    # The adapter read the partition alone for base-table and LSI queries, and the items meeting
    # the index key's equality for a GSI; an error (unknown index, wrong key type) is moto's own
    # and may come before any read.
    if name in PARTITION_QUERIES and not isinstance(expected[-1], tuple):
        assert read and not matched, f"{name}: the adapter was not used"
    elif name in GSI_QUERIES:
        assert matched and not read, f"{name}: the adapter did not match the index key"
    else:
        assert not read and not matched


def test_every_partition_pages_the_same(dynamo: Any) -> None:
    """The store's own read: every shard partition paged with a small Limit, both directions."""
    for pk, forward in itertools.product(PARTITIONS, (True, False)):
        request = {
            "TableName": ACCOUNTS,
            "KeyConditionExpression": "pk = :p",
            "ProjectionExpression": "sk, un, ro, ac",
            "ScanIndexForward": forward,
            "Limit": 10,
            "ExpressionAttributeValues": _values(p=pk),
        }
        expected, actual = _both(dynamo, request)
        assert actual == expected
        assert sum(page["Count"] for page in actual) == 37 + PARTITIONS.index(pk)


def _serialize(operation: str, result: dict[str, Any]) -> str:
    """The response body moto's serializer writes for ``result`` (a backend answer)."""
    from moto.core.serialize import XFormedAttributePicker, get_serializer_class
    from moto.core.utils import get_service_model
    from moto.dynamodb.models.utilities import dynamo_to_dict

    operation_model = get_service_model("dynamodb").operation_model(operation)
    serializer = get_serializer_class("dynamodb", "json")(
        operation_model=operation_model, value_picker=XFormedAttributePicker()
    )
    return str(serializer.serialize(dynamo_to_dict(result))["body"])


def _moto_items(*attrs: dict[str, Any]) -> list[Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    return [Item(DynamoType(a["pk"]), DynamoType(a["sk"]), a).attrs for a in attrs]


SERIALIZED = {
    "Query": lambda items: {"Count": len(items), "ScannedCount": 9, "Items": items, "LastEvaluatedKey": items[0]},
    "Scan": lambda items: {"Count": len(items), "ScannedCount": len(items), "Items": items},
    "GetItem": lambda items: {"Item": items[-1]},
    "BatchGetItem": lambda items: {"Responses": {"t": items}, "UnprocessedKeys": {}},
}


@pytest.mark.parametrize("operation", list(SERIALIZED))
def test_serializer_writes_moto_bytes(operation: str) -> None:
    """Byte for byte: moto's own serializer and the adapter's direct AttributeValue path."""
    items = _moto_items(
        {"pk": {"S": "p"}, "sk": {"S": "a"}, "un": {"S": "x"}, "n": {"N": "42"}, "t": {"BOOL": True}},
        {"pk": {"S": "p"}, "sk": {"S": "b"}, **RICH},
        {"pk": {"S": "p"}, "sk": {"S": "c"}, "ss": {"SS": ["z", "y"]}, "z": {"NULL": True}, "m": {"M": {}}},
        {
            "pk": {"S": "p"},
            "sk": {"S": "d"},
            "m": {
                "M": {"z": {"S": "1"}, "a": {"N": "2"}, "k": {"L": [{"M": {"q": {"BOOL": True}, "b": {"NULL": True}}}]}}
            },
        },
    )
    result = SERIALIZED[operation](items)
    with moto_query.unpatched():
        expected = _serialize(operation, result)
    assert moto_query.install()
    assert _serialize(operation, result) == expected


def test_direct_path_leaves_binary_to_moto() -> None:
    assert moto_query.wire_attribute_value({"M": {"a": {"L": [{"S": "x"}, {"NULL": True}]}}}) == {
        "M": {"a": {"L": [{"S": "x"}, {"NULL": True}]}}
    }
    for value in ({"B": b"x"}, {"BS": [b"x"]}, {"L": [{"B": b"x"}]}, {"S": "x", "N": "1"}, {"s": "x"}, {"N": 1}):
        with pytest.raises(moto_query._Unhandled):
            moto_query.wire_attribute_value(value)


def test_scan_and_get_untouched(dynamo: Any) -> None:
    assert moto_query.install()
    with moto_query.unpatched():
        scan = dynamo.scan(TableName=ACCOUNTS, Limit=50)
    again = dynamo.scan(TableName=ACCOUNTS, Limit=50)
    assert again["Items"] == scan["Items"] and again["LastEvaluatedKey"] == scan["LastEvaluatedKey"]


def test_refuses_another_moto(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from moto.dynamodb.models.table import Table

    moto_query.uninstall()
    before = Table.query
    monkeypatch.setattr(moto_query, "moto_version", lambda: "9.9.9")
    with caplog.at_level(logging.WARNING, logger=moto_query.__name__):
        assert moto_query.install() is False
    assert Table.query is before and not moto_query.installed()
    assert "9.9.9" in caplog.text and moto_query.MOTO_VERSION in caplog.text


def test_install_is_idempotent() -> None:
    from moto.dynamodb.models.table import Table

    assert moto_query.install()
    patched = Table.query
    assert moto_query.install()
    assert Table.query is patched
    moto_query.uninstall()
    assert Table.query is not patched and not moto_query.installed()
    moto_query.uninstall()  # twice is fine


def test_written_for_this_moto() -> None:
    assert moto_query.moto_version() == moto_query.MOTO_VERSION, "moto changed: re-check the adapter, then pin it"


# -- a property over random items and key conditions ----------------------------------------------

_table_ids = itertools.count()
_key = st.one_of(st.integers(-50, 50), st.sampled_from(["-1.5", "0.25", "7.0", "1e2"]))
_ops = st.sampled_from(["=", "<", "<=", ">", ">=", "BETWEEN", "none"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), _key, st.integers(0, 9)), min_size=0, max_size=40),
    pk=st.sampled_from(["a", "b", "c", "d"]),
    op=_ops,
    bounds=st.tuples(_key, _key),
    limit=st.one_of(st.none(), st.integers(1, 8)),
    forward=st.booleans(),
    filtered=st.booleans(),
    indexed=st.booleans(),
)
def test_property_random_queries(
    dynamo: Any,
    items: list[tuple[str, Any, int]],
    pk: str,
    op: str,
    bounds: tuple[Any, Any],
    limit: int | None,
    forward: bool,
    filtered: bool,
    indexed: bool,
) -> None:
    name = f"t-prop-{next(_table_ids)}"
    dynamo.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "w", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by_w",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "w", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    try:
        seen: set[tuple[str, float]] = set()
        rows = []
        for p, k, w in items:
            if (p, float(k)) in seen:  # one item per key (1e2 and 100 are the same number)
                continue
            seen.add((p, float(k)))
            rows.append({"pk": {"S": p}, "sk": {"N": str(k)}, "w": {"N": str(w)}, "v": {"N": str(w % 3)}})
        _write(dynamo, name, rows)
        key = "w" if indexed else "sk"
        low, high = sorted(bounds, key=float)
        values = _values(p=pk)
        condition = "pk = :p"
        if op == "BETWEEN":
            condition += f" AND {key} BETWEEN :a AND :b"
            values.update({":a": {"N": str(low)}, ":b": {"N": str(high)}})
        elif op != "none":
            condition += f" AND {key} {op} :a"
            values[":a"] = {"N": str(low)}
        request: dict[str, Any] = {
            "TableName": name,
            "KeyConditionExpression": condition,
            "ScanIndexForward": forward,
            "ExpressionAttributeValues": values,
        }
        if indexed:
            request["IndexName"] = "by_w"
        if limit:
            request["Limit"] = limit
        if filtered:
            request["FilterExpression"] = "v = :v"
            values[":v"] = {"N": "1"}
        expected, actual = _both(dynamo, request)
        assert actual == expected
    finally:
        dynamo.delete_table(TableName=name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]), _key, st.one_of(st.none(), st.sampled_from(["x", "y"])), st.integers(0, 9)
        ),
        max_size=40,
    ),
    g=st.sampled_from(["x", "y", "z"]),
    ranged=st.booleans(),
    op=_ops,
    bound=st.integers(0, 9),
    limit=st.one_of(st.none(), st.integers(1, 8)),
    forward=st.booleans(),
)
def test_property_random_gsi_queries(
    dynamo: Any,
    items: list[tuple[str, Any, str | None, int]],
    g: str,
    ranged: bool,
    op: str,
    bound: int,
    limit: int | None,
    forward: bool,
) -> None:
    """A global secondary index (hash ``g``, sparse: an item without ``g`` is not in it; with or
    without a range key ``w``) answers the same pages with the adapter as with moto alone."""
    name = f"t-gsi-{next(_table_ids)}"
    schema = [{"AttributeName": "g", "KeyType": "HASH"}]
    if ranged:
        schema.append({"AttributeName": "w", "KeyType": "RANGE"})
    dynamo.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "g", "AttributeType": "S"},
            *([{"AttributeName": "w", "AttributeType": "N"}] if ranged else []),
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}}],
    )
    try:
        seen: set[tuple[str, float]] = set()
        rows = []
        for p, k, gv, w in items:
            if (p, float(k)) in seen:
                continue
            seen.add((p, float(k)))
            row = {"pk": {"S": p}, "sk": {"N": str(k)}, "w": {"N": str(w)}}
            if gv is not None:
                row["g"] = {"S": gv}
            rows.append(row)
        _write(dynamo, name, rows)
        values = {":g": {"S": g}}
        condition = "g = :g"
        if ranged and op not in ("none", "BETWEEN"):
            condition += f" AND w {op} :w"
            values[":w"] = {"N": str(bound)}
        request: dict[str, Any] = {
            "TableName": name,
            "IndexName": "by_g",
            "KeyConditionExpression": condition,
            "ScanIndexForward": forward,
            "ExpressionAttributeValues": values,
        }
        if limit:
            request["Limit"] = limit
        expected, actual = _both(dynamo, request)
        assert actual == expected
    finally:
        dynamo.delete_table(TableName=name)
