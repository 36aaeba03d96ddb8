"""Fixtures for the SSO integration tests: the real handler (functions/sso/app.py) driven with API
Gateway v2 events in-process, the emulator's SSO app over real HTTP on 127.0.0.1, a fake account
directory, and a log capture checked after every test (S5)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "sso"))

import sso_support as s  # noqa: E402

from classlink_local.emulator.server import start_emulator  # noqa: E402
from classlink_local.emulator.sso_app import ClassLinkSsoApp  # noqa: E402
from classlink_local.lambda_runtime import load_module  # noqa: E402
from classlink_sync.sso.ledger import MemoryStateLedger  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def handler_module() -> ModuleType:
    return load_module(ROOT / "functions" / "sso" / "app.py")


@dataclass
class World:
    sso: ClassLinkSsoApp
    directory: s.FakeDirectory
    browser: s.Browser
    logs: s.LogCapture
    base_url: str
    handler: ModuleType

    def secrets(self) -> set[str]:
        return {s.CLIENT_SECRET, s.SESSION_KEY, *self.sso.issued, *self.browser.sensitive}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType) -> Iterator[World]:
    sso = ClassLinkSsoApp()
    sso.register_client(s.CLIENT_ID, s.CLIENT_SECRET, [s.REDIRECT_URI])
    directory = s.FakeDirectory()
    s.seed(sso, directory)
    # The shared emulator server (the SSO app mounted as a second EmulatorApp).
    with start_emulator(apps=[sso]) as emulator:
        base_url = emulator.url
        env = {
            "CLASSLINK_LAUNCHPAD_URL": base_url,
            "CLASSLINK_NODEAPI_URL": base_url,
            "SSO_REDIRECT_URI": s.REDIRECT_URI,
            "APP_URL": s.APP_URL,
            "SSO_ALLOWED_RETURN_PATHS": "/home,/classes",
            "CLASSLINK_CLIENT_ID": s.CLIENT_ID,
            "CLASSLINK_CLIENT_SECRET": s.CLIENT_SECRET,
            "SESSION_KEY": s.SESSION_KEY,
            "SSO_HTTP_TIMEOUT_SECONDS": "0.5",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("SSO_SECRET_ARN", raising=False)
        monkeypatch.delenv("SSO_STATE_TABLE", raising=False)
        handler_module.configure(directory=lambda: directory, ledger=MemoryStateLedger())
        # The package logger ("classlink_sync") takes the handler of the function module loaded
        # last in this process (the portal's, when a worker ran portal tests after loading this
        # one): give it the SSO function's again, as a cold start of the SSO function would.
        copy_config_to_registered_loggers(source_logger=handler_module.logger, include={"classlink_sync"})
        browser = s.Browser(handler_module.lambda_handler)
        with s.LogCapture(handler_module.logger.registered_handler) as logs:
            w = World(sso, directory, browser, logs, base_url, handler_module)
            yield w
        # S5, for every test: each request's correlation id is in the logs (so the capture works)
        # and no token, code, state, cookie value or secret is.
        text = logs.text
        for request_id in browser.request_ids:
            assert request_id in text, f"correlation id {request_id} missing from the logs"
        leaked = [v for v in w.secrets() if v and v in text]
        assert not leaked, f"secret values in the logs: {[v[:6] + '...' for v in leaked]}"
