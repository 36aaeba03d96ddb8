"""ClassLink SSO sign-in behind the HTTP API (SPEC S1-S5): a thin handler.

Routes: ``GET /sso/classlink/login`` (also the LaunchPad launch URL) and
``GET /sso/classlink/callback``. Each route turns the API Gateway v2 event into an ``SsoRequest``,
makes one call into ``classlink_sync.sso.flow.SsoService`` and shapes the result. The service is
built on the first request (settings read once per cold start; a missing setting gives a friendly
page, not an init error). The store, httpx and PyJWT are imported only by the callback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from classlink_sync.errors import SsoConfigError
from classlink_sync.sso.cookies import parse_cookies
from classlink_sync.sso.directory import AccountDirectory, SigninAccountView
from classlink_sync.sso.flow import SsoRequest, SsoResult, SsoService, misconfigured_page
from classlink_sync.sso.ledger import StateLedger, build_ledger
from classlink_sync.sso.settings import load_settings

logger = Logger(service="sso")
logging.getLogger("classlink_sync")  # register the package logger so the core logs as JSON too
copy_config_to_registered_loggers(source_logger=logger, include={"classlink_sync"})
app = APIGatewayHttpResolver()


class StoreAccountDirectory:
    """The production ``AccountDirectory``: the store's one-read lookups (S2, S3)."""

    def __init__(self) -> None:
        from classlink_sync.store import accounts, districts

        self._find = accounts.find_signin_account
        self._district = districts.district_for_tenant

    def find(self, tenant_id: str, sourced_id: str) -> SigninAccountView | None:
        return self._find(tenant_id, sourced_id)

    def district_for_tenant(self, tenant_id: str) -> str | None:
        district = self._district(tenant_id)
        if district is None:
            return None
        return district if isinstance(district, str) else str(district.district_id)


# Production defaults; tests replace them with configure(...).
_directory_factory: Callable[[], AccountDirectory] = StoreAccountDirectory
_ledger: StateLedger | None = None
_service: SsoService | None = None


def configure(directory: Callable[[], AccountDirectory] | None = None, ledger: StateLedger | None = None) -> None:
    """Inject dependencies (tests, local serve) and forget the built service, so the next request
    reads the settings again."""
    global _directory_factory, _ledger, _service
    if directory is not None:
        _directory_factory = directory
    _ledger = ledger
    _service = None


def _get_service() -> SsoService:
    global _service
    if _service is None:
        settings = load_settings()
        _service = SsoService(settings, directory=_directory_factory, ledger=_ledger or build_ledger(settings))
    return _service


def _sso_request() -> SsoRequest:
    event = app.current_event
    correlation_id = logger.get_correlation_id() or str(uuid.uuid4())
    logger.set_correlation_id(correlation_id)
    return SsoRequest(
        query=dict(event.query_string_parameters or {}),
        cookies=parse_cookies(event.cookies, event.headers.get("cookie")),
        correlation_id=correlation_id,
        source_ip=event.request_context.http.source_ip,
        origin=f"https://{event.request_context.domain_name}" if event.request_context.domain_name else None,
    )


def _response(result: SsoResult) -> Response:
    cookies = [
        Cookie(c.name, c.value, path=c.path, secure=True, http_only=True, max_age=c.max_age,
               same_site=SameSite.LAX_MODE)
        for c in result.cookies
    ]  # fmt: skip
    return Response(status_code=result.status, body=result.body, headers=result.headers, cookies=cookies)


def _run(call: Callable[[SsoService, SsoRequest], SsoResult]) -> Response:
    req = _sso_request()
    try:
        service = _get_service()
    except SsoConfigError as exc:
        return _response(misconfigured_page(req, exc))
    return _response(call(service, req))


@app.get("/sso/classlink/login")
def login() -> Response:
    """S1: start the sign-in (also ClassLink LaunchPad's launch URL)."""
    return _run(SsoService.login)


@app.get("/sso/classlink/callback")
def callback() -> Response:
    """S2-S5: finish the sign-in."""
    return _run(SsoService.callback)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
