"""Portal unit tests: the real handler with API Gateway v2 events, the real store on moto in-process
(one moto world and one set of tables per module; each test takes districts of its own), ClassLink's
SSO side from the emulator's app through ``httpx.MockTransport`` (no network)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import portal_support as p
import sso_support

from classlink_local.emulator.sso_app import ClassLinkSsoApp
from classlink_local.inprocess import IN_PROCESS_ENV, in_process_store
from classlink_local.lambda_runtime import load_module
from classlink_local.stack import reset_cached_settings
from classlink_sync.portal.backend import StoreBackend
from classlink_sync.sso.oidc import ClassLinkOidc


@pytest.fixture(scope="session")
def sso_app() -> ClassLinkSsoApp:
    app = ClassLinkSsoApp(issuer=p.ISSUER)  # RSA key generation once per session
    app.register_client(p.CLIENT_ID, p.CLIENT_SECRET)
    return app


@pytest.fixture(scope="module")
def world(sso_app: ClassLinkSsoApp) -> Iterator[p.World]:
    env = {**IN_PROCESS_ENV, **p.PORTAL_ENV}
    saved = {key: os.environ.get(key) for key in [*env, "AWS_ENDPOINT_URL", "PORTAL_SECRET_ARN", "PORTAL_REDIRECT_URI"]}
    os.environ.update(env)
    for key in ("AWS_ENDPOINT_URL", "PORTAL_SECRET_ARN", "PORTAL_REDIRECT_URI"):
        os.environ.pop(key, None)
    reset_cached_settings()
    try:
        with in_process_store() as store:
            from classlink_sync import aws

            sqs = aws.client("sqs", store.settings)
            sqs.create_queue(QueueName=p.QUEUE_NAME)
            handler = load_module(p.ROOT / "functions" / "portal" / "app.py")
            clock = p.Clock()
            client = httpx.Client(transport=sso_support.emulator_transport(sso_app))
            settings_oidc = None

            def oidc() -> ClassLinkOidc:
                from classlink_sync.portal.settings import load_portal_settings

                nonlocal settings_oidc
                settings_oidc = load_portal_settings().oidc_settings()
                return ClassLinkOidc(settings_oidc, client=client)

            handler.configure(backend=lambda: StoreBackend(store), oidc=oidc, clock=clock)
            yield p.World(handler, store, sso_app, sqs, clock, client)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_cached_settings()


@pytest.fixture(autouse=True)
def _fresh_clock(world: p.World) -> Iterator[None]:
    world.clock.offset = 0.0
    world.messages()  # an empty queue for each test
    yield
    world.clock.offset = 0.0
