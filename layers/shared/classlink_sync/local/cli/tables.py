"""``classlink-sync tables create``: the stack's tables and report bucket from template.yaml."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tables", help="create the DynamoDB tables (from template.yaml) locally")
    sub = parser.add_subparsers(dest="tables_command", required=True)
    create = sub.add_parser("create", help="create every table and the report bucket at AWS_ENDPOINT_URL")
    create.set_defaults(func=_create)


def _create(args: argparse.Namespace) -> int:
    from classlink_sync.local.stack import ensure_local_env
    from classlink_sync.settings import get_settings
    from classlink_sync.store.tables import create_tables

    ensure_local_env()
    created = create_tables(get_settings())
    print(f"created {len(created)} table(s): {', '.join(created) or 'all existed already'}")
    return 0
