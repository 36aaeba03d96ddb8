"""S8: every ClassLink string is escaped, every answer carries a strict CSP, no framing and no-store,
every POST needs the session's CSRF token, errors are friendly pages with a correlation id, and the
403 page says nothing of another district."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import portal_support as p
import pytest

from classlink_sync.errors import SettingsError
from classlink_sync.portal.backend import StoreBackend
from classlink_sync.portal.stafflink import make_staff_link
from classlink_sync.rules.plan import Issue
from classlink_sync.store import runs

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def base(t: p.Tenant) -> str:
    return f"/portal/districts/{t.district_id}"


def assert_safe_headers(result: dict[str, Any], what: str) -> None:
    headers = result["headers"]
    assert headers["Content-Security-Policy"] == CSP, what
    assert headers["X-Frame-Options"] == "DENY", what
    assert headers["Cache-Control"] == "no-store", what
    assert headers["X-Content-Type-Options"] == "nosniff", what
    assert headers["Referrer-Policy"] == "no-referrer", what
    assert headers["X-Correlation-Id"], what


@pytest.fixture
def restore_handler(world):
    yield
    from classlink_sync.sso.oidc import ClassLinkOidc

    def oidc() -> ClassLinkOidc:
        from classlink_sync.portal.settings import load_portal_settings

        return ClassLinkOidc(load_portal_settings().oidc_settings(), client=world.oidc_client)

    world.handler.configure(backend=lambda: StoreBackend(world.store), oidc=oidc, clock=world.clock)


def test_S8_classlink_strings_render_as_text(world) -> None:
    t = world.district(schools=["sch-1"])
    world.school(t.district_id, "sch-1", p.XSS_NAME)
    world.sso.add_user(int(t.tenant_id), {"sourcedId": "evil-admin", "username": "evil", "givenName": p.XSS_NAME,
                                          "familyName": "Admin", "role": "administrator"})  # fmt: skip
    issues = [
        Issue("R7", "class", p.XSS_NAME, f"Class {p.XSS_TITLE} has no subject", "title"),
        Issue("R4", "user", "u-1", f"User {p.XSS_NAME} has no username", p.XSS_NAME),
    ]
    run_id = world.run(t.district_id, issues=issues)
    held = world.held_run(t.district_id, title=p.XSS_TITLE)
    world.rewrite_report(t.district_id, run_id, issues=[
        {"rule": "R7", "entity": "class", "sourced_id": "c-1", "school": p.XSS_NAME, "field": "title",
         "message": f"Class {p.XSS_TITLE}", "stale": False},
        *[dataclasses.asdict(i) for i in issues],
    ], guard_reasons=[p.XSS_TITLE], incomplete_reasons=[p.XSS_NAME])  # fmt: skip
    browser = world.browser()
    assert world.sign_in(browser, t, "evil-admin")["statusCode"] == 302
    pages = [
        browser.get(base(t) + "/"),
        browser.get(f"{base(t)}/runs"),
        browser.get(f"{base(t)}/runs/{run_id}"),
        browser.get(f"{base(t)}/runs/{run_id}?q={p.XSS_TITLE}&school={p.XSS_NAME}"),
        browser.get(f"{base(t)}/runs/{held}"),
        browser.get(f"{base(t)}/readiness"),
    ]
    for result in pages:
        body = result["body"]
        assert result["statusCode"] == 200
        assert "<script" not in body and "<img" not in body and "onerror=alert(1)>" not in body
    run_body = pages[2]["body"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in run_body  # shown, as text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in run_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[4]["body"]  # the held plan's class title
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt; Admin" in pages[0]["body"]  # the administrator's name
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in pages[0]["body"].split("Licensed schools")[1]


def test_S8_no_page_carries_script_inline_style_or_event_handler(world) -> None:
    t = world.district()
    run_id = world.run(t.district_id, issues=p.issues(5))
    held = world.held_run(t.district_id)
    browser = world.signed_in(t)
    for path in ("/", "/runs", f"/runs/{run_id}", f"/runs/{held}", f"/runs/{run_id}/undo", "/readiness"):
        body = browser.get(base(t) + path)["body"]
        assert not re.search(r"<script|\sstyle=|\son[a-z]+=|javascript:", body, re.IGNORECASE), path


def test_S8_security_headers_on_every_answer(world) -> None:
    t, other = world.district(), world.district()
    run_id = world.run(t.district_id, issues=p.issues(3))
    held = world.held_run(t.district_id)
    browser = world.signed_in(t)
    anonymous = world.browser()
    answers = {
        "sign-in page": anonymous.get("/portal/"),
        "login redirect": anonymous.get("/portal/login"),
        "callback refused": anonymous.get("/portal/callback?error=access_denied"),
        "anonymous district page": anonymous.get(base(t) + "/"),
        "overview": browser.get(base(t) + "/"),
        "history": browser.get(base(t) + "/runs"),
        "run": browser.get(f"{base(t)}/runs/{run_id}"),
        "csv": browser.get(f"{base(t)}/runs/{run_id}/issues.csv"),
        "held run": browser.get(f"{base(t)}/runs/{held}"),
        "stylesheet": browser.get("/portal/static/portal.css"),
        "undo": browser.get(f"{base(t)}/runs/{run_id}/undo"),
        "readiness": browser.get(f"{base(t)}/readiness"),
        "403 other district": browser.get(base(other) + "/"),
        "403 csrf": browser.post(f"{base(t)}/runs/{held}/discard", {"csrf": "nope"}),
        "403 bad link": anonymous.get(f"{base(t)}/staff?t=forged"),
        "404 page": browser.get("/portal/nothing-here"),
        "404 run": browser.get(f"{base(t)}/runs/20990101T000000Z-000000"),
        "409 not held": browser.post(f"{base(t)}/runs/{run_id}/approve", {"csrf": browser.csrf()}),
        "303 after a POST": browser.post(f"{base(t)}/readiness", {"csrf": browser.csrf()}),
        "429 too soon": browser.post(f"{base(t)}/readiness", {"csrf": browser.csrf()}),
        "sign out": browser.post("/portal/logout", {"csrf": browser.csrf()}),
    }
    for what, result in answers.items():
        assert_safe_headers(result, what)
    assert answers["stylesheet"]["headers"]["Content-Type"] == "text/css; charset=utf-8"
    assert answers["404 page"]["statusCode"] == 404


def test_S8_every_post_needs_the_session_csrf_token(world) -> None:
    t = world.district()
    held = world.held_run(t.district_id)
    browser = world.signed_in(t)
    other = world.signed_in(t)  # the same district, another session: another token
    token = browser.csrf()
    assert token and token != other.csrf()
    url = f"{base(t)}/runs/{held}/approve"
    attempts = {
        "no token": ({}, None),
        "wrong token": ({"csrf": "x" * len(token)}, None),
        "another session's token": ({"csrf": other.csrf()}, None),
        "form without the cookie": ({"csrf": token}, {k: v for k, v in browser.jar.items() if k != "tis_portal_csrf"}),
        "cookie and form of another session": (
            {"csrf": other.csrf()},
            {**browser.jar, "tis_portal_csrf": other.csrf()},
        ),
    }
    for what, (form, cookies) in attempts.items():
        kw = {"cookies": cookies} if cookies is not None else {}
        result = browser.post(url, form, **kw)
        assert result["statusCode"] == 403, what
        assert "This form has expired" in p.text_of(result), what
    for path in (f"/runs/{held}/discard", "/readiness", f"/runs/{held}/undo"):
        assert browser.post(base(t) + path, {})["statusCode"] == 403, path
    assert browser.post("/portal/logout", {})["statusCode"] == 403
    assert world.messages() == []
    record = runs.get_run(t.district_id, held, world.store)
    assert record.status == "held" and record.review is None
    assert browser.post(url, {"csrf": token})["statusCode"] == 303  # the genuine form goes through


def test_S8_the_403_page_leaks_nothing_of_another_district(world) -> None:
    mine, other = world.district(), world.district()
    secret_run = world.run(other.district_id, issues=[Issue("R7", "class", "c-1", "Secret Class Title", "title")])
    browser = world.signed_in(mine)

    def page(district_id: str, path: str) -> str:
        result = browser.get(f"/portal/districts/{district_id}{path}")
        assert result["statusCode"] == 403
        return result["body"].replace(result["headers"]["X-Correlation-Id"], "ID")

    for path in ("/", f"/runs/{secret_run}", "/runs"):
        existing, missing = page(other.district_id, path), page("no-such-district", path)
        assert existing == missing  # the same page whether the district exists or not
        assert other.district_id not in existing and "Secret Class Title" not in existing
        assert secret_run not in existing


def test_S8_errors_are_friendly_pages_with_a_correlation_id(world, restore_handler) -> None:
    t = world.district()
    browser = world.signed_in(t)

    class Broken(StoreBackend):
        def runs(self, district_id: str, *, limit: int) -> list[Any]:
            raise RuntimeError("database password is hunter2")

    world.handler.configure(backend=lambda: Broken(world.store), clock=world.clock)
    result = browser.get(base(t) + "/runs")
    assert result["statusCode"] == 500
    assert_safe_headers(result, "500")
    correlation_id = result["headers"]["X-Correlation-Id"]
    assert correlation_id == browser.request_ids[-1]
    assert f'<code id="correlation-id">{correlation_id}</code>' in result["body"]
    assert "Something went wrong" in result["body"]
    assert (
        "hunter2" not in result["body"] and "Traceback" not in result["body"] and "RuntimeError" not in result["body"]
    )


def test_S8_a_misconfigured_portal_shows_a_friendly_page(world, restore_handler) -> None:
    def no_secrets() -> Any:
        raise SettingsError("portal setting PORTAL_KEY (or portal_key in PORTAL_SECRET_ARN) is not set")

    world.handler.configure(backend=lambda: StoreBackend(world.store), secrets=no_secrets, clock=world.clock)
    t = world.district()
    browser = world.browser()
    for path in ("/portal/login", base(t) + "/"):
        result = browser.get(path)
        assert result["statusCode"] == 503, path
        assert_safe_headers(result, path)
        assert "not available right now" in result["body"]
        assert result["headers"]["X-Correlation-Id"] in result["body"]


def test_S8_a_staff_link_token_never_reaches_a_page_or_a_redirect(world) -> None:
    t = world.district()
    link = make_staff_link(p.PORTAL_KEY.encode(), t.district_id, hours=1)
    browser = world.browser()
    result = browser.get(f"{base(t)}/staff?t={link.token}")
    assert link.token not in result["headers"]["Location"]
    assert link.token not in browser.get(result["headers"]["Location"])["body"]
