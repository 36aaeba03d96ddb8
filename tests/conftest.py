"""Shared fixtures: a running ClassLink emulator (SPEC §1) on a free port of 127.0.0.1, and one
in-process moto with the template's tables for the whole session (``aws_world``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from classlink_local.emulator.datagen import generate
from classlink_local.emulator.dataset import Dataset
from classlink_local.emulator.server import EmulatorHandle, start_emulator

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


# -- one in-process moto for the session ------------------------------------------------------------

# Services whose state outlives a test: DynamoDB (the template's tables stay, their items are
# dropped) and KMS (the default keys the tables' encryption refers to).
KEPT_SERVICES = frozenset({"dynamodb", "kms"})


class AwsWorld:
    """One in-process moto (``mock_aws``) for the session, the tables and the report bucket of
    template.yaml created once by ``create_tables`` (DESIGN.md "Conventions"), instead of a new moto
    and new tables for every test (about 0.3 s each: parsing template.yaml and nine CreateTable).

    moto is active only while a test holds the world (``active``), so the rest of the session
    never sees it. Each ``active`` starts from empty tables, as a fresh ``in_process_store`` did:
    the items of the tables are dropped (tables and indexes stay), every other service (S3, Secrets
    Manager, SQS, SES...) is reset and the report bucket created again. That costs microseconds;
    letting the items of every test pile up instead would slow every later test (moto's Query and
    Scan walk and sort the whole table) and break the many assertions about a whole table. When
    another test's own ``mock_aws`` has reset moto in between, the tables are created again
    (``creates`` counts the table sets created)."""

    def __init__(self) -> None:
        from moto import mock_aws

        self._mock = mock_aws()
        self._active = False
        self._tables: set[str] = set()
        self.creates = 0
        self.uses = 0

    @contextlib.contextmanager
    def active(self, **store_options: Any) -> Iterator[Any]:
        """moto active, the tables empty, and a ``Store`` on them (``store_options`` go to
        ``Store.create``, e.g. an ``interceptor``). The environment must already name the tables
        (``IN_PROCESS_ENV``). Not re-entrant: one world, one store at a time."""
        from classlink_local.stack import reset_cached_settings
        from classlink_sync.settings import AppSettings
        from classlink_sync.store.context import Store

        if self._active:
            raise RuntimeError("the session's moto world is already active in this test: one store at a time")
        self._mock.start(reset=False)
        self._active = True
        try:
            reset_cached_settings()
            settings = AppSettings.from_env()
            self._empty(settings)
            self.uses += 1
            yield Store.create(settings, **store_options)
        finally:
            self._active = False
            self._mock.stop(remove_data=False)
            reset_cached_settings()

    def _empty(self, settings: Any) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.base_backend import BackendDict
        from moto.dynamodb.models import dynamodb_backends

        from classlink_local.tables import create_bucket, create_tables

        tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][settings.region].tables
        if (
            not self._tables
            or not self._tables <= set(tables)
            or not set(settings.table_names().values()) <= set(tables)
        ):
            # First use, or another test's mock_aws reset moto: the whole template again.
            for service in list(BackendDict._instances):
                if service.service_name != "kms":
                    for account in service.values():
                        account.reset()
            create_tables(settings)
            self._tables = set(dynamodb_backends[DEFAULT_ACCOUNT_ID][settings.region].tables)
            self.creates += 1
            return
        for name in list(tables):
            if name in self._tables:
                tables[name].items.clear()
            else:
                del tables[name]  # a table a test created for itself
        for service in list(BackendDict._instances):
            if service.service_name not in KEPT_SERVICES:
                for account in service.values():
                    account.reset()
        create_bucket(settings, settings.report_bucket)


@pytest.fixture(scope="session")
def aws_world() -> AwsWorld:
    """The session's in-process moto with the template's tables (see ``AwsWorld``)."""
    return AwsWorld()
