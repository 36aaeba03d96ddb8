"""Create the store's tables and report bucket from template.yaml at ``AWS_ENDPOINT_URL`` (moto's
server, ``sam local``), so tests, the local stack and the deployed stack cannot drift.

Convention: the ``AWS::DynamoDB::Table`` with logical id ``FooBarTable`` is named by the settings
field ``foo_bar_table`` (environment variable ``FOO_BAR_TABLE``). A table of the template that
``AppSettings`` does not know (another component's, e.g. an idempotency table) is created when
its environment variable is set, and skipped otherwise. Idempotent: existing tables are kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from classlink_sync.settings import AppSettings, env_name, field_for_logical_id
from classlink_sync.store.dynamo import DynamoCalls, error_code

TEMPLATE_ENV = "CLASSLINK_TEMPLATE"


def default_template_path() -> Path:
    """template.yaml at the repository root (``CLASSLINK_TEMPLATE`` overrides)."""
    if os.environ.get(TEMPLATE_ENV):
        return Path(os.environ[TEMPLATE_ENV])
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "template.yaml"
        if candidate.is_file():
            return candidate
    return Path.cwd() / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (plain data only, never Python objects) that also reads CloudFormation
    short tags (``!Ref``, ``!Sub``, ``!GetAtt``...) as ``{"Ref": value}`` / ``{"Fn::X": value}``."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path | None = None) -> dict[str, Any]:
    """template.yaml as plain data, read with the safe ``_CfnLoader`` (no ``yaml.load`` with an
    arbitrary loader: bandit B506)."""
    with open(path or default_template_path(), encoding="utf-8") as handle:
        loader = _CfnLoader(handle)
        try:
            template: dict[str, Any] = loader.get_single_data()
        finally:
            loader.dispose()
    return template


def table_definitions(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """logical id -> Properties of every ``AWS::DynamoDB::Table`` in the template."""
    return {
        logical: dict(resource.get("Properties") or {})
        for logical, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::DynamoDB::Table"
    }


def bucket_logical_ids(template: Mapping[str, Any]) -> list[str]:
    return [
        logical
        for logical, resource in (template.get("Resources") or {}).items()
        if isinstance(resource, dict) and resource.get("Type") == "AWS::S3::Bucket"
    ]


def resolve_name(logical_id: str, settings: AppSettings, environ: Mapping[str, str]) -> str | None:
    """The physical name of a template resource under the naming convention, or None."""
    field = field_for_logical_id(logical_id)
    if field in AppSettings.model_fields:
        return str(getattr(settings, field))
    return environ.get(env_name(field)) or None


def create_table_request(name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """The CreateTable request of one CloudFormation table definition."""
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(kind):
            request[kind] = [
                {k: index[k] for k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput") if k in index}
                for index in props[kind]
            ]
    stream = props.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return request


def create_tables(
    settings: AppSettings, template_path: Path | None = None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Create every table of template.yaml (keys, indexes, TTL) and the report bucket at the
    settings' endpoint; idempotent. Returns the names of the tables created now."""
    env = os.environ if environ is None else environ
    template = load_template(template_path)
    calls = DynamoCalls(settings)
    created: list[str] = []
    for logical, props in table_definitions(template).items():
        name = resolve_name(logical, settings, env)
        if name is None:
            continue
        try:
            calls.connection.dispatch("CreateTable", create_table_request(name, props))
            created.append(name)
        except Exception as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client: Any = calls.connection.client
            described = client.describe_time_to_live(TableName=name)
            status = described.get("TimeToLiveDescription", {}).get("TimeToLiveStatus")
            if status not in ("ENABLED", "ENABLING"):
                calls.connection.dispatch(
                    "UpdateTimeToLive",
                    {
                        "TableName": name,
                        "TimeToLiveSpecification": {"AttributeName": ttl["AttributeName"], "Enabled": True},
                    },
                )
    for logical in bucket_logical_ids(template):
        bucket = resolve_name(logical, settings, env)
        if bucket is not None:
            create_bucket(settings, bucket)
    return created


def create_bucket(settings: AppSettings, bucket: str) -> None:
    """Create the report bucket (boto3: pynamodb is DynamoDB only); idempotent."""
    from classlink_sync.store.reports import s3_client

    s3 = s3_client(settings)
    try:
        if settings.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": settings.region},
            )
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    except s3.exceptions.BucketAlreadyExists:
        pass
