"""A faithful local store (issue 10): moto's DynamoDB Query reads only its partition.

moto 5.2.5's ``Table.query`` starts from ``Table.all_items()``, which gathers and sorts every item of
the table, and only then keeps the items of the queried partition. Paging through one district
therefore costs time proportional to the whole table (a 20,000-user resync: 230 items per CPU
second of moto's process; 1,335 with this adapter), where DynamoDB reads the partition alone.
moto keeps a range-key table's items as ``Table.items``: ``{hash key: {range key: Item}}`` (a
hash-only table: ``{hash key: Item}``), so a partition is one dict lookup away.

``install()`` wraps ``Table.query`` and ``Table.all_items``: while a Query with an equality on the
table's hash key runs (a base-table Query, or a Query of a local secondary index, whose hash key
is the table's), ``all_items()`` called by that Query, on that table, in that thread, returns the
items of that partition only, sorted as moto sorts them. Everything else of the Query is moto's
own code (range key condition, filter expression, Limit and ExclusiveStartKey paging,
ScanIndexForward, projections, Select, index projection), so its results are moto's, item for
item and page for page (``tests/integration/test_moto_query_adapter.py``). A Query of a global
secondary index, a Scan, PartiQL and anything else keep moto's full gather.

Once a Query reads its partition, moto's next cost per item is its generic response serializer
(``moto.core.serialize``), which looks every member of every ``AttributeValue`` up through
reflection and aliases (about 0.3 ms of CPU per item, more than the whole read on DynamoDB). The
adapter also serialises a DynamoDB ``AttributeValue`` directly when it holds one of S, N, BOOL,
NULL, SS, NS, M or L in the form moto's own ``dynamo_to_dict`` gives (one canonical key, plain
values); anything else (binary values, unexpected shapes) goes through moto's serializer. The
response body is byte for byte the one moto writes (tested), for Query, Scan, GetItem,
BatchGetItem and every other DynamoDB answer that carries items.

The adapter is written against moto ``MOTO_VERSION`` and refuses to install on any other version
(a warning; moto runs unpatched), so an upgrade cannot silently change what the local store
answers. It patches moto's classes process-wide: install it in the process that runs moto's server
(``classlink_local.stack.start_local_stack`` does when it starts its own server).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

LOG = logging.getLogger(__name__)

# The moto release whose Table.query / Table.all_items / Table.items this adapter was checked against.
MOTO_VERSION = "5.2.5"

_scope = threading.local()  # .partition = (table, "partition", hash key) or (table, "index", conditions)
_lock = threading.Lock()
_originals: dict[str, Callable[..., Any]] = {}


def moto_version() -> str:
    import moto

    return str(getattr(moto, "__version__", "unknown"))


def installed() -> bool:
    return bool(_originals)


def install(*, force: bool = False) -> bool:
    """Patch moto's DynamoDB ``Table`` in this process (idempotent). Returns whether the adapter
    is active. On a moto other than ``MOTO_VERSION`` it logs a warning and leaves moto as it is,
    unless ``force`` (tests of a new moto release, before pinning it here)."""
    version = moto_version()
    if version != MOTO_VERSION and not force:
        LOG.warning(
            "moto %s is not the %s the partition Query adapter (classlink_local.moto_query) was written for: "
            "moto runs unpatched and its Query reads the whole table; check the adapter against this moto "
            "(tests/integration/test_moto_query_adapter.py) and update MOTO_VERSION",
            version,
            MOTO_VERSION,
        )
        return False
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.table import Table

    with _lock:
        if not _originals:
            _originals["query"] = Table.query
            _originals["all_items"] = Table.all_items
            _originals["serialize_structure"] = BaseJSONSerializer._serialize_type_structure
            Table.query = _partition_query(Table.query)  # type: ignore[method-assign]
            Table.all_items = _scoped_all_items(Table.all_items)  # type: ignore[method-assign]
            BaseJSONSerializer._serialize_type_structure = _direct_attribute_values(  # type: ignore[method-assign]
                BaseJSONSerializer._serialize_type_structure
            )
    return True


def uninstall() -> None:
    """Put moto's own ``Table.query``, ``Table.all_items`` and serializer back."""
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.table import Table

    with _lock:
        if _originals:
            Table.query = _originals.pop("query")  # type: ignore[method-assign]
            Table.all_items = _originals.pop("all_items")  # type: ignore[method-assign]
            BaseJSONSerializer._serialize_type_structure = _originals.pop(  # type: ignore[method-assign]
                "serialize_structure"
            )


@contextmanager
def unpatched() -> Iterator[None]:
    """moto's own Query for the duration (comparisons in tests); the adapter is re-installed after
    if it was installed before."""
    was = installed()
    uninstall()
    try:
        yield
    finally:
        if was:
            install(force=True)


