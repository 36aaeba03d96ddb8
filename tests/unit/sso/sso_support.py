"""Test support for the SSO tests: a fake AccountDirectory, the demo dataset, an httpx transport
onto the emulator's SSO app (no network), a "browser"
that drives a handler with API Gateway v2 events, and a log capture."""

from __future__ import annotations

import http.client
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from classlink_local.emulator.http import EmulatorApp, Request
from classlink_local.emulator.sso_app import ClassLinkSsoApp
from classlink_local.lambda_runtime import LambdaContext
from classlink_local.serve import event_from_http

CLIENT_ID = "tis-sso-client"
CLIENT_SECRET = "client-secret-0123456789-abcdefghij"
SESSION_KEY = "session-key-0123456789-abcdefghijklmnopqrstuvwxyz"
APP_URL = "https://app.thisisschool.test/home"
REDIRECT_URI = "https://app.thisisschool.test/sso/classlink/callback"

OAK, ELM, PINE = 2, 7, 9  # ClassLink tenant ids (JSON numbers at ClassLink)


@dataclass(frozen=True, slots=True)
class FakeAccount:
    account_id: str
    district_id: str
    role: str
    active: bool = True
    managed: bool = True
    username: str | None = None
    email: str | None = None


@dataclass
class FakeDirectory:
    """``AccountDirectory`` keyed by (tenant id string, sourcedId); counts reads."""

    districts: dict[str, str] = field(default_factory=dict)  # tenant id -> district id
    accounts: dict[tuple[str, str], FakeAccount] = field(default_factory=dict)
    reads: list[tuple[str, ...]] = field(default_factory=list)

    def find(self, tenant_id: str, sourced_id: str) -> FakeAccount | None:
        assert isinstance(tenant_id, str), "tenant ids are compared as strings (R1)"
        self.reads.append(("find", tenant_id, sourced_id))
        return self.accounts.get((tenant_id, sourced_id))

    def district_for_tenant(self, tenant_id: str) -> str | None:
        assert isinstance(tenant_id, str)
        self.reads.append(("district", tenant_id))
        return self.districts.get(tenant_id)


# OneRoster user dicts as the emulator would serve them.
USERS: dict[str, dict[str, Any]] = {
    "teacher": {"sourcedId": "t-100", "username": "mfrancis", "email": "M.Francis@Oak.example",
                "givenName": "Marie", "familyName": "Francis", "role": "teacher"},
    "student": {"sourcedId": "s-200", "username": "jsmith12", "email": "",
                "givenName": "Jo", "familyName": "Smith", "role": "student"},
    "admin": {"sourcedId": "t-300", "username": "pprincipal", "email": "principal@oak.example",
              "givenName": "Pat", "familyName": "Principal", "role": "teacher"},
    "unsynced": {"sourcedId": "s-999", "username": "newkid", "email": "newkid@oak.example",
                 "givenName": "New", "familyName": "Kid", "role": "student"},
    "deactivated": {"sourcedId": "s-400", "username": "leaver", "email": "leaver@oak.example",
                    "givenName": "Lee", "familyName": "Ver", "role": "student"},
    "mismatch": {"sourcedId": "t-500", "username": "someone.else", "email": "someone.else@oak.example",
                 "givenName": "Sam", "familyName": "One", "role": "teacher"},
}  # fmt: skip


def seed(sso: ClassLinkSsoApp, directory: FakeDirectory) -> None:
    """Tenant OAK (district d-oak) with the users above; ELM is not onboarded; PINE (d-pine) is
    onboarded and has a user whose sourcedId equals OAK's teacher's but who is not synced."""
    directory.districts.update({str(OAK): "d-oak", str(PINE): "d-pine"})
    for key, user in USERS.items():
        sso.add_user(OAK, user, launchpad_role="Tenant Administrator" if key == "admin" else None)
    sso.add_user(ELM, {**USERS["teacher"], "username": "elmteacher", "email": "t@elm.example"})
    sso.add_user(PINE, {**USERS["teacher"], "username": "pineteacher", "email": "t@pine.example"})
    a = directory.accounts
    a[(str(OAK), "t-100")] = FakeAccount(
        "acc-teacher", "d-oak", "teacher", username="MFrancis", email="m.francis@oak.example"
    )
    a[(str(OAK), "s-200")] = FakeAccount("acc-student", "d-oak", "student", username="jsmith12")
    a[(str(OAK), "t-300")] = FakeAccount(
        "acc-admin", "d-oak", "teacher", username="pprincipal", email="principal@oak.example"
    )
    a[(str(OAK), "s-400")] = FakeAccount("acc-leaver", "d-oak", "student", active=False, username="leaver")
    a[(str(OAK), "t-500")] = FakeAccount("acc-t500", "d-oak", "teacher", username="t500user",
                                         email="t500@oak.example")  # fmt: skip


