"""The embedded local stack (DESIGN.md "The local stack"): moto's server for DynamoDB, SQS, S3 and
Secrets Manager, the tables from template.yaml, the sync queue and its DLQ, all on 127.0.0.1.

Everything reaches AWS through the standard ``AWS_ENDPOINT_URL`` variable, so the real handlers
and the CLI run unchanged against this stack, ``sam local`` or AWS.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

LOCAL_PREFIX = "classlink-local"
MOTO_ACCOUNT = "123456789012"  # moto's default account id, part of its queue URLs
# Dummy credentials: moto accepts anything, and they keep boto3 away from real ones.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 # moto's dummy credentials
    "AWS_SESSION_TOKEN": "testing",  # nosec B105 # moto's dummy credentials
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# R19: the local stack's email sender (verified in moto's SES by create_local_resources) and the
# origin `serve` puts the district portal on.
LOCAL_NOTIFY_ENV = {"NOTIFY_FROM": "sync-notices@thisisschool.example", "PORTAL_URL": "http://127.0.0.1:8080"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resource_env(prefix: str = LOCAL_PREFIX) -> dict[str, str]:
    """The resource-name variables the functions get from template.yaml, with local names."""
    from classlink_local.tables import bucket_logical_ids, load_template, table_definitions
    from classlink_sync.settings import env_name, field_for_logical_id

    template = load_template()
    env: dict[str, str] = {}
    for logical in [*table_definitions(template), *bucket_logical_ids(template)]:
        env[env_name(field_for_logical_id(logical))] = f"{prefix}-{field_for_logical_id(logical)}".replace("_", "-")
    env.setdefault("POWERTOOLS_SERVICE_NAME", "classlink-sync")
    env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "ClassLinkSync")
    for key, value in LOCAL_NOTIFY_ENV.items():
        env.setdefault(key, value)
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
    from classlink_local.lambda_runtime import forget_handlers
    from classlink_sync.notify.settings import get_notify_settings
    from classlink_sync.settings import get_settings
    from classlink_sync.store import reports
    from classlink_sync.store.context import get_store
    from classlink_sync.store.models import bind

    get_settings.cache_clear()
    get_store.cache_clear()
    bind.cache_clear()
    reports.s3_client.cache_clear()
    get_notify_settings.cache_clear()
    forget_handlers()


def start_local_stack(*, endpoint_url: str | None = None, prefix: str = LOCAL_PREFIX) -> LocalStack:
    """Start moto's server (unless ``endpoint_url`` points at one already), set the environment,
    and create the tables, the report bucket, the sync queue and its DLQ."""
    server = None
    if endpoint_url is None:
        import logging

        from moto.server import ThreadedMotoServer

        from classlink_local.moto_query import install as install_partition_query
        from classlink_local.moto_write import install as install_write_path

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access line per AWS call otherwise
        install_partition_query()  # a Query reads its partition, not the whole table (docs/store.md)
        install_write_path()  # writes without moto's avoidable per-item costs (same answers)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint_url = f"http://127.0.0.1:{port}"
    env = {**LOCAL_AWS_ENV, **resource_env(prefix), "AWS_ENDPOINT_URL": endpoint_url}
    stack = LocalStack(endpoint_url=endpoint_url, env=env, server=server)
    stack._saved_env = {key: os.environ.get(key) for key in [*env, "SYNC_QUEUE_URL", "SYNC_DLQ_URL"]}
    os.environ.update(env)
    reset_cached_settings()

    created = create_local_resources(endpoint_url, prefix=prefix)
    created.pop("CREATED_TABLES")
    stack.env.update(created)
    os.environ.update(stack.env)
    reset_cached_settings()
    return stack


def create_local_resources(endpoint_url: str, *, prefix: str = LOCAL_PREFIX) -> dict[str, str]:
    """Create every resource of template.yaml the local stack serves at ``endpoint_url``: the
    DynamoDB tables (keys, indexes, TTL), the report bucket, the sync queue and its DLQ (as the
    template: redrive after 3 receives, visibility 6x the sync timeout). Existing ones are kept.
    Returns the queue variables (``SYNC_QUEUE_URL``, ``SYNC_DLQ_URL``) and ``CREATED_TABLES``
    (the tables created by this call, comma-separated)."""
    import boto3

    from classlink_local.tables import create_tables
    from classlink_sync.settings import AppSettings

    region = os.environ.get("AWS_REGION") or LOCAL_AWS_ENV["AWS_REGION"]
    sqs = boto3.session.Session().client("sqs", endpoint_url=endpoint_url, region_name=region)
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-sync-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"{prefix}-sync",
        Attributes={
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"3"}}',
            "VisibilityTimeout": "5400",
        },
    )["QueueUrl"]
    env = {**LOCAL_AWS_ENV, **resource_env(prefix), **{k: v for k, v in os.environ.items() if k in LOCAL_AWS_ENV}}
    env.update({"AWS_ENDPOINT_URL": endpoint_url, "SYNC_QUEUE_URL": queue_url, "SYNC_DLQ_URL": dlq_url})
    created = create_tables(AppSettings.from_env(env), environ=env)
    verify_local_sender(endpoint_url, os.environ.get("NOTIFY_FROM", "").strip() or LOCAL_NOTIFY_ENV["NOTIFY_FROM"])
    return {"SYNC_QUEUE_URL": queue_url, "SYNC_DLQ_URL": dlq_url, "CREATED_TABLES": ",".join(created)}


def verify_local_sender(endpoint_url: str, address: str) -> None:
    """R19: SES sends only from a verified identity; moto's SES verifies on creation."""
    import boto3

    region = os.environ.get("AWS_REGION") or LOCAL_AWS_ENV["AWS_REGION"]
    ses = boto3.session.Session().client("sesv2", endpoint_url=endpoint_url, region_name=region)
    with suppress(ses.exceptions.AlreadyExistsException):
        ses.create_email_identity(EmailIdentity=address)


