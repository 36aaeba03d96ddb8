"""S2: single-use login states.

The login cookie is signed and cleared by the callback, but a copied cookie plus a copied callback
URL could be replayed. So the callback also *consumes* the state in a ledger: the first consume of
a state succeeds, every later one fails. Only a SHA-256 digest of the state is stored, never the
state itself. In the stack the ledger is a DynamoDB table (``SSO_STATE_TABLE``) with a
conditional put (``attribute_not_exists``), so two concurrent Lambdas cannot both consume one
state; expiry is checked in code and the item also has a TTL attribute for clean-up (moto and
DynamoDB TTL are both lazy). Without a table (local ``serve``, tests) the ledger is in memory.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any, Protocol


def state_digest(state: str) -> str:
    return hashlib.sha256(b"classlink-sso-state:" + state.encode()).hexdigest()


class StateLedger(Protocol):
    def consume(self, state: str, expires_at: int) -> bool:
        """True the first time a state is consumed (until ``expires_at``), False on reuse."""
        ...


class MemoryStateLedger:
    """One process's ledger (local serve, tests). Thread-safe; drops expired entries."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def consume(self, state: str, expires_at: int) -> bool:
        key, now = state_digest(state), time.time()
        with self._lock:
            if len(self._used) > 10_000:
                self._used = {k: v for k, v in self._used.items() if v > now}
            if key in self._used:
                return False
            self._used[key] = expires_at
            return True


class DynamoStateLedger:
    """A DynamoDB table with partition key ``pk`` (string) and TTL attribute ``expires_at``.
    pynamodb is imported on first use (not on the login route's import path)."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name
        self._model: Any = None

    def _model_class(self) -> Any:
        if self._model is None:
            from pynamodb.attributes import NumberAttribute, UnicodeAttribute
            from pynamodb.models import Model

            table_name = self._table_name

            class UsedState(Model):
                class Meta:
                    pass

                pk = UnicodeAttribute(hash_key=True)
                expires_at = NumberAttribute()

            UsedState.Meta.table_name = table_name  # type: ignore[attr-defined]
            import os

            from classlink_sync import aws

            # On the process's botocore session; region and endpoint as the environment sets them.
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
            host = os.environ.get("AWS_ENDPOINT_URL", "").strip() or None
            aws.use_connection(UsedState, aws.dynamodb_connection(region=region, host=host))
            self._model = UsedState
        return self._model

    def consume(self, state: str, expires_at: int) -> bool:
        from pynamodb.exceptions import PutError

        model = self._model_class()
        item = model(pk=f"sso-state#{state_digest(state)}", expires_at=expires_at)
        try:
            item.save(condition=model.pk.does_not_exist())
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                return False
            raise
        return True


def build_ledger(settings: Any) -> StateLedger:
    """The DynamoDB ledger when ``SSO_STATE_TABLE`` is set, else one process's memory (local
    serve and tests; in Lambda that would be single use per container only, so the stack sets it)."""
    table = getattr(settings, "state_table_name", None)
    return DynamoStateLedger(table) if table else MemoryStateLedger()
