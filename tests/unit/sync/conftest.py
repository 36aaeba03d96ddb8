"""Sync-service tests: the real store on in-process moto (the session's ``aws_world``: tables created
once, empty for every test), ClassLink replaced by a snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from classlink_local.inprocess import IN_PROCESS_ENV
from classlink_local.stack import reset_cached_settings
from classlink_sync.store.context import Store


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, aws_world: Any) -> Iterator[Store]:
    for key, value in IN_PROCESS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SYNC_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/t-sync")
    reset_cached_settings()
    with aws_world.active() as s:
        yield s
    reset_cached_settings()
