"""Shared fixtures: a running ClassLink emulator (SPEC §1) on a free port of 127.0.0.1, and one
in-process moto with the template's tables for the whole session (``aws_world``)."""

from __future__ import annotations

import contextlib
import sys
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


@pytest.fixture(autouse=True)
def _no_metrics_of_earlier_tests() -> None:
    """Powertools' metrics are one set per process, shared by every ``Metrics()``: a handler that
    added metrics without flushing them (metrics disabled, or an invocation that raised) leaves them
    for the next test that reads ``metric_set``. Each test starts with none, whatever ran before
    it on its worker (e.g. an e2e sync that failed on purpose, then a test that counts its own
    run's metrics)."""
    module = sys.modules.get("aws_lambda_powertools.metrics")
    if module is not None:
        module.Metrics().clear_metrics()


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
    letting the items of every test pile up instead would slow every later test (moto's Scan walks
    and sorts the whole table) and break the many assertions about a whole table. When another
    test's own ``mock_aws`` has reset moto in between, the tables are created again (``creates``
    counts the table sets created).

    While the world is active, moto runs with the adapters the local stack's server runs with
    (``classlink_local.moto_query``: a Query reads its partition; ``classlink_local.moto_write``:
    writes and request dispatch without moto's avoidable costs; both give moto's items, pages,
    response bodies and errors, tested in tests/integration/test_moto_*_adapter.py). A district read
    queries every shard partition of the district (about a hundred Queries), and moto's own Query
    gathers and sorts the whole table for each, then serialises every item by reflection: with the
    adapters the store's tests take about a quarter less CPU. They are on for every test that holds
    the world, whatever ran before, and off again afterwards (unless something else installed them),
    so tests that compare with moto unpatched see moto as they would alone."""

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
        adapters_here = _partition_query_on()
        try:
            reset_cached_settings()
            settings = AppSettings.from_env()
            self._empty(settings)
            self.uses += 1
            yield Store.create(settings, **store_options)
        finally:
            _partition_query_off(adapters_here)
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


def _partition_query_on() -> list[Any]:
    """moto's partition Query and write-path adapters on; the ones this call installed (they were off)."""
    from classlink_local import moto_query, moto_write

    return [adapter for adapter in (moto_query, moto_write) if not adapter.installed() and adapter.install()]


def _partition_query_off(adapters: list[Any]) -> None:
    for adapter in adapters:
        adapter.uninstall()


@pytest.fixture(scope="session")
def aws_world() -> AwsWorld:
    """The session's in-process moto with the template's tables (see ``AwsWorld``)."""
    return AwsWorld()


# -- the order of the modules, for pytest-xdist ---------------------------------------------------

# Seconds a module keeps its worker busy in `make test` (measured on the 2-core machine, both
# workers busy), for the modules that take more than a few seconds. ``make test`` runs modules
# whole on a worker (``--dist loadscope``) in the order collected (``--no-loadscope-reorder``:
# xdist would otherwise order them by their number of tests, which put the longest single-test
# modules, the soak first, last, and one worker waited for the other at the end). Longest first
# keeps the two workers within a few seconds of each other. Only the order depends on this table:
# a module missing from it, or with a wrong figure, runs all the same (``_estimated_seconds``).
MODULE_SECONDS = {
    "tests/e2e/test_fault_soak.py": 34,
    "tests/e2e/test_resilience.py": 25,
    "tests/unit/sync/test_R17_undo.py": 18,
    "tests/e2e/test_R17_undo.py": 18,
    "tests/e2e/test_R20_continuation.py": 17,
    "tests/e2e/test_R16_calendar.py": 16,
    "tests/e2e/test_mass_change_guard.py": 14,
    "tests/unit/sync/test_R17_undo_property.py": 13,
    "tests/e2e/test_local_commands_together.py": 12,
    "tests/integration/test_moto_write_adapter.py": 10,
    "tests/e2e/test_once_only.py": 10,
    "tests/e2e/test_sync_lifecycle.py": 10,
    "tests/unit/sync/test_R20_continuation.py": 9,
    "tests/e2e/test_districts_apart.py": 9,
    "tests/unit/sync/test_R18_delta_targeted.py": 8,
    "tests/e2e/test_make_run.py": 7,
    "tests/unit/sync/test_R16_pause.py": 7,
    "tests/unit/sync/test_R19_emails.py": 7,
    "tests/unit/sync/test_R9_proven_absence_service.py": 6,
    "tests/e2e/test_R18_delta.py": 6,
    "tests/unit/sync/test_R18_delta.py": 6,
    "tests/integration/test_moto_query_adapter.py": 6,
    "tests/integration/sso/test_sso_signin.py": 6,
    "tests/integration/layer/test_layer_ships_product_only.py": 5,  # more the first time (pip)
    "tests/e2e/test_cli.py": 4,
    "tests/e2e/test_cli_errors.py": 3,
}

# Per test of a module not in MODULE_SECONDS: e2e drives the local stack; the store's tests run
# syncs on in-process moto; the rest are mostly fast.
_E2E_TEST_SECONDS = 4.0
_STORE_TEST_SECONDS = 0.4
_OTHER_TEST_SECONDS = 0.005


def _estimated_seconds(module: str, items: list[pytest.Item]) -> float:
    known = MODULE_SECONDS.get(module)
    if known is not None:
        return float(known)
    if module.startswith("tests/e2e/"):
        return _E2E_TEST_SECONDS * len(items)
    store = {"store", "aws_world"}
    return sum(
        (_STORE_TEST_SECONDS if store & set(getattr(item, "fixturenames", ())) else _OTHER_TEST_SECONDS)
        for item in items
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules longest first (``MODULE_SECONDS``), each module's tests together and in their own
    order; modules of equal estimate keep the order collected. Every test is independent of the
    others (own districts, tenants and prefixes), so the order changes nothing but the schedule."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    order = sorted(modules, key=lambda module: -_estimated_seconds(module, modules[module]))
    items[:] = [item for module in order for item in modules[module]]