def reads_one_partition(table: Any, hash_key: Any, index_name: str | None, hash_key_conditions: Any) -> bool:
    """Whether moto's Query keeps only items whose table hash key equals ``hash_key``: a base-table
    Query (moto keeps ``item.hash_key == hash_key``), or a Query of a local secondary index whose
    only hash key condition is on the table's hash key. Anything else (a GSI, an unknown index,
    no hash key) is left to moto's full gather."""
    if hash_key is None:
        return False
    if index_name is None:
        return True
    lsi = next((index for index in table.indexes or [] if index.name == index_name), None)
    if lsi is None:
        return False
    index_hash = [key["AttributeName"] for key in lsi.schema if key["KeyType"] == "HASH"]
    conditions = list(hash_key_conditions or [])
    return (
        index_hash == [table.hash_key_attr]
        and len(conditions) == 1
        and conditions[0][0] == table.hash_key_attr
        and conditions[0][1] == hash_key
    )


def partition_items(table: Any, hash_key: Any) -> list[Any]:
    """The items of one partition, in the order ``Table.all_items()`` gives them (its sort key
    restricted to items of one hash key)."""
    held = table.items.get(hash_key)  # .get: table.items is a defaultdict, never add a key
    if held is None:
        return []
    items = list(held.values()) if table.range_key_attr else [held]
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def reads_index_matches(table: Any, index_name: str | None, hash_key_conditions: Any) -> bool:
    """Whether moto's Query is of a global secondary index with equality conditions on its hash
    key(s): moto then keeps only the items whose attributes equal them, out of the whole table."""
    if index_name is None or not hash_key_conditions:
        return False
    gsi = next((index for index in table.global_indexes or [] if index.name == index_name), None)
    return gsi is not None


def index_items(table: Any, conditions: list[tuple[str, Any]]) -> list[Any]:
    """The items of the table whose attributes equal every hash key condition (moto's own test,
    ``not value or value != expected`` rejects), in the order ``Table.all_items()`` gives them."""
    items: list[Any] = []
    for held in list(table.items.values()):
        for item in list(held.values()) if table.range_key_attr else [held]:
            attrs = getattr(item, "attrs", None)
            if attrs is None:
                items.append(item)  # not an Item: moto's loop skips it, as before
                continue
            for name, expected in conditions:
                value = attrs.get(name)
                if not value or value != expected:
                    break
            else:
                items.append(item)
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _partition_query(query: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(query)
    def partition_query(
        self: Any,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: Any,
        exclusive_start_key: Any,
        scan_index_forward: Any,
        projection_expressions: Any,
        index_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        call = (
            self,
            hash_key,
            range_comparison,
            range_objs,
            limit,
            exclusive_start_key,
            scan_index_forward,
            projection_expressions,
            index_name,
            *args,
        )
        conditions = kwargs.get("hash_key_conditions")
        if reads_one_partition(self, hash_key, index_name, conditions):
            scope: tuple[Any, ...] = (self, "partition", hash_key)
        elif reads_index_matches(self, index_name, conditions):
            scope = (self, "index", list(conditions or []))
        else:
            return query(*call, **kwargs)
        saved = getattr(_scope, "partition", None)
        _scope.partition = scope
        try:
            return query(*call, **kwargs)
        finally:
            _scope.partition = saved

    return partition_query


def _scoped_all_items(all_items: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(all_items)
    def scoped_all_items(self: Any) -> list[Any]:
        scope = getattr(_scope, "partition", None)
        if scope is not None and scope[0] is self:
            if scope[1] == "index":
                return index_items(self, scope[2])
            return partition_items(self, scope[2])
        return list(all_items(self))

    return scoped_all_items


# -- the response serializer ----------------------------------------------------------------------
class _Unhandled(Exception):
    """A value the direct path leaves to moto's serializer."""


_STRINGS = ("S", "N")
_FLAGS = ("BOOL", "NULL")
_STRING_SETS = ("SS", "NS")


def wire_attribute_value(value: Any) -> dict[str, Any]:
    """The JSON of one ``AttributeValue`` as moto's serializer writes it, for the forms moto's
    ``dynamo_to_dict`` produces; raises ``_Unhandled`` for anything else (binary included)."""
    if type(value) is not dict or len(value) != 1:
        raise _Unhandled
    ((kind, inner),) = value.items()
    if kind in _STRINGS:
        if type(inner) is str:
            return {kind: inner}
    elif kind in _FLAGS:
        if type(inner) is bool:
            return {kind: inner}
    elif kind in _STRING_SETS:
        if type(inner) is list and all(type(member) is str for member in inner):
            return {kind: list(inner)}
    elif kind == "M":
        if type(inner) is dict and all(type(name) is str for name in inner):
            return {kind: {name: wire_attribute_value(member) for name, member in inner.items()}}
    elif kind == "L" and type(inner) is list:
        return {kind: [wire_attribute_value(member) for member in inner]}
    raise _Unhandled


def _direct_attribute_values(serialize_structure: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(serialize_structure)
    def serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if key and shape.name == "AttributeValue" and self.service_model.service_name == "dynamodb":
            try:
                wire = wire_attribute_value(value)
            except _Unhandled:
                pass
            else:
                self._default_serialize(serialized, wire, shape, key)
                return
        serialize_structure(self, serialized, value, shape, key)

    return serialize_type_structure
