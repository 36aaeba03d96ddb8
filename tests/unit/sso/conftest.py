"""Unit-test fixtures for SSO: the core with a fake directory and the emulator's SSO app reached
through ``httpx.MockTransport`` (no network)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sso_support as s

from classlink_local.emulator.sso_app import ClassLinkSsoApp
from classlink_sync.sso.flow import SsoService
from classlink_sync.sso.ledger import MemoryStateLedger
from classlink_sync.sso.oidc import ClassLinkOidc
from classlink_sync.sso.settings import SsoSecrets, SsoSettings

ISSUER = "https://launchpad.classlink.test"


@pytest.fixture(scope="session")
def sso_app_session() -> ClassLinkSsoApp:
    return ClassLinkSsoApp(issuer=ISSUER)  # RSA key generation once per session


@pytest.fixture
def sso_app(sso_app_session: ClassLinkSsoApp) -> ClassLinkSsoApp:
    app = sso_app_session
    app.__post_init__()  # fresh users, codes, keys and counters
    from classlink_local.emulator.sso_app import SsoFaults

    app.faults = SsoFaults()
    app.register_client(s.CLIENT_ID, s.CLIENT_SECRET, [s.REDIRECT_URI])
    return app


@pytest.fixture
def settings() -> SsoSettings:
    return SsoSettings(
        launchpad_url=ISSUER,
        nodeapi_url="https://nodeapi.classlink.test",
        redirect_uri=s.REDIRECT_URI,
        app_url=s.APP_URL,
        allowed_return_paths=("/home", "/classes"),
        client_id=s.CLIENT_ID,
        client_secret=s.CLIENT_SECRET,
        session_key=s.SESSION_KEY,
    )


@pytest.fixture
def directory(sso_app: ClassLinkSsoApp) -> s.FakeDirectory:
    d = s.FakeDirectory()
    s.seed(sso_app, d)
    return d


@pytest.fixture
def service(settings: SsoSettings, directory: s.FakeDirectory, sso_app: ClassLinkSsoApp) -> SsoService:
    client = httpx.Client(transport=s.emulator_transport(sso_app))
    return SsoService(
        settings,
        directory=lambda: directory,
        ledger=MemoryStateLedger(),
        oidc=lambda: ClassLinkOidc(settings, client=client),
        secrets=lambda: SsoSecrets(s.CLIENT_ID, s.CLIENT_SECRET, s.SESSION_KEY.encode()),
    )
