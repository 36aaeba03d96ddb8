"""A faithful local store (issue 10): moto's DynamoDB writes without moto's avoidable costs.

A first sync writes hundreds of thousands of items (accounts and enrolments by BatchWriteItem,
reservations by conditional PutItem). moto 5.2.5 spends most of its CPU on work whose result it
throws away or could have kept; ``install()`` removes these costs and nothing else:

1. ``Item.__init__`` stores the attributes in a ``LimitedSizeDict``, whose ``__setitem__`` sums the
   size of every attribute already stored before adding the next one (quadratic in attributes:
   ~100 ``DynamoType.size()`` walks for a 14-attribute item, more than half of a batch write's
   CPU). The adapter keeps the running sum instead: each attribute is sized once, with the same
   functions, added in the same order, checked against the same 405,000-byte limit, so the same
   item is stored and the same attribute raises ``ItemSizeTooLarge``.
2. The request parser (``moto.core.parse``) parses a DynamoDB ``AttributeValue`` by trying all ten
   of its members (``S``, ``N``, ``B``... ``BOOL``) on every value. For a value naming exactly one
   member (what every SDK sends), the adapter parses that member alone, with moto's own member
   parser: moto's result has that member only (the others are absent, ``None`` is dropped).
   Anything else (several or unknown members, non-dict values) goes through moto's parser.
3. A ConditionExpression is lexed twice per PutItem (validation, then evaluation) by a loop of
   regular expressions. Lexing depends only on the expression text, so the adapter keeps the
   tokens of each expression lexed successfully and hands out new, identical ``Node`` tuples;
   parsing (names, values) and evaluation stay moto's. An expression that does not lex is lexed
   by moto every time (its error is moto's). Then the same request parses the same expression
   again, with the same names and values objects (PutItem: the handler parses it to check the
   names used, ``Table.put_item`` parses it to evaluate it; TransactWriteItems, Query and Scan
   filters alike). Parsing is a pure function of (text, names, values) and the tree it builds is
   only read (``Op.expr`` assigns nothing), so a thread keeps its last successful parse and hands
   it out again when the text is equal and the names and values are the very same objects (held,
   so never another request's: a later request's dicts are new objects), with the names and
   values it found.
4. Per request, the server looked for the backend by listing moto's package directory
   (``backends.list_of_moto_modules``: a directory listing and a ``stat`` per module), and found
   the DynamoDB handler's methods by ``inspect.getmembers``. Both answers are fixed for a
   process (installed files, the handler class), so they are computed once.
5. ``TransactWriteItems`` deep-copies every table it names before it starts, to put the copies
   back if the transaction is cancelled (a 100,000-item table: seconds per transaction). For a
   transaction of ``ConditionCheck``, ``Put`` and ``Delete`` on tables without a stream, the
   adapter runs moto's own loop (same order, checks, conditions, errors and cancellation reasons)
   but remembers, before an item is written, that item's partition (its dict of items, or the
   hash-only item) and, for every table, the order of its partitions; a cancellation puts those
   back, so the table holds the same items in the same order as moto's copy would. Put and Delete
   replace or remove ``Item`` objects, never change one, so remembering the partition is enough.
   ``Update`` (which changes an ``Item`` in place) and tables with a stream keep moto's copies.

Responses are moto's (the response path is untouched), errors are moto's, metering (consumed
capacity) is moto's: ``tests/integration/test_moto_write_adapter.py`` compares stored items,
response bodies and errors with moto unpatched.

Like ``classlink_local.moto_query``, the adapter is written against moto ``MOTO_VERSION`` and
refuses to install on any other version (a warning; moto runs unpatched). It patches moto's
classes and module functions process-wide: install it in the process that runs moto's server
(``classlink_local.stack.start_local_stack`` does when it starts its own server).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from classlink_local.moto_query import moto_version

LOG = logging.getLogger(__name__)

# The moto release whose Item, LimitedSizeDict, JSON parser, condition lexer, server dispatch and
# transact_write_items this adapter was checked against.
MOTO_VERSION = "5.2.5"

_lock = threading.Lock()
_originals: dict[str, Any] = {}
_MISSING = object()


def installed() -> bool:
    return bool(_originals)


def install(*, force: bool = False) -> bool:
    """Patch moto's DynamoDB write path in this process (idempotent). Returns whether the adapter
    is active. On a moto other than ``MOTO_VERSION`` it logs a warning and leaves moto as it is,
    unless ``force`` (tests of a new moto release, before pinning it here)."""
    version = moto_version()
    if version != MOTO_VERSION and not force:
        LOG.warning(
            "moto %s is not the %s the write adapter (classlink_local.moto_write) was written for: "
            "moto runs unpatched and its writes cost what they cost; check the adapter against this moto "
            "(tests/integration/test_moto_write_adapter.py) and update MOTO_VERSION",
            version,
            MOTO_VERSION,
        )
        return False
    from moto import backends
    from moto.core import responses as core_responses
    from moto.core.parse import BaseJSONParser
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    with _lock:
        if _originals:
            return True
        _originals.update(
            item_init=Item.__init__,
            parse_structure=BaseJSONParser._parse_structure,
            lex=ConditionExpressionParser._lex_condition_expression,
            parse=ConditionExpressionParser.parse,
            list_of_moto_modules=backends.list_of_moto_modules,
            method_names_from_class=core_responses.method_names_from_class,
            transact_write_items=DynamoDBBackend.transact_write_items,
        )
        Item.__init__ = _item_init  # type: ignore[method-assign]
        BaseJSONParser._parse_structure = _single_member_attribute_values(  # type: ignore[method-assign]
            _originals["parse_structure"]
        )
        ConditionExpressionParser._lex_condition_expression = _cached_lex(_originals["lex"])  # type: ignore[method-assign]
        ConditionExpressionParser.parse = _reparse_once(_originals["parse"])  # type: ignore[method-assign]
        backends.list_of_moto_modules = _listed_once(_originals["list_of_moto_modules"])
        core_responses.method_names_from_class = _names_once(_originals["method_names_from_class"])  # type: ignore[assignment]
        DynamoDBBackend.transact_write_items = _undo_log_transactions(  # type: ignore[method-assign]
            _originals["transact_write_items"]
        )
    return True


def uninstall() -> None:
    """Put moto's own functions back."""
    if not _originals:
        return
    from moto import backends
    from moto.core import responses as core_responses
    from moto.core.parse import BaseJSONParser
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    with _lock:
        if not _originals:
            return
        Item.__init__ = _originals.pop("item_init")  # type: ignore[method-assign]
        BaseJSONParser._parse_structure = _originals.pop("parse_structure")  # type: ignore[method-assign]
        ConditionExpressionParser._lex_condition_expression = _originals.pop("lex")  # type: ignore[method-assign]
        ConditionExpressionParser.parse = _originals.pop("parse")  # type: ignore[method-assign]
        backends.list_of_moto_modules = _originals.pop("list_of_moto_modules")
        core_responses.method_names_from_class = _originals.pop("method_names_from_class")
        DynamoDBBackend.transact_write_items = _originals.pop("transact_write_items")  # type: ignore[method-assign]
        _LEXED.clear()
        _last_parse.__dict__.clear()  # this thread's entry (another's holds its own request's objects)


