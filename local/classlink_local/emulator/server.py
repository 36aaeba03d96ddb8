"""The emulator's HTTP server: stdlib ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive) on 127.0.0.1.

Generic: each request is parsed into ``http.Request`` and offered to the mounted apps in turn
(``http.EmulatorApp``); the OneRoster app is one, the SSO side of ClassLink another. Every
request is counted per path in a ``RequestLog``. ``start_emulator`` runs it in a background
thread for tests, benchmarks and ``make run``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .dataset import Dataset
from .faults import Faults
from .http import EmulatorApp, Request, Response
from .oneroster_app import PREFIX, OneRosterApp

AppOrFactory = EmulatorApp | Callable[[str], EmulatorApp]


@dataclass(slots=True, frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    status: int
    at: float


class RequestLog:
    """Counts of the requests the server received, per path, with the last ones kept."""

    def __init__(self, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._by_path: Counter[str] = Counter()
        self._by_status: Counter[int] = Counter()
        self._entries: deque[LoggedRequest] = deque(maxlen=keep)

    def record(self, method: str, path: str, query: list[tuple[str, str]], status: int) -> None:
        with self._lock:
            self._by_path[path] += 1
            self._by_status[status] += 1
            self._entries.append(LoggedRequest(method, path, tuple(query), status, time.time()))

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_path.values())

    def count(self, suffix: str = "", *, status: int | None = None) -> int:
        """Requests whose path ends with ``suffix`` (all when empty), optionally of one status."""
        with self._lock:
            if status is None:
                return sum(n for p, n in self._by_path.items() if p.endswith(suffix))
            return sum(1 for e in self._entries if e.path.endswith(suffix) and e.status == status)

    def by_path(self) -> dict[str, int]:
        with self._lock:
            return dict(self._by_path)

    def by_status(self) -> dict[int, int]:
        with self._lock:
            return dict(self._by_status)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        with self._lock:
            self._by_path.clear()
            self._by_status.clear()
            self._entries.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], apps: list[EmulatorApp], log: RequestLog) -> None:
        super().__init__(address, _Handler)
        self.apps = apps
        self.log = log


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the RequestLog counts
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _dispatch(self) -> None:
        raw = self.path
        split = urlsplit(raw)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        host = headers.get("host") or "{}:{}".format(*self.server.server_address[:2])
        target = raw if not split.scheme else (split.path + (f"?{split.query}" if split.query else ""))
        request = Request(
            method=self.command,
            path=unquote(split.path),
            query=parse_qsl(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            url=f"http://{host}{target}",
        )
        response: Response | None = None
        try:
            for app in list(self.server.apps):
                response = app.handle(request)
                if response is not None:
                    break
        except Exception as exc:  # an emulator bug must still answer, visibly
            response = Response(
                500,
                {"Content-Type": "application/json"},
                json.dumps({"error": f"emulator error: {exc!r}"}).encode(),
            )
        if response is None:
            response = Response(
                404,
                {"Content-Type": "application/json"},
                json.dumps({"error": f"no emulator app serves {request.path}"}).encode(),
            )
        self.server.log.record(request.method, request.path, request.query, response.status)
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class EmulatorHandle:
    """A running emulator: ``url`` (root), ``base_url`` (OneRoster), credentials, data, faults."""

    def __init__(
        self, server: _Server, thread: threading.Thread, oneroster: OneRosterApp | None, log: RequestLog
    ) -> None:
        self._server = server
        self._thread = thread
        host, port = server.server_address[:2]
        self.port: int = int(port)
        self.url = f"http://{host!s}:{port}"
        self.base_url = f"{self.url}{PREFIX}"
        self.oneroster = oneroster
        self.requests = log
        self.dataset: Dataset | None = oneroster.dataset if oneroster else None
        self.faults: Faults | None = oneroster.faults if oneroster else None
        self.client_id = oneroster.client_id if oneroster else None
        self.client_secret = oneroster.client_secret if oneroster else None
        self.bearer_token = oneroster.bearer_token if oneroster else None

    @property
    def apps(self) -> list[EmulatorApp]:
        return self._server.apps

    def mount(self, app: AppOrFactory) -> EmulatorApp:
        """Mount another app (an ``EmulatorApp``, or a factory called with the root URL)."""
        mounted = _resolve(app, self.url)
        self._server.apps.append(mounted)
        return mounted

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI's foreground mode)."""
        try:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _resolve(app: AppOrFactory, root: str) -> EmulatorApp:
    if isinstance(app, type) or not hasattr(app, "handle"):
        return app(root)  # a factory (or an app class) taking the root URL
    return app


def start_emulator(
    dataset: Dataset | None = None,
    *,
    apps: Iterable[AppOrFactory] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    client_id: str = "emulator-client-id",
    client_secret: str = "emulator-client-secret",
    bearer_token: str | None = None,
    max_limit: int = 1000,
    faults: Faults | str | None = None,
    seed: int = 0,
) -> EmulatorHandle:
    """Start the emulator in a background thread (port 0 = a free port) and return its handle.

    With a ``dataset`` the OneRoster app serves it (OAuth 1.0a with ``client_id``/``client_secret``,
    or ``bearer_token``); ``apps`` are mounted after it (instances, or factories taking the root URL,
    e.g. the SSO app). ``faults`` is a ``Faults`` or a text spec (``faults.parse_faults``).
    """
    if isinstance(faults, str):
        spec, faults = faults, Faults(seed=seed)
        faults.load(spec)
    mounted: list[EmulatorApp] = []
    oneroster = None
    if dataset is not None:
        oneroster = OneRosterApp(
            dataset,
            client_id=client_id,
            client_secret=client_secret,
            bearer_token=bearer_token,
            max_limit=max_limit,
            faults=faults if faults is not None else Faults(seed=seed),
        )
        mounted.append(oneroster)
    log = RequestLog()
    server = _Server((host, port), mounted, log)
    root = "http://{}:{}".format(*server.server_address[:2])
    mounted.extend(_resolve(app, root) for app in apps)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="classlink-emulator", daemon=True
    )
    thread.start()
    return EmulatorHandle(server, thread, oneroster, log)
