"""The store on moto's in-process backend (``mock_aws``), with the tables of template.yaml: what
unit tests use instead of the local stack's server (DESIGN.md "Tests")."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from classlink_local.stack import LOCAL_AWS_ENV, reset_cached_settings

IN_PROCESS_ENV = {
    **LOCAL_AWS_ENV,
    "DISTRICTS_TABLE": "t-districts",
    "ACCOUNTS_TABLE": "t-accounts",
    "RESERVATIONS_TABLE": "t-reservations",
    "CLASSES_TABLE": "t-classes",
    "ENROLLMENTS_TABLE": "t-enrollments",
    "SCHOOLS_TABLE": "t-schools",
    "RUNS_TABLE": "t-runs",
    "LOCKS_TABLE": "t-locks",
    "REPORT_BUCKET": "t-reports",
}


def set_in_process_env(environ: Any = os.environ) -> None:
    """Point the settings at in-process moto (no endpoint, test names); callers restore it."""
    environ.update(IN_PROCESS_ENV)
    environ.pop("AWS_ENDPOINT_URL", None)
    environ.pop("SYNC_QUEUE_URL", None)
    reset_cached_settings()


@contextlib.contextmanager
def in_process_store(**kwargs: Any) -> Iterator[Any]:
    """A new moto world with the template's tables and a ``Store`` on it (``kwargs`` go to
    ``Store.create``, e.g. an ``interceptor``). The environment must already be set."""
    from moto import mock_aws

    from classlink_local.tables import create_tables
    from classlink_sync.settings import AppSettings
    from classlink_sync.store.context import Store

    reset_cached_settings()
    with mock_aws():
        settings = AppSettings.from_env()
        create_tables(settings)
        yield Store.create(settings, **kwargs)
    reset_cached_settings()
