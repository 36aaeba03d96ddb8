"""``classlink-sync demo``: what `make run` runs (see ``classlink_local.demo``)."""

from __future__ import annotations

import argparse

from classlink_sync.cli import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="the whole local stack: daily sync of a demo district and SSO")
    demo.add_argument("--users", type=positive_int, default=400, help="users in the generated demo district")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--serve", action="store_true", help="then keep the SSO sign-in up for a browser until Ctrl-C")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from classlink_local.demo import run_demo

    return run_demo(users=args.users, seed=args.seed, serve=args.serve)
