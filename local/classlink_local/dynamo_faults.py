"""Faults DynamoDB makes and moto never does (DESIGN.md "What moto hides"), injected below
botocore's retry handler so the code under test sees exactly what a real table would send."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.retries.standard import ExponentialBackoff


class _Body:
    """The raw body of a fake HTTP response (what ``AWSResponse.content`` streams)."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@contextlib.contextmanager
def throttled(store: Any, throttle: Callable[[str, bytes], bool]) -> Iterator[dict[str, int]]:
    """Answer the DynamoDB requests (HTTP attempts, retries included) for which ``throttle(op,
    body)`` is true with a 400 ProvisionedThroughputExceededException, below botocore's retry
    handler, as DynamoDB does and moto never does. botocore's backoff is made instant; the shared
    client's hook is removed afterwards. Yields per-operation counts of the throttled attempts."""
    client = store.calls.connection.client
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def before_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        op = event_name.rsplit(".", 1)[-1]
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        with lock:
            if not throttle(op, body):
                return None
            seen[op] = seen.get(op, 0) + 1
        error = {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded.",
        }
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 400, headers, _Body(json.dumps(error).encode()))

    original = ExponentialBackoff.delay_amount
    ExponentialBackoff.delay_amount = lambda self, context: 0  # type: ignore[method-assign]
    client.meta.events.register_first("before-send.dynamodb", before_send)
    try:
        yield seen
    finally:
        client.meta.events.unregister("before-send.dynamodb", before_send)
        ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]
