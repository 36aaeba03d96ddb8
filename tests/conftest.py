"""Shared fixtures: a running ClassLink emulator (SPEC §1) on a free port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from classlink_sync.local.emulator.datagen import generate
from classlink_sync.local.emulator.dataset import Dataset
from classlink_sync.local.emulator.server import EmulatorHandle, start_emulator

EmulatorFactory = Callable[..., EmulatorHandle]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    """Start emulators with a custom dataset or generated district; all stop after the test.

    ``emulator_factory(dataset=None, *, seed=1, users=150, problem_share=0.01, **start_options)``:
    ``start_options`` go to ``start_emulator`` (``max_limit``, ``faults``, ``bearer_token``, ``apps``...).
    """
    handles: list[EmulatorHandle] = []

    def start(
        dataset: Dataset | None = None,
        *,
        seed: int = 1,
        users: int = 150,
        problem_share: float = 0.01,
        **options: Any,
    ) -> EmulatorHandle:
        data = dataset if dataset is not None else generate(seed=seed, users=users, problem_share=problem_share)
        handle = start_emulator(data, **options)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> EmulatorHandle:
    """A running emulator with a small generated district (seed 1, 150 users, planted problems):
    ``.base_url``, ``.client_id``, ``.client_secret``, ``.dataset``, ``.faults``, ``.requests``."""
    return emulator_factory()