def emulator_request(request: httpx.Request) -> Request:
    return Request(
        method=request.method,
        path=request.url.path,
        query=list(parse_qsl(request.url.query.decode(), keep_blank_values=True)),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=request.read(),
        url=str(request.url),
    )


def emulator_transport(app: EmulatorApp) -> httpx.MockTransport:
    """httpx transport answering from an EmulatorApp in-process (unit tests: no network)."""

    def handle(request: httpx.Request) -> httpx.Response:
        response = app.handle(emulator_request(request))
        if response is None:
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(response.status, headers=response.headers, content=response.body)

    return httpx.MockTransport(handle)


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Browser:
    """A browser with a cookie jar that talks to the handler (in-process, v2 events) and to the
    emulator (over ``http``). Records every request id and every sensitive value it sees."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.jar: dict[str, str] = {}
        self.request_ids: list[str] = []
        self.sensitive: set[str] = set()
        self._n = 0

    def get(self, target: str, *, cookies: dict[str, str] | None = None) -> dict[str, Any]:
        self._n += 1
        request_id = f"req-{id(self) % 10_000}-{self._n}-test="
        self.request_ids.append(request_id)
        jar = self.jar if cookies is None else cookies
        headers = {"host": "app.thisisschool.test"}
        if jar:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        result = self.handler(event_from_http("GET", target, headers, request_id=request_id),
                              LambdaContext(aws_request_id=f"lambda-{self._n}"))  # fmt: skip
        for raw in result.get("cookies") or []:
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.sensitive.add(value)
            if "Max-Age=0" in raw or not value:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        location = (result.get("headers") or {}).get("Location", "")
        self._remember_query(location)
        return result

    def _remember_query(self, url: str) -> None:
        for key, value in parse_qsl(urlsplit(url).query):
            if key in ("state", "code", "nonce", "code_challenge") and len(value) > 8:
                self.sensitive.add(value)

    def authorize(self, location: str) -> str:
        """Follow the redirect to ClassLink; return the callback target (path?query) it sends back."""
        # http.client, not httpx: the browser is not our code, and httpx would log the URL.
        parts = urlsplit(location)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
        try:
            conn.request("GET", f"{parts.path}?{parts.query}")
            response = conn.getresponse()
            text = response.read().decode()
            assert response.status == 302, text
            back = response.getheader("Location") or ""
        finally:
            conn.close()
        self._remember_query(back)
        parts = urlsplit(back)
        return f"{parts.path}?{parts.query}"

    def login(self, return_to: str | None = None) -> dict[str, Any]:
        target = "/sso/classlink/login" + (f"?return_to={return_to}" if return_to else "")
        return self.get(target)

    def sign_in(self, return_to: str | None = None) -> dict[str, Any]:
        login = self.login(return_to)
        assert login["statusCode"] == 302, login.get("body")
        return self.get(self.authorize(login["headers"]["Location"]))


def _powertools_loggers() -> list[logging.Logger]:
    """The loggers Powertools configured (it marks them with an ``init`` attribute), the package
    logger, and their children."""
    names = list(logging.root.manager.loggerDict)
    # The handler copies its configuration to the package logger, so the core logs as JSON too.
    services = [n for n in names if getattr(logging.getLogger(n), "init", False)] + ["classlink_sync"]
    return [logging.getLogger(n) for n in names if any(n == s or n.startswith(s + ".") for s in services)]


class LogCapture:
    """Everything logged while active: the Powertools handler's stream and the root logger."""

    def __init__(self, powertools_handler: logging.StreamHandler | None = None) -> None:
        self.buffer = io.StringIO()
        self._pt = powertools_handler
        self._root_handler = logging.StreamHandler(self.buffer)
        self._root_handler.setLevel(logging.DEBUG)

    def __enter__(self) -> LogCapture:
        root = logging.getLogger()
        self._old_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self._root_handler)
        self._old_stream = self._pt.setStream(self.buffer) if self._pt is not None else None
        # Loggers of one service share a level for the whole process, set by whichever came first
        # (another test may have run the handlers at WARNING): capture at INFO, as deployed.
        self._service_loggers = [lg for lg in _powertools_loggers() if lg.level != logging.INFO]
        self._service_levels = [lg.level for lg in self._service_loggers]
        for lg in self._service_loggers:
            lg.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self._root_handler)
        root.setLevel(self._old_level)
        for lg, level in zip(self._service_loggers, self._service_levels, strict=True):
            lg.setLevel(level)
        if self._pt is not None and self._old_stream is not None:
            self._pt.setStream(self._old_stream)

    @property
    def text(self) -> str:
        return self.buffer.getvalue()
