"""Prove an SSO sign-in on the local stack (S1-S4): the real SSO handler served on 127.0.0.1
(``local.serve``), ClassLink's SSO side from the emulator, and the accounts the sync just wrote.

``sign_in`` walks the redirects like a browser: our login -> ClassLink authorize -> our callback
-> the app, carrying cookies by hand (they are ``Secure``; a browser on localhost keeps them, a
plain cookie jar over http would not).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urljoin

SESSION_COOKIE_PREFIX = "tis_session"


@dataclass
class SignInResult:
    ok: bool
    final_url: str
    status: int
    hops: list[str] = field(default_factory=list)  # paths visited (no query: it carries codes, S5)
    session_cookie: str | None = None  # the cookie's name (never its value)
    page: str = ""


@dataclass
class LocalSso:
    """The SSO function served locally, with the emulator's SSO app feeding it."""

    base_url: str  # our HTTP API on 127.0.0.1
    sso_app: Any  # ClassLinkSsoApp
    server: Any
    saved_env: dict[str, str | None] = field(default_factory=dict)

    @property
    def login_url(self) -> str:
        return f"{self.base_url}/sso/classlink/login"

    def staff_link(self, district_id: str, *, hours: float = 8) -> str:
        """S6: a signed staff link to the district's portal, served at this address."""
        from classlink_sync.portal.settings import PortalSecretResolver, load_portal_settings
        from classlink_sync.portal.stafflink import make_staff_link

        key = PortalSecretResolver(load_portal_settings()).key()
        return make_staff_link(key, district_id, hours=hours).url(self.base_url)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_local_sso(emulator: Any, tenant_id: str, users: list[dict[str, Any]]) -> LocalSso:
    """Mount ClassLink's SSO side on the running emulator, point the SSO settings at it, and serve
    the real handler; accounts are looked up in the store the sync wrote (S2, S3)."""
    import threading

    from classlink_local.emulator.sso_app import ClassLinkSsoApp
    from classlink_local.lambda_runtime import LambdaContext, load_handler_module
    from classlink_local.serve import make_server, route_by_prefix

    sso = ClassLinkSsoApp()
    sso.add_users(tenant_id, users)
    emulator.mount(sso)
    handlers: list[Any] = []
    server = make_server(lambda event, context: handlers[0](event, context), port=0)
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    client_id, client_secret = "this-is-school-local", secrets.token_urlsafe(24)
    sso.register_client(client_id, client_secret, [f"{base_url}/sso/classlink/callback"])
    env = {
        "CLASSLINK_LAUNCHPAD_URL": emulator.url,
        "CLASSLINK_NODEAPI_URL": emulator.url,
        "SSO_REDIRECT_URI": f"{base_url}/sso/classlink/callback",
        "APP_URL": f"{base_url}/app/",
        "SSO_ALLOWED_RETURN_PATHS": "/app/",
        "CLASSLINK_CLIENT_ID": client_id,
        "CLASSLINK_CLIENT_SECRET": client_secret,
        "SESSION_KEY": secrets.token_urlsafe(32),
        # The district portal (S6-S8) behind the same address, as `classlink-sync serve` serves it.
        "PORTAL_REDIRECT_URI": f"{base_url}/portal/callback",
        "PORTAL_KEY": secrets.token_urlsafe(32),
    }
    saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    module = load_handler_module("sso")
    module.configure()  # read the settings above on the next request
    portal = load_handler_module("portal")
    portal.configure()  # the portal reads the settings above on its next request
    handlers.append(
        route_by_prefix(
            lambda event, _ctx: module.lambda_handler(event, LambdaContext("sso", timeout_seconds=10)),
            {"/portal": lambda event, _ctx: portal.lambda_handler(event, LambdaContext("portal", timeout_seconds=29))},
        )
    )
    threading.Thread(target=server.serve_forever, name="sso-serve", daemon=True).start()
    return LocalSso(base_url=base_url, sso_app=sso, server=server, saved_env=saved_env)


def sign_in(login_url: str, app_url: str, *, max_hops: int = 8) -> SignInResult:
    """Follow the sign-in like a browser until it is sent to ``app_url`` (success when a session
    cookie was set on the way, S4) or stops at a page (a refusal, S3/S5)."""
    import httpx

    jar: dict[str, dict[str, str]] = {}  # host:port -> cookie name -> value
    url, hops = login_url, []
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        for _ in range(max_hops):
            parts = httpx.URL(url)
            origin = f"{parts.host}:{parts.port}"
            cookies = "; ".join(f"{k}={v}" for k, v in jar.get(origin, {}).items())
            response = http.get(url, headers={"Cookie": cookies} if cookies else {})
            hops.append(parts.path)
            for header in response.headers.get_list("set-cookie"):
                parsed: SimpleCookie = SimpleCookie()
                parsed.load(header)
                for name, morsel in parsed.items():
                    if morsel["max-age"] == "0" or not morsel.value:
                        jar.setdefault(origin, {}).pop(name, None)
                    else:
                        jar.setdefault(origin, {})[name] = morsel.value
            session = next((n for n in jar.get(origin, {}) if n.startswith(SESSION_COOKIE_PREFIX)), None)
            if response.status_code not in (301, 302, 303, 307, 308):
                return SignInResult(False, url, response.status_code, hops, session, response.text[:2000])
            url = urljoin(url, response.headers["location"])
            if url.startswith(app_url):
                return SignInResult(session is not None, url, response.status_code, hops, session)
    return SignInResult(False, url, 0, hops)
