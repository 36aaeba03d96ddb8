"""One botocore session per process (DESIGN.md "Conventions": a session parses botocore's data files,
and ten of them cost most of a second at every cold start)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from moto import mock_aws

from classlink_local.stack import reset_cached_settings
from classlink_sync import aws
from classlink_sync.settings import AppSettings
from classlink_sync.sso.ledger import DynamoStateLedger
from classlink_sync.store import districts, reports
from classlink_sync.store.context import Store
from classlink_sync.sync import dispatch

MODELS = ("Account", "Reservation", "Class", "Enrollment", "School", "District", "Tenant", "Run", "Lock")


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """A cold process as far as AWS clients go (every cache forgotten), under moto; yields the
    botocore sessions created from then on."""
    created: list[Any] = []
    init = botocore.session.Session.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        init(self, *args, **kwargs)

    with mock_aws():
        reset_cached_settings()
        aws.reset()
        monkeypatch.setattr(botocore.session.Session, "__init__", counting)
        yield created
    reset_cached_settings()


def test_store_and_every_client_of_the_process_share_one_botocore_session(sessions: list[Any]) -> None:
    settings = AppSettings.from_env()
    store = Store.create(settings)
    s3 = reports.s3_client(settings)
    sqs = dispatch.sqs_client(store)
    secrets = districts.secrets_client(settings)
    ledger_model = DynamoStateLedger("t-sso-state")._model_class()
    ledger_client = ledger_model._get_connection().connection.client

    assert sessions == [aws.botocore_session()]
    # All the store's models and its low-level calls send through one DynamoDB client.
    clients = {id(getattr(store.models, name)._get_connection().connection.client) for name in MODELS}
    assert clients == {id(store.calls.connection.client)}
    # The boto3 clients are built once per service and endpoint, on the same session.
    assert reports.s3_client(settings) is s3 and districts.secrets_client(settings) is secrets
    assert {s3.meta.service_model.service_name, sqs.meta.service_model.service_name} == {"s3", "sqs"}
    assert ledger_client.meta.service_model.service_name == "dynamodb"
    # A second store of the same settings (a test's, a warm invocation's) builds nothing new.
    Store.create(settings)
    assert len(sessions) == 1
