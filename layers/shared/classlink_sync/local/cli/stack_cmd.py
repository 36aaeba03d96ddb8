"""``classlink-sync stack``: keep the local stack up for `sam local invoke` and manual CLI use.

Starts moto's server on a fixed port (default 5000, the port ``env.json`` names), creates the
tables, queue and bucket, starts the ClassLink emulator (default 8080) with a generated district,
onboards it as ``demo-isd``, prints the environment to export, and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    stack = subparsers.add_parser("stack", help="run the local stack (moto + emulator) until Ctrl-C")
    stack.add_argument("--aws-port", type=int, default=5000, help="moto's port (env.json expects 5000)")
    stack.add_argument("--emulator-port", type=int, default=8080, help="the emulator's port (env.json: 8080)")
    stack.add_argument("--users", type=int, default=400)
    stack.add_argument("--seed", type=int, default=7)
    stack.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 to reach it from Docker)")
    stack.set_defaults(func=_stack)


def _stack(args: argparse.Namespace) -> int:
    from moto.server import ThreadedMotoServer

    from classlink_sync.local.demo import DEMO_DISTRICT, onboard_demo_district
    from classlink_sync.local.emulator.datagen import generate
    from classlink_sync.local.emulator.server import start_emulator
    from classlink_sync.local.stack import start_local_stack

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access line per AWS call otherwise
    server = ThreadedMotoServer(ip_address=args.host, port=args.aws_port, verbose=False)
    server.start()
    stack = start_local_stack(endpoint_url=f"http://127.0.0.1:{args.aws_port}")
    dataset = generate(seed=args.seed, users=args.users, username_prefix="DemoISD")
    emulator = start_emulator(dataset, host=args.host, port=args.emulator_port)
    try:
        onboard_demo_district(emulator, dataset)
        print("Local stack up. In another shell:")
        for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
            print(f"  export {key}={stack.env[key]}")
        print(f"  .venv/bin/classlink-sync sync {DEMO_DISTRICT}          # or: daily, runs, export, ...")
        print("  sam local invoke DistrictSyncFunction -e events/sync_message.json --env-vars env.json")
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
