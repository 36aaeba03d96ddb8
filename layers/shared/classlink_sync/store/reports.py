"""The report bucket (SPEC §3: full run reports and held plans as JSON in S3). boto3, since
pynamodb covers DynamoDB only."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from classlink_sync import aws
from classlink_sync.settings import AppSettings


@cache
def s3_client(settings: AppSettings) -> Any:
    """The S3 client of these settings (``AWS_ENDPOINT_URL`` when set), on the process's botocore
    session (``classlink_sync.aws``)."""
    return aws.client("s3", settings)


def put_json(settings: AppSettings, key: str, document: Any) -> str:
    """Write a JSON document to the report bucket (SSE by the bucket's default); return its key."""
    body = json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()
    s3_client(settings).put_object(Bucket=settings.report_bucket, Key=key, Body=body, ContentType="application/json")
    return key


def get_json(settings: AppSettings, key: str) -> Any:
    response = s3_client(settings).get_object(Bucket=settings.report_bucket, Key=key)
    return json.loads(response["Body"].read())
