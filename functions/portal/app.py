"""The district portal behind the HTTP API (SPEC S6-S8): a thin handler.

Routes ``/portal`` and ``/portal/...`` (template.yaml sends ``/portal`` and ``/portal/{proxy+}`` here).
Each route turns the API Gateway v2 event into a ``PortalRequest``, makes one call into
``classlink_sync.portal.service.PortalService`` and shapes the answer. The service is built on the
first request (settings read once per cold start); the store, httpx and PyJWT load on first use.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from classlink_sync.portal.backend import PortalBackend
from classlink_sync.portal.service import PortalRequest, PortalResult, PortalService, finish, message_page
from classlink_sync.portal.settings import PortalSecrets, load_portal_settings
from classlink_sync.sso.cookies import parse_cookies

logger = Logger(service="portal")
logging.getLogger("classlink_sync")  # register the package logger so the core logs as JSON too
copy_config_to_registered_loggers(source_logger=logger, include={"classlink_sync"})
app = APIGatewayHttpResolver()
MAX_FORM_BYTES = 16 * 1024


def _store_backend() -> PortalBackend:
    from classlink_sync.portal.backend import StoreBackend

    return StoreBackend()


# Production defaults; tests and local serve replace them with configure(...).
_options: dict[str, Any] = {}
_service: PortalService | None = None


def configure(
    backend: Callable[[], PortalBackend] | None = None,
    secrets: Callable[[], PortalSecrets] | None = None,
    oidc: Callable[[], Any] | None = None,
    clock: Callable[[], float] | None = None,
) -> None:
    """Inject dependencies (tests, local serve) and forget the built service, so the next request
    reads the settings again."""
    global _service
    _options.clear()
    _options.update({k: v for k, v in {"secrets": secrets, "oidc": oidc, "clock": clock}.items() if v is not None})
    _options["backend"] = backend or _store_backend
    _service = None


def _get_service() -> PortalService:
    global _service
    if _service is None:
        backend = _options.get("backend", _store_backend)
        _service = PortalService(
            load_portal_settings(), backend, **{k: v for k, v in _options.items() if k != "backend"}
        )
    return _service


def _request() -> PortalRequest:
    event = app.current_event
    correlation_id = logger.get_correlation_id() or str(uuid.uuid4())
    logger.set_correlation_id(correlation_id)
    form: dict[str, str] = {}
    if event.http_method == "POST" and event.body and len(event.body) <= MAX_FORM_BYTES * 2:
        form = {k: v for k, v in reversed(parse_qsl(event.decoded_body or "", keep_blank_values=True))}
    domain = event.request_context.domain_name
    return PortalRequest(
        method=event.http_method,
        path=event.path,
        query=dict(event.query_string_parameters or {}),
        cookies=parse_cookies(event.cookies, event.headers.get("cookie")),
        correlation_id=correlation_id,
        form=form,
        origin=f"https://{domain}" if domain else None,
        source_ip=event.request_context.http.source_ip,
    )


def _response(result: PortalResult) -> Response:
    cookies = [
        Cookie(c.name, c.value, path=c.path, secure=True, http_only=True, max_age=c.max_age,
               same_site=SameSite.STRICT_MODE if c.same_site == "Strict" else SameSite.LAX_MODE)
        for c in result.cookies
    ]  # fmt: skip
    return Response(status_code=result.status, body=result.body, headers=result.headers, cookies=cookies)


def _run(route: Callable[..., PortalResult], *args: str) -> Response:
    req = _request()
    try:
        service = _get_service()
    except Exception:  # settings invalid: a friendly page naming nothing secret (S8)
        logger.exception("portal is misconfigured")
        return _response(finish(message_page(req, "misconfigured"), req))
    return _response(service.handle(req, getattr(service, route.__name__), *args))


@app.get("/portal")
@app.get("/portal/")
def index() -> Response:
    return _run(PortalService.index)


@app.get("/portal/login")
def login() -> Response:
    """S6: start the ClassLink sign-in."""
    return _run(PortalService.login)


@app.get("/portal/callback")
def callback() -> Response:
    """S6: finish the ClassLink sign-in (Tenant Administrator of an onboarded district)."""
    return _run(PortalService.callback)


@app.post("/portal/logout")
def logout() -> Response:
    return _run(PortalService.logout)


@app.get("/portal/static/portal.css")
def stylesheet() -> Response:
    return _run(PortalService.stylesheet)


@app.get("/portal/districts/<district_id>")
@app.get("/portal/districts/<district_id>/")
def overview(district_id: str) -> Response:
    return _run(PortalService.overview, district_id)


@app.get("/portal/districts/<district_id>/staff")
def staff(district_id: str) -> Response:
    """S6: a staff link (``classlink-sync portal-link``)."""
    return _run(PortalService.staff, district_id)


@app.get("/portal/districts/<district_id>/runs")
def history(district_id: str) -> Response:
    return _run(PortalService.history, district_id)


@app.get("/portal/districts/<district_id>/runs/<run_id>")
def run(district_id: str, run_id: str) -> Response:
    return _run(PortalService.run, district_id, run_id)


@app.get("/portal/districts/<district_id>/runs/<run_id>/issues.csv")
def run_csv(district_id: str, run_id: str) -> Response:
    return _run(PortalService.run_csv, district_id, run_id)


@app.post("/portal/districts/<district_id>/runs/<run_id>/approve")
def approve(district_id: str, run_id: str) -> Response:
    return _run(PortalService.approve, district_id, run_id)


@app.post("/portal/districts/<district_id>/runs/<run_id>/discard")
def discard(district_id: str, run_id: str) -> Response:
    return _run(PortalService.discard, district_id, run_id)


@app.route("/portal/districts/<district_id>/runs/<run_id>/undo", method=["GET", "POST"])
def undo(district_id: str, run_id: str) -> Response:
    return _run(PortalService.undo, district_id, run_id)


@app.get("/portal/districts/<district_id>/readiness")
def readiness(district_id: str) -> Response:
    return _run(PortalService.readiness, district_id)


@app.post("/portal/districts/<district_id>/readiness")
def dry_run(district_id: str) -> Response:
    """R12/S7: start a readiness dry run (at most once an hour)."""
    return _run(PortalService.dry_run, district_id)


@app.not_found
def not_found(exc: Exception) -> Response:
    req = _request()
    try:
        return _response(_get_service().not_found(req))
    except Exception:
        return _response(finish(message_page(req, "not_found"), req))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
