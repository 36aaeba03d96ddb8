"""Every AWS client of the process, built from one botocore session (DESIGN.md "Conventions").

A botocore session parses botocore's data files (endpoints, service models) the first time it
builds a client; ten sessions cost most of a second at every cold start, one costs a tenth of
that. So:

- ``botocore_session()`` is the process's session (built on first use);
- ``client(service, settings)`` is a boto3 client on it (S3, SQS, Secrets Manager), one per
  service, region and endpoint;
- ``dynamodb_connection(...)`` is a pynamodb ``Connection`` whose botocore client comes from the
  same session, and ``use_connection(model, connection)`` makes a pynamodb model send through it,
  so every model of a table set shares one connection and one client.

Creating clients from one session is not thread-safe in botocore, so client creation is serialised
here; clients themselves are thread-safe. boto3 and pynamodb are imported on first use.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3.session
    import botocore.session
    from pynamodb.connection import Connection
    from pynamodb.models import Model

    from classlink_sync.settings import AppSettings

DYNAMODB_MAX_ATTEMPTS = 10
"""Attempts per DynamoDB request, retries included: botocore's standard retry mode (exponential
backoff with jitter, throttling and transient errors, a per-client retry quota) is the only retry
of throttling; the store adds none on top."""

_CREATE = threading.RLock()
_clients: dict[tuple[str, str | None, str | None], Any] = {}


@cache
def botocore_session() -> botocore.session.Session:
    """The process's botocore session (``reset()`` in tests that need a new one)."""
    from botocore.session import get_session

    return get_session()


@cache
def boto3_session() -> boto3.session.Session:
    """A boto3 session over ``botocore_session()`` (one: each boto3 session registers its handlers
    and data path on the botocore session again)."""
    import boto3.session

    return boto3.session.Session(botocore_session=botocore_session())


def client(service: str, settings: AppSettings) -> Any:
    """The boto3 client of ``service`` for the settings' region and ``AWS_ENDPOINT_URL`` (cached)."""
    key = (service, settings.region, settings.aws_endpoint_url)
    with _CREATE:
        found = _clients.get(key)
        if found is None:
            found = boto3_session().client(
                service,  # type: ignore[call-overload]
                region_name=settings.region,
                endpoint_url=settings.aws_endpoint_url,
            )
            _clients[key] = found
        return found


@cache
def dynamodb_connection(
    region: str | None = None, host: str | None = None, max_pool_connections: int = 10
) -> Connection:
    """A pynamodb connection on the process's session (cached per region, endpoint, pool size).
    ``None`` region or host: botocore's own resolution (``AWS_REGION``, ``AWS_ENDPOINT_URL``)."""
    return _connection_class()(
        region=region,
        host=host,
        max_pool_connections=max_pool_connections,
        retry_configuration={"mode": "standard", "total_max_attempts": DYNAMODB_MAX_ATTEMPTS},
    )


def use_connection(model: type[Model], connection: Connection) -> None:
    """Make ``model`` (a pynamodb model with its table name) send through ``connection``: its
    table connection is built as pynamodb builds it (key schema from the model), then pointed at
    ``connection``, which learns the table's schema. Nothing is sent."""
    from pynamodb.exceptions import TableError

    table = model._get_connection()
    if table.connection is connection:
        return
    try:
        connection.get_meta_table(table.table_name)
    except TableError:
        connection.add_meta_table(table.connection.get_meta_table(table.table_name))
    table.connection = connection


@cache
def _connection_class() -> type[Connection]:
    from pynamodb.connection import Connection

    class SharedSessionConnection(Connection):
        """pynamodb's ``Connection`` with the process's botocore session (pynamodb makes one per
        connection and thread) and its client created under the process's creation lock."""

        @property
        def session(self) -> botocore.session.Session:
            return botocore_session()

        @property
        def client(self) -> Any:
            with _CREATE:
                return super().client

    return SharedSessionConnection


def reset() -> None:
    """Forget the session, clients and connections (tests only; the next client builds anew)."""
    with _CREATE:
        _clients.clear()
        dynamodb_connection.cache_clear()
        boto3_session.cache_clear()
        botocore_session.cache_clear()
