"""Staff-command tests: the real store on the session's in-process moto (``aws_world``), and the
command line run in-process with its output captured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from classlink_local.inprocess import IN_PROCESS_ENV
from classlink_local.stack import reset_cached_settings
from classlink_sync.cli import main
from classlink_sync.store.context import Store

Cli = Callable[..., tuple[int, str, str]]  # as cli_support.Cli


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, aws_world: Any) -> Iterator[Store]:
    """The real store on the session's in-process moto, empty for this test."""
    for key, value in IN_PROCESS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reset_cached_settings()
    with aws_world.active() as s:
        yield s
    reset_cached_settings()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli(*argv)``: run ``classlink-sync`` in this process; (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
