"""The embedded local stack (DESIGN.md "The local stack"): moto's server for DynamoDB, SQS, S3 and
Secrets Manager, the tables from template.yaml, the sync queue and its DLQ, all on 127.0.0.1.

Everything reaches AWS through the standard ``AWS_ENDPOINT_URL`` variable, so the real handlers
and the CLI run unchanged against this stack, ``sam local`` or AWS.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

LOCAL_PREFIX = "classlink-local"
# Dummy credentials: moto accepts anything, and they keep boto3 away from real ones.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resource_env(prefix: str = LOCAL_PREFIX) -> dict[str, str]:
    """The resource-name variables the functions get from template.yaml, with local names."""
    from classlink_sync.settings import env_name, field_for_logical_id
    from classlink_sync.store.tables import bucket_logical_ids, load_template, table_definitions

    template = load_template()
    env: dict[str, str] = {}
    for logical in [*table_definitions(template), *bucket_logical_ids(template)]:
        env[env_name(field_for_logical_id(logical))] = f"{prefix}-{field_for_logical_id(logical)}".replace("_", "-")
    env.setdefault("POWERTOOLS_SERVICE_NAME", "classlink-sync")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ClassLinkSync")
    return env


@dataclass
class LocalStack:
    """A running moto server and the stack's resources, with the process environment pointed at it."""

    endpoint_url: str
    env: dict[str, str]
    server: Any = None
    _saved_env: dict[str, str | None] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint_url,
            region_name=self.env["AWS_REGION"],
        )

    @property
    def queue_url(self) -> str:
        return self.env["SYNC_QUEUE_URL"]

    def stop(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self.server is not None:
            # moto's backends are process-wide: a stack that started its server leaves nothing
            # behind for the next one started in this process.
            import httpx

            httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=30)
            self.server.stop()
        reset_cached_settings()


def reset_cached_settings() -> None:
    """Forget settings and clients built for another environment (they are cached per cold start)."""
    from classlink_sync.local.lambda_runtime import forget_handlers
    from classlink_sync.settings import get_settings
    from classlink_sync.store import reports
    from classlink_sync.store.context import get_store
    from classlink_sync.store.models import bind

    get_settings.cache_clear()
    get_store.cache_clear()
    bind.cache_clear()
    reports.s3_client.cache_clear()
    forget_handlers()


def start_local_stack(*, endpoint_url: str | None = None, prefix: str = LOCAL_PREFIX) -> LocalStack:
    """Start moto's server (unless ``endpoint_url`` points at one already), set the environment,
    and create the tables, the report bucket, the sync queue and its DLQ."""
    server = None
    if endpoint_url is None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access line per AWS call otherwise
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint_url = f"http://127.0.0.1:{port}"
    env = {**LOCAL_AWS_ENV, **resource_env(prefix), "AWS_ENDPOINT_URL": endpoint_url}
    stack = LocalStack(endpoint_url=endpoint_url, env=env, server=server)
    stack._saved_env = {key: os.environ.get(key) for key in [*env, "SYNC_QUEUE_URL", "SYNC_DLQ_URL"]}
    os.environ.update(env)
    reset_cached_settings()

    sqs = stack.client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-sync-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-sync",
        Attributes={
            # As template.yaml: redrive after 3 receives; visibility 6x the sync timeout.
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}',
            "VisibilityTimeout": "5400",
        },
    )["QueueUrl"]
    stack.env["SYNC_QUEUE_URL"] = queue_url
    stack.env["SYNC_DLQ_URL"] = dlq_url
    os.environ["SYNC_QUEUE_URL"] = queue_url
    os.environ["SYNC_DLQ_URL"] = dlq_url
    reset_cached_settings()

    from classlink_sync.settings import get_settings
    from classlink_sync.store.tables import create_tables

    create_tables(get_settings())
    return stack


@contextmanager
def local_stack(**kwargs: Any) -> Iterator[LocalStack]:
    stack = start_local_stack(**kwargs)
    try:
        yield stack
    finally:
        stack.stop()


def ensure_local_env() -> None:
    """For CLI use against a local endpoint: fill in any resource variable that is not set with
    the local stack's names, so `AWS_ENDPOINT_URL=http://127.0.0.1:PORT classlink-sync ...` works
    without exporting a dozen names. Against AWS (no endpoint) nothing is filled in: a missing
    setting is then an error that names it."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if not endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        return
    for key, value in {**LOCAL_AWS_ENV, **resource_env()}.items():
        os.environ.setdefault(key, value)
    if "SYNC_QUEUE_URL" not in os.environ:
        os.environ["SYNC_QUEUE_URL"] = f"{endpoint}/123456789012/{LOCAL_PREFIX}-sync"
    reset_cached_settings()