@contextmanager
def unpatched() -> Iterator[None]:
    """moto's own write path for the duration (comparisons in tests); the adapter is re-installed
    after if it was installed before."""
    was = installed()
    uninstall()
    try:
        yield
    finally:
        if was:
            install(force=True)


# -- 1. items: the size limit checked with a running sum --------------------------------------------
def _item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """moto's ``Item.__init__`` with ``LimitedSizeDict.__setitem__``'s check done incrementally:
    moto sums ``bytesize(str(k))`` and ``v.size()`` over the attributes already stored, adds
    ``bytesize(key) + value.size()`` and raises ``ItemSizeTooLarge`` above 405,000."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    self.hash_key = hash_key
    self.range_key = range_key
    stored = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        attribute = DynamoType(value)
        if key in stored:  # never from a dict's items(); moto's own path for exactness
            stored[key] = attribute
            total = sum(bytesize(str(k)) + v.size() for k, v in stored.items())
            continue
        key_size = bytesize(key)  # moto's order: the key's size, then the value's
        value_size = attribute.size()
        if total + key_size + value_size > 405000:
            raise ItemSizeTooLarge
        dict.__setitem__(stored, key, attribute)
        total += bytesize(str(key)) + value_size
    self.attrs = stored


# -- 2. the request parser: an AttributeValue of one member ------------------------------------------
def _single_member_attribute_values(parse_structure: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(parse_structure)
    def parse_structure_fast(self: Any, shape: Any, value: Any) -> Any:
        if type(value) is dict and len(value) == 1 and shape.name == "AttributeValue":
            ((name, raw),) = value.items()
            members = shape.members
            member = members.get(name)
            if (
                member is not None
                and not shape.is_document_type
                and "name" not in member.serialization
                and self.operation_model.service_model.service_name == "dynamodb"
            ):
                parsed = self.MAP_TYPE()
                if raw is not None:
                    parsed[name] = self._parse_shape(member, raw)
                return parsed
        return parse_structure(self, shape, value)

    return parse_structure_fast


# -- 3. condition expressions: tokens kept per expression text ---------------------------------------
_LEXED: dict[str, tuple[tuple[Any, Any, Any, Any], ...]] = {}
_LEXED_MAX = 4096


def _cached_lex(lex: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(lex)
    def lex_condition_expression(self: Any) -> deque[Any]:
        text = self.condition_expression
        tokens = _LEXED.get(text) if type(text) is str else None
        if tokens is None:
            nodes = lex(self)  # raises on an expression that does not lex: nothing is kept
            kept = tuple((n.nonterminal, n.kind, n.text, n.value) for n in nodes if n.children == [])
            if type(text) is str and len(kept) == len(nodes):  # lexed nodes have no children
                if len(_LEXED) >= _LEXED_MAX:
                    _LEXED.clear()
                _LEXED[text] = kept
            return nodes
        node = self.Node
        return deque(node(nonterminal=a, kind=b, text=c, value=d, children=[]) for a, b, c, d in tokens)

    return lex_condition_expression


_last_parse = threading.local()  # .entry = (text, names, values, op, names found, values found)


def _reparse_once(parse: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(parse)
    def parse_or_reuse(self: Any) -> Any:
        text = self.condition_expression
        names = self.expression_attribute_names
        values = self.expression_attribute_values
        entry = getattr(_last_parse, "entry", None)
        if entry is not None and entry[0] == text and entry[1] is names and entry[2] is values:
            self.expr_attr_names_found.extend(entry[4])
            self.expr_attr_values_found.extend(entry[5])
            return entry[3]
        names_before = len(self.expr_attr_names_found)
        values_before = len(self.expr_attr_values_found)
        op = parse(self)  # an error is moto's and nothing is kept
        if type(text) is str and text:
            _last_parse.entry = (
                text,
                names,
                values,
                op,
                tuple(self.expr_attr_names_found[names_before:]),
                tuple(self.expr_attr_values_found[values_before:]),
            )
        return op

    return parse_or_reuse


# -- 4. per-request lookups fixed for the process ----------------------------------------------------
def _listed_once(list_of_moto_modules: Callable[[], Iterator[str]]) -> Callable[[], Iterator[str]]:
    listed = tuple(list_of_moto_modules())

    @functools.wraps(list_of_moto_modules)
    def list_of_moto_modules_once() -> Iterator[str]:
        yield from listed

    return list_of_moto_modules_once


def _names_once(method_names_from_class: Callable[[Any], list[str]]) -> Callable[[Any], list[str]]:
    from moto.dynamodb.responses import DynamoHandler

    names = {DynamoHandler: tuple(method_names_from_class(DynamoHandler))}

    @functools.wraps(method_names_from_class)
    def method_names_once(clazz: Any) -> list[str]:
        known = names.get(clazz)
        if known is None:
            return method_names_from_class(clazz)
        return list(known)

    return method_names_once


# -- 5. transactions: an undo log instead of deep copies of the tables --------------------------------
class _UndoLog:
    """What a cancelled transaction puts back: the partitions it wrote into, as they were, and the
    order of every table's partitions (``Table.items`` is an insertion-ordered dict; a partition
    added, even empty by a read of a missing key, is gone after moto's rollback too)."""

    def __init__(self) -> None:
        self.orders: dict[int, tuple[Any, list[Any]]] = {}
        self.partitions: dict[tuple[int, Any], tuple[Any, Any, Any]] = {}

    def watch(self, table: Any) -> None:
        if id(table) not in self.orders:
            self.orders[id(table)] = (table, list(table.items))

    def remember(self, table: Any, hash_key: Any) -> None:
        if (id(table), hash_key) in self.partitions:
            return
        if table.range_key_attr:
            held = table.items.get(hash_key)  # .get: never add a partition
            before = _MISSING if held is None else dict(held)
        else:
            before = table.items.get(hash_key, _MISSING)
        self.partitions[(id(table), hash_key)] = (table, hash_key, before)

    def rollback(self) -> None:
        for table, hash_key, before in reversed(list(self.partitions.values())):
            if before is _MISSING:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = before
        for table, order in self.orders.values():
            current = dict(table.items)
            table.items.clear()
            for hash_key in order:
                if hash_key in current:
                    table.items[hash_key] = current[hash_key]


