"""``classlink-sync stack``: keep the local stack up for `sam local invoke` and manual CLI use.

Starts moto's server on a fixed port (default 5000, the port ``env.json`` names), creates the
tables, queue and bucket, starts the ClassLink emulator (default 8080) with a generated district,
onboards it as ``demo-isd``, prints the environment to export, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from classlink_sync.cli import fixed_port_arg, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    stack = subparsers.add_parser("stack", help="run the local stack (moto + emulator) until Ctrl-C")
    stack.add_argument("--aws-port", type=fixed_port_arg, default=5000, help="moto's port (env.json expects 5000)")
    stack.add_argument(
        "--emulator-port", type=fixed_port_arg, default=8080, help="the emulator's port (env.json: 8080)"
    )
    stack.add_argument("--users", type=positive_int, default=400)
    stack.add_argument("--seed", type=int, default=7)
    stack.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 to reach it from Docker)")
    stack.set_defaults(func=_stack)


def _stack(args: argparse.Namespace) -> int:
    from moto.server import ThreadedMotoServer

    from classlink_local.demo import DEMO_DISTRICT, onboard_demo_district
    from classlink_local.emulator.datagen import generate
    from classlink_local.emulator.server import start_emulator
    from classlink_local.moto_query import install as install_partition_query
    from classlink_local.stack import start_local_stack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access line per AWS call otherwise
    install_partition_query()  # a Query reads its partition, not the whole table (docs/store.md)
    server = ThreadedMotoServer(ip_address=args.host, port=args.aws_port, verbose=False)
    server.start()
    stack = start_local_stack(endpoint_url=f"http://127.0.0.1:{args.aws_port}")
    dataset = generate(seed=args.seed, users=args.users, username_prefix="DemoISD")
    emulator = start_emulator(dataset, host=args.host, port=args.emulator_port)
    try:
        onboard_demo_district(emulator, dataset)
        _mount_sso(emulator, dataset, stack.endpoint_url)
        print("Local stack up. In another shell:")
        for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            print(f"  export {key}={stack.env[key]}")
        print(f"  .venv/bin/classlink-sync sync {DEMO_DISTRICT}          # or: daily, runs, export, ...")
        print("  sam local invoke DistrictSyncFunction -e events/sync_message.json --env-vars env.json")
        print("  .venv/bin/classlink-sync serve --port 0   # the SSO sign-in against this stack's ClassLink emulator")
        print(f"OneRoster emulator: {emulator.base_url} (client id {emulator.client_id})")
        print("Ctrl-C to stop.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        emulator.stop()
        stack.stop()
        server.stop()


def _mount_sso(emulator: Any, dataset: Any, endpoint_url: str) -> None:
    """ClassLink's SSO side on the emulator, knowing the demo district's users, with our SSO app
    registered as a client; published for `classlink-sync serve` (local redirect URIs only)."""
    import secrets

    from classlink_local.demo import DEMO_TENANT
    from classlink_local.emulator.sso_app import ClassLinkSsoApp
    from classlink_local.stack import publish_local_sso

    sso = ClassLinkSsoApp()
    sso.add_users(DEMO_TENANT, [dict(record) for _, record in dataset.collection("users").iter_records()])
    client_id, client_secret = "this-is-school-local", secrets.token_urlsafe(24)
    sso.register_client(client_id, client_secret, local_redirects=True)
    emulator.mount(sso)
    publish_local_sso(endpoint_url, classlink_url=emulator.url, client_id=client_id, client_secret=client_secret)
