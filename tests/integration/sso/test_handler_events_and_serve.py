"""The handler with the sample events (sam local invoke -e), and `serve` over real HTTP."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from classlink_local.lambda_runtime import LambdaContext
from classlink_local.serve import start_server

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_sample_login_event(world) -> None:
    event = json.loads((ROOT / "events" / "sso_login.json").read_text())
    world.browser.request_ids.append(event["requestContext"]["requestId"])
    result = world.handler.lambda_handler(event, LambdaContext(aws_request_id="x"))
    assert result["statusCode"] == 302
    assert result["headers"]["Location"].startswith(world.base_url + "/oauth2/v2/auth?")
    assert result["cookies"][0].startswith("tis_sso_login=")
    world.browser.sensitive.add(result["cookies"][0].split(";")[0].split("=", 1)[1])
    world.browser.sensitive.add(parse_qs(urlsplit(result["headers"]["Location"]).query)["state"][0])


def test_sample_callback_event_without_a_valid_login_cookie_restarts(world) -> None:
    event = json.loads((ROOT / "events" / "sso_callback.json").read_text())
    world.browser.request_ids.append(event["requestContext"]["requestId"])
    world.browser.sensitive.update({"example-authorization-code", "example-unsigned-login-cookie"})
    result = world.handler.lambda_handler(event, LambdaContext(aws_request_id="x"))
    assert result["statusCode"] == 302 and "/oauth2/v2/auth?" in result["headers"]["Location"]
    world.browser.sensitive.add(parse_qs(urlsplit(result["headers"]["Location"]).query)["state"][0])


def test_serve_answers_a_browser_over_http(world) -> None:
    server, url = start_server(world.handler.lambda_handler)
    try:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request("GET", "/sso/classlink/login?return_to=%2Fhome")
        response = conn.getresponse()
        response.read()
        assert response.status == 302
        assert response.getheader("Location").startswith(world.base_url + "/oauth2/v2/auth?")
        cookies = response.msg.get_all("Set-Cookie")
        assert len(cookies) == 1 and "HttpOnly" in cookies[0]
        world.browser.sensitive.add(cookies[0].split(";")[0].split("=", 1)[1])
        conn.request("GET", "/nope")
        missing = conn.getresponse()
        missing.read()
        assert missing.status == 404
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