_PLAIN_OPS = frozenset({"ConditionCheck", "Put", "Delete"})


def _plain_transaction(backend: Any, transact_items: Any) -> bool:
    """ConditionCheck, Put and Delete only, on existing tables without a stream, at most 100."""
    if type(transact_items) is not list or len(transact_items) > 100:
        return False
    for item in transact_items:
        if type(item) is not dict or len(item) != 1:
            return False
        ((op_type, op),) = item.items()
        if op_type not in _PLAIN_OPS or type(op) is not dict:
            return False
        table = backend.tables.get(op.get("TableName"))
        if table is None or table.stream_shard is not None:
            return False
    return True


def _undo_log_transactions(transact_write_items: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(transact_write_items)
    def transact_write_items_undo(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if not _plain_transaction(self, transact_items):
            return transact_write_items(self, transact_items)
        return _transact_plain(self, transact_items)

    return transact_write_items_undo


def _transact_plain(self: Any, transact_items: list[dict[str, Any]]) -> None:  # noqa: C901 (moto's loop as it is)
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items``, line for line, with the deep copies
    of the tables replaced by an ``_UndoLog`` (only reached for ``_plain_transaction``s)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    undo = _UndoLog()
    for item in transact_items:
        _, op = next(iter(item.items()))
        table_name = op.get("TableName")
        if table_name and table_name in self.tables:
            undo.watch(self.tables[table_name])

    target_items: set[tuple[str, str]] = set()

    def check_unicity(table_name: str, key: dict[str, Any]) -> None:
        item = (str(table_name), str(dict(sorted(key.items()))))
        if item in target_items:
            raise MultipleTransactionsException()
        target_items.add(item)

    errors: list[Any] = []  # [(Code, Message, Item), ..]
    for item in transact_items:
        original_item: dict[str, Any] | None = None
        if len(list(item.keys())) > 1:
            raise TransactWriteSingleOpException

        try:
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")

            table_name = op["TableName"]
            condition_expression = op.get("ConditionExpression")
            expression_attribute_names = op.get("ExpressionAttributeNames")
            expression_attribute_values = op.get("ExpressionAttributeValues")
            return_values_on_condition_check_failure = op.get("ReturnValuesOnConditionCheckFailure")

            if op_type == "Put":
                attrs = op["Item"]
                table = self.get_table(table_name)
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]

            check_unicity(table_name, key)

            current = self.get_item(table_name, key)
            if condition_expression is not None:
                condition_op = get_filter_expression(
                    condition_expression,
                    expression_attribute_names,
                    expression_attribute_values,
                )
                if not condition_op.expr(current):
                    if return_values_on_condition_check_failure == "ALL_OLD" and current:
                        original_item = current.to_json()["Attributes"]
                    raise ConditionalCheckFailed(item=original_item)

            if op_type in ("Put", "Delete"):
                # get_item above found this key valid: remember its partition before writing it
                table = self.get_table(table_name)
                undo.remember(table, self.get_keys_value(table, key)[0])
            if op_type == "Put":
                attrs = op["Item"]
                self.put_item(
                    table_name,
                    attrs,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name,
                    key,
                    condition_expression=condition_expression,
                    expression_attribute_names=expression_attribute_names,
                    expression_attribute_values=expression_attribute_values,
                )
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            undo.rollback()
            raise
        except ConditionalCheckFailed as e:
            errors.append(("ConditionalCheckFailed", str(e.message), original_item))
        except Exception as e:  # moto's own catch-all: the error becomes a reason
            errors.append((type(e).__name__, str(e), original_item))

    if any(code is not None for code, _, _ in errors):
        undo.rollback()
        raise TransactionCanceledException(errors)
