"""S6: ``classlink-sync portal-link DISTRICT [--hours N]``, the staff command that makes a signed link
to one district's portal (at most 7 days)."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import portal_support as p

from classlink_sync.cli import main
from classlink_sync.portal.stafflink import verify_staff_token


def test_S6_portal_link_prints_a_link_that_opens_that_district(world, capsys) -> None:
    t = world.district()
    code = main(["portal-link", t.district_id, "--hours", "48", "--base-url", "https://app.example.org", "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    printed = json.loads(out)
    url = urlsplit(printed["url"])
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "app.example.org",
        f"/portal/districts/{t.district_id}/staff",
    )
    token = parse_qs(url.query)["t"][0]
    link = verify_staff_token(p.PORTAL_KEY.encode(), token, t.district_id, now=time.time())
    assert link is not None and 47.9 * 3600 < link.expires_at - time.time() <= 48 * 3600
    browser = world.browser()
    assert browser.get(f"{url.path}?{url.query}")["statusCode"] == 303
    assert browser.get(f"/portal/districts/{t.district_id}/")["statusCode"] == 200


def test_S6_portal_link_refuses_more_than_7_days_an_unknown_district_and_no_address(world, capsys) -> None:
    t = world.district()
    assert main(["portal-link", t.district_id, "--hours", "169", "--base-url", "https://a.example"]) == 2
    assert "at most 168 hours (7 days)" in capsys.readouterr().err
    assert main(["portal-link", "no-such-district", "--base-url", "https://a.example"]) == 2
    assert "no-such-district" in capsys.readouterr().err
    assert main(["portal-link", t.district_id]) == 2
    assert "--base-url" in capsys.readouterr().err
