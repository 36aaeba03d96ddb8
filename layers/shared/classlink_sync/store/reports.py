"""The report bucket (SPEC §3: full run reports and held plans as JSON in S3). boto3, since
pynamodb covers DynamoDB only."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from classlink_sync.settings import AppSettings


@cache
def s3_client(settings: AppSettings) -> Any:
    """One S3 client per settings, at ``AWS_ENDPOINT_URL`` when set."""
    import boto3

    return boto3.session.Session().client("s3", region_name=settings.region, endpoint_url=settings.aws_endpoint_url)


def put_json(settings: AppSettings, key: str, document: Any) -> str:
    """Write a JSON document to the report bucket (SSE by the bucket's default); return its key."""
    body = json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()
    s3_client(settings).put_object(Bucket=settings.report_bucket, Key=key, Body=body, ContentType="application/json")
    return key


def get_json(settings: AppSettings, key: str) -> Any:
    response = s3_client(settings).get_object(Bucket=settings.report_bucket, Key=key)
    return json.loads(response["Body"].read())