def local_emails(endpoint_url: str) -> list[dict[str, Any]]:
    """R19: the emails moto's SES server accepted (``/moto-api/data.json``): ``subject``,
    ``destinations`` (``ToAddresses``...), ``body`` (the HTML part when there is one)."""
    import httpx

    data = httpx.get(f"{endpoint_url}/moto-api/data.json", timeout=60).json()
    return list(data.get("ses", {}).get("Message", []))


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
    if not is_local_endpoint(endpoint):
        return
    for key, value in {**LOCAL_AWS_ENV, **resource_env()}.items():
        os.environ.setdefault(key, value)
    # moto's queue URLs: {endpoint}/{account}/{name} (the names create_local_resources gives).
    os.environ.setdefault("SYNC_QUEUE_URL", f"{endpoint.rstrip('/')}/{MOTO_ACCOUNT}/{LOCAL_PREFIX}-sync")
    os.environ.setdefault("SYNC_DLQ_URL", f"{endpoint.rstrip('/')}/{MOTO_ACCOUNT}/{LOCAL_PREFIX}-sync-dlq")
    reset_cached_settings()


def is_local_endpoint(endpoint: str | None) -> bool:
    from classlink_sync.cli import is_local_endpoint as check

    return check(endpoint)


# Where `classlink-sync stack` publishes its ClassLink SSO side, so that `classlink-sync serve`
# with nothing but AWS_ENDPOINT_URL set finds the emulator and the client it registered there.
LOCAL_SSO_SECRET = f"{LOCAL_PREFIX}/sso-client"
LOCAL_SSO_VARIABLES = {
    "classlink_url": ("CLASSLINK_LAUNCHPAD_URL", "CLASSLINK_NODEAPI_URL"),
    "client_id": ("CLASSLINK_CLIENT_ID",),
    "client_secret": ("CLASSLINK_CLIENT_SECRET",),
}


def _secrets_client(endpoint_url: str) -> Any:
    import boto3

    region = os.environ.get("AWS_REGION") or LOCAL_AWS_ENV["AWS_REGION"]
    return boto3.session.Session().client("secretsmanager", endpoint_url=endpoint_url, region_name=region)


def publish_local_sso(endpoint_url: str, *, classlink_url: str, client_id: str, client_secret: str) -> None:
    """Record the emulator's SSO side and our client registration in the local Secrets Manager."""
    import json

    value = json.dumps({"classlink_url": classlink_url, "client_id": client_id, "client_secret": client_secret})
    client = _secrets_client(endpoint_url)
    try:
        client.create_secret(Name=LOCAL_SSO_SECRET, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=LOCAL_SSO_SECRET, SecretString=value)


def apply_local_sso_env(endpoint_url: str) -> list[str]:
    """Fill in the SSO variables that are not set from what `stack` published; returns the names
    filled in (none when no local stack published its SSO side)."""
    import json

    client = _secrets_client(endpoint_url)
    try:
        published = json.loads(client.get_secret_value(SecretId=LOCAL_SSO_SECRET)["SecretString"])
    except client.exceptions.ResourceNotFoundException:
        return []
    filled = []
    for key, names in LOCAL_SSO_VARIABLES.items():
        for name in names:
            if not os.environ.get(name, "").strip() and published.get(key):
                os.environ[name] = str(published[key])
                filled.append(name)
    return filled
