"""S6-S8 over real HTTP: ``classlink-sync serve``'s server (the SSO and the portal behind one address,
``/portal`` and below to the portal's handler), ClassLink's SSO side from the emulator on 127.0.0.1,
the store on moto in-process. The logs of the whole sign-in carry no code, token, state, cookie,
staff link or secret."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import sys
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "sso"))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "portal"))

import portal_support as p  # noqa: E402
import sso_support as s  # noqa: E402

from classlink_local.emulator.server import start_emulator  # noqa: E402
from classlink_local.emulator.sso_app import ClassLinkSsoApp  # noqa: E402
from classlink_local.inprocess import IN_PROCESS_ENV, in_process_store  # noqa: E402
from classlink_local.lambda_runtime import load_module  # noqa: E402
from classlink_local.serve import make_server, route_by_prefix  # noqa: E402
from classlink_local.stack import reset_cached_settings  # noqa: E402
from classlink_sync.portal.backend import StoreBackend  # noqa: E402
from classlink_sync.portal.stafflink import make_staff_link  # noqa: E402
from classlink_sync.sso.ledger import MemoryStateLedger  # noqa: E402

pytestmark = pytest.mark.integration


class Client:
    """A browser over HTTP (``http.client``: httpx would log the URLs, and a browser is not our
    code): follows nothing by itself, keeps cookies per host:port (they are Secure; a browser on
    127.0.0.1 keeps them), remembers every cookie value and long query value it saw."""

    def __init__(self) -> None:
        self.jar: dict[str, dict[str, str]] = {}
        self.seen: set[str] = set()

    def request(self, method: str, url: str) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(url)
        origin = parts.netloc
        cookies = "; ".join(f"{k}={v}" for k, v in self.jar.get(origin, {}).items())
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        try:
            conn.request(method, f"{parts.path}?{parts.query}" if parts.query else parts.path,
                         headers={"Cookie": cookies} if cookies else {})  # fmt: skip
            response = conn.getresponse()
            body = response.read().decode("utf-8", "replace")
            headers = {k.lower(): v for k, v in response.getheaders()}
            set_cookies = response.msg.get_all("Set-Cookie") or []
        finally:
            conn.close()
        for header in set_cookies:
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.jar.setdefault(origin, {}).pop(name, None)
                else:
                    self.jar.setdefault(origin, {})[name] = morsel.value
                    self.seen.add(morsel.value)
        self.seen.update(v for k, v in parse_qsl(urlsplit(headers.get("location", "")).query) if len(v) > 8)
        return response.status, headers, body

    def follow(self, url: str, *, hops: int = 6) -> tuple[str, int, dict[str, str], str]:
        for _ in range(hops):
            status, headers, body = self.request("GET", url)
            if status not in (302, 303):
                return url, status, headers, body
            url = urljoin(url, headers["location"])
        raise AssertionError("too many redirects")


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, Any]]:
    sso = ClassLinkSsoApp()
    saved = {k: os.environ.get(k) for k in [*IN_PROCESS_ENV, *p.PORTAL_ENV, "PORTAL_REDIRECT_URI", "AWS_ENDPOINT_URL"]}
    server = make_server(lambda event, context: handler[0](event, context), port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    handler: list[Any] = []
    with start_emulator(apps=[sso]) as emulator:
        sso.register_client(p.CLIENT_ID, p.CLIENT_SECRET, [f"{base}/portal/callback", f"{base}/sso/classlink/callback"])
        os.environ.update({**IN_PROCESS_ENV, **p.PORTAL_ENV, "CLASSLINK_LAUNCHPAD_URL": emulator.url,
                           "CLASSLINK_NODEAPI_URL": emulator.url, "PORTAL_REDIRECT_URI": f"{base}/portal/callback",
                           "SSO_REDIRECT_URI": f"{base}/sso/classlink/callback", "APP_URL": f"{base}/app/",
                           "SESSION_KEY": s.SESSION_KEY})  # fmt: skip
        os.environ.pop("AWS_ENDPOINT_URL", None)
        reset_cached_settings()
        import threading

        with in_process_store() as store:
            from classlink_sync import aws

            aws.client("sqs", store.settings).create_queue(QueueName=p.QUEUE_NAME)
            portal = load_module(ROOT / "functions" / "portal" / "app.py")
            portal.configure(backend=lambda: StoreBackend(store))
            sso_handler = load_module(ROOT / "functions" / "sso" / "app.py")
            sso_handler.configure(directory=lambda: s.FakeDirectory(), ledger=MemoryStateLedger())
            handler.append(route_by_prefix(sso_handler.lambda_handler, {"/portal": portal.lambda_handler}))
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                yield {
                    "base": base,
                    "sso": sso,
                    "store": store,
                    "portal": portal,
                    "emulator": emulator,
                    "sso_handler": sso_handler,
                }
            finally:
                server.shutdown()
                server.server_close()
                portal.configure()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_cached_settings()


def test_S6_S8_administrator_signs_in_over_http_and_nothing_secret_is_logged(served) -> None:
    from classlink_sync.store.districts import add_district

    base, sso, store, portal = served["base"], served["sso"], served["store"], served["portal"]
    add_district(
        "http-isd", tenant_id="4242", oneroster_url="https://example.invalid/x", client_id="k", client_secret="s",
        schools="all", enable_from=dt.date.today(), override_notice=True, store=store,
    )  # fmt: skip
    sso.add_user(4242, {"sourcedId": "a-1", "username": "admin", "givenName": "Ada", "familyName": "Admin",
                        "role": "administrator"})  # fmt: skip
    sso.sign_in_as("a-1", 4242)
    client = Client()
    sso_logger = served["sso_handler"].logger.registered_handler
    with s.LogCapture(portal.logger.registered_handler) as logs, s.LogCapture(sso_logger) as sso_logs:
        url, status, headers, body = client.follow(f"{base}/portal/login")
        assert status == 200, body[:300]
        assert url.endswith("/portal/districts/http-isd/")
        assert "ClassLink sync of http-isd" in body
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert client.request("GET", f"{base}/portal/static/portal.css")[1]["content-type"].startswith("text/css")
        link = make_staff_link(p.PORTAL_KEY.encode(), "http-isd", hours=1)
        staff = Client()
        assert staff.follow(link.url(base))[1] == 200
        # The SSO's routes are still the SSO's (one server, routed by path as the HTTP API does).
        login = client.request("GET", f"{base}/sso/classlink/login")
        assert login[1]["location"].startswith(served["emulator"].url)
    text = logs.text + sso_logs.text
    assert "portal.signed_in" in text and "portal.staff_signed_in" in text
    secrets = {p.CLIENT_SECRET, p.PORTAL_KEY, link.token, *sso.issued, *client.seen, *staff.seen}
    leaked = [v[:6] + "..." for v in secrets if v and v in text]
    assert not leaked, f"secret values in the logs: {leaked}"
