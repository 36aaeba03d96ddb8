"""The emulator's plug-in shape: the server parses each request into ``Request`` and asks each
mounted ``EmulatorApp`` in turn; the first that returns a ``Response`` answers. The OneRoster side
and the SSO side of ClassLink are two such apps on one server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)
class Request:
    method: str  # "GET", "POST"
    path: str  # decoded path without the query, e.g. "/ims/oneroster/v1p1/users"
    query: list[tuple[str, str]]  # decoded query parameters, in order
    headers: dict[str, str]  # header names lower-cased
    body: bytes
    url: str  # the absolute URL as the client addressed it (scheme://host:port/path?query)


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class EmulatorApp(Protocol):
    def handle(self, request: Request) -> Response | None:
        """Answer the request, or return None if it is not for this app."""
        ...
