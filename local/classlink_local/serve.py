"""Serve an API Gateway HTTP API (payload v2) Lambda handler on 127.0.0.1, so a browser can sign
in locally (``classlink-sync serve``). Each HTTP request becomes a v2 event for the real handler,
and the handler's result (statusCode, headers, cookies, body, isBase64Encoded) becomes the HTTP
response, with one ``Set-Cookie`` header per cookie, as API Gateway does.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from classlink_local.lambda_runtime import LambdaContext, load_module

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def event_from_http(
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    source_ip: str = "127.0.0.1",
    request_id: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event (``$default`` stage, ``routeKey`` "METHOD /path") for a
    request line target such as ``/sso/classlink/callback?code=..&state=..``."""
    parts = urlsplit(target)
    raw_path = parts.path or "/"
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    cookie_header = lowered.pop("cookie", "")
    cookies = [c.strip() for c in cookie_header.split(";") if c.strip()]
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value  # API Gateway joins repeats
    now = datetime.now(UTC)
    request_id = request_id or uuid.uuid4().hex[:15] + "="  # shaped like API Gateway's ids
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method.upper()} {unquote(raw_path)}",
        "rawPath": raw_path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "127",
            "http": {
                "method": method.upper(),
                "path": unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": f"{method.upper()} {unquote(raw_path)}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(body),
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = base64.b64encode(body).decode()
    return event


def http_from_result(result: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, header list (one ``Set-Cookie`` per cookie) and body bytes of a v2 handler result."""
    status = int(result.get("statusCode", 200))
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return status, headers, body


def load_handler(path: str | Path, attribute: str = "lambda_handler") -> LambdaHandler:
    """The handler function of a handler file (e.g. ``functions/sso/app.py``)."""
    handler: LambdaHandler = getattr(load_module(path), attribute)
    return handler


def route_by_prefix(default: LambdaHandler, routes: Mapping[str, LambdaHandler]) -> LambdaHandler:
    """One handler for several functions behind one HTTP API, as API Gateway's routes do: a request
    whose path is a prefix (``/portal``) or lies under it (``/portal/...``) goes to that prefix's
    handler, anything else to ``default`` (``classlink-sync serve``: the SSO and the portal)."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        path = str(event.get("rawPath") or "/")
        for prefix, handler in routes.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return handler(event, context)
        return default(event, context)

    return handle


def make_server(handler: LambdaHandler, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A threading HTTP server that answers every request through ``handler`` (not started)."""

    class _Bridge(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items()}
            event = event_from_http(self.command, self.path, headers, body, self.client_address[0])
            context = LambdaContext(function_name="sso-local", timeout_seconds=30)
            try:
                result = handler(event, context)
                status, out_headers, out_body = http_from_result(result)
            except Exception as exc:  # the handler crashed: show it like API Gateway would (500)
                status, out_headers = 500, [("Content-Type", "text/plain")]
                out_body = f"Internal Server Error ({type(exc).__name__})".encode()
            self.send_response(status)
            for key, value in out_headers:
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(out_body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out_body)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:  # request lines only, no query
            status = args[1] if len(args) > 1 else ""
            path = urlsplit(self.path).path  # never the query: it carries codes and states (S5)
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {self.command} {path} -> {status}\n")

    server = ThreadingHTTPServer((host, port), _Bridge)
    server.daemon_threads = True
    return server


def start_server(handler: LambdaHandler, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start :func:`make_server` in a daemon thread; returns the server and its base URL."""
    server = make_server(handler, port)
    thread = threading.Thread(target=server.serve_forever, name="sso-serve", daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
