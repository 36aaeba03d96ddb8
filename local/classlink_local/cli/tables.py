"""``classlink-sync tables create``: every local resource template.yaml defines (the DynamoDB tables,
the report bucket, the sync queue and its DLQ) at the local ``AWS_ENDPOINT_URL``."""

from __future__ import annotations

import argparse
import os

from classlink_sync.cli import CLIError, is_local_endpoint


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tables", help="create the stack's tables, bucket and queues locally")
    sub = parser.add_subparsers(dest="tables_command", required=True)
    create = sub.add_parser(
        "create", help="create every table, the report bucket, the sync queue and its DLQ at AWS_ENDPOINT_URL"
    )
    create.set_defaults(func=_create)


def _create(args: argparse.Namespace) -> int:
    from classlink_local.stack import create_local_resources, ensure_local_env

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    if not is_local_endpoint(endpoint):
        raise CLIError(
            "AWS_ENDPOINT_URL must point at a local stack (http://127.0.0.1:PORT); on AWS the tables, bucket "
            "and queues come from template.yaml through `sam deploy`"
        )
    ensure_local_env()
    result = create_local_resources(endpoint)
    created = [name for name in result["CREATED_TABLES"].split(",") if name]
    print(f"created {len(created)} table(s): {', '.join(created) or 'all existed already'}")
    print(f"sync queue {result['SYNC_QUEUE_URL']} (DLQ {result['SYNC_DLQ_URL']}) and the report bucket are ready")
    return 0
