"""``classlink-sync``: the command line of the local stack and of staff operations.

Each command group lives in its own module with ``register(subparsers)``; a command's handler is
``args.func(args) -> int`` (the exit code). Heavy imports happen inside the handlers, so the CLI
starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence

# Modules under classlink_sync.local.cli that register commands, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "districts",
    "sync",
    "tables",
    "stack_cmd",
    "serve",
    "emulator_cmd",
    "fetch",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classlink-sync", description="This is School's ClassLink integration (rostering and SSO)."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _quiet_core():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CLIError as exc:
        print(f"classlink-sync {args.command}: {exc}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def _quiet_core() -> Iterator[None]:
    """A command's stdout is its result (`--json` must parse): the core's JSON logs stay at WARNING
    unless LOG_LEVEL asks for more, and no EMF metrics are printed (they are CloudWatch's). The
    environment is restored afterwards (tests call ``main`` in-process)."""
    wanted = {"POWERTOOLS_LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"), "POWERTOOLS_METRICS_DISABLED": "true"}
    saved = {key: os.environ.get(key) for key in wanted}
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class CLIError(Exception):
    """A user-facing error: printed as one line naming the setting or record, exit code 2."""


if __name__ == "__main__":
    raise SystemExit(main())
