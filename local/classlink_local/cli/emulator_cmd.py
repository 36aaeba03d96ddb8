"""``classlink-sync emulator``: run the ClassLink emulator in the foreground (SPEC §1, DESIGN "local stack")."""

from __future__ import annotations

import argparse
from typing import Any

from classlink_sync.cli import port_arg, positive_int


def share(value: str) -> float:
    """A share of the records, 0 to 1."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a share is a number from 0 to 1, not {value[:40]!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"a share is a number from 0 to 1, not {number}")
    return number


def register(subparsers: Any) -> None:
    """Add the ``emulator`` command."""
    parser = subparsers.add_parser(
        "emulator",
        help="run a local ClassLink Roster Server (OneRoster 1.1) with a generated or CSV district",
        description="Serve a generated district (deterministic from --seed) or a OneRoster 1.1 CSV "
        "bundle on 127.0.0.1, with OAuth 1.0a verification, paging, filters and switchable faults.",
    )
    parser.add_argument("--port", type=port_arg, default=0, help="port on 127.0.0.1, 1-65535 (default: a free one)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated district")
    parser.add_argument("--users", type=positive_int, default=1000, help="users in the generated district")
    parser.add_argument(
        "--problem-share",
        type=share,
        default=0.01,
        help="share of planted data problems per kind (R3-R9), 0 for clean data",
    )
    parser.add_argument("--from-csv", metavar="DIR", help="serve this OneRoster 1.1 CSV bundle instead")
    parser.add_argument("--max-limit", type=positive_int, default=1000, help="page size cap (applied silently)")
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="e.g. '429:every=5,retry_after=1;5xx:rate=0.05;slow:first=2,delay=0.5;"
        "truncate:every=13;shift:first=1,path=/users,mode=insert'",
    )
    parser.add_argument("--client-id", default="emulator-client-id")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--no-warm", action="store_true", help="skip pre-serialising the records")
    parser.add_argument("--bearer-token", default=None, help="also accept this bearer token (proxy mode)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the dataset, start the server and block until Ctrl-C."""
    from classlink_local.emulator.faults import Faults
    from classlink_local.emulator.server import start_emulator
    from classlink_sync.cli import CLIError

    faults = Faults(seed=args.seed)
    try:
        faults.load(args.faults or "")
    except ValueError as exc:
        raise CLIError(f"--faults: {exc}") from None
    if args.from_csv:
        from classlink_local.emulator.csvload import load_csv_bundle

        try:
            dataset = load_csv_bundle(args.from_csv)
        except (OSError, ValueError) as exc:
            raise CLIError(f"--from-csv: {exc}") from None
        source = f"CSV bundle {args.from_csv}"
    else:
        from classlink_local.emulator.datagen import generate

        dataset = generate(seed=args.seed, users=args.users, problem_share=args.problem_share)
        source = f"generated district (seed {args.seed}, {args.users} users)"
    if not args.no_warm:
        dataset.warm()  # pre-serialise: the first full fetch is as fast as the next
    try:
        handle = start_emulator(
            dataset,
            port=args.port,
            client_id=args.client_id,
            client_secret=args.client_secret,
            bearer_token=args.bearer_token,
            max_limit=args.max_limit,
            faults=faults,
        )
    except OSError as exc:
        raise CLIError(f"--port {args.port}: {exc}") from None
    counts = ", ".join(f"{n} {k}" for k, n in dataset.counts().items() if n)
    print(f"ClassLink emulator serving {source}: {counts}")
    print(f"  Roster Server URL: {handle.base_url}")
    print(f"  client id:         {handle.client_id}")
    print(f"  client secret:     {handle.client_secret}")
    if args.bearer_token:
        print(f"  bearer token:      {args.bearer_token}")
    if dataset.unlicensed_school_ids:
        print(f"  unlicensed school(s) for testing R3: {', '.join(dataset.unlicensed_school_ids)}")
    print("Ctrl-C to stop.", flush=True)
    handle.serve_forever()
    return 0
