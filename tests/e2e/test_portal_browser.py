"""S6-S8 in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by
Selenium against the portal's real handler, served on 127.0.0.1 over the whole local stack (moto's
server, the sync queue, the district-sync handler) and the ClassLink emulator (OneRoster and SSO).

A district's Tenant Administrator signs in through the emulator, sees the overview, opens a run,
filters its issues by rule, downloads the CSV (checked against the run record), approves a held run
(the approval goes through the sync queue to the real district-sync handler), and is refused
everything of a second district. ClassLink strings that are markup render as text, and no script
runs. Each page is photographed into docs/screenshots/ (a phone-sized window).

Skipped, with the reason, when /usr/bin/chromium is absent (CI installs it:
``apt-get install -y chromium chromium-driver``).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from classlink_local.emulator.sso_app import ClassLinkSsoApp
from classlink_local.lambda_runtime import load_module
from classlink_local.queue_runner import drain_queue
from classlink_local.serve import make_server
from classlink_local.stack import LocalStack
from classlink_sync.store import runs

from .conftest import District, day, sync_via_queue

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to a temporary folder, so that a test run leaves the checkout as it was;
# `make screenshots` sets SCREENSHOTS_DIR=docs/screenshots to refresh the ones the docs show.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or Path(tempfile.gettempdir()) / "classlink-portal-screenshots")
XSS_TITLE = "<script>alert(1)</script>"
XSS_NAME = '"><img src=x onerror=alert(1)>'
PORTAL_KEY = "portal-key-e2e-0123456789-abcdefghijklmnopq"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason="headless Chromium is not installed (/usr/bin/chromium, /usr/bin/chromedriver): "
        "apt-get install -y chromium chromium-driver",
    ),
]


@pytest.fixture
def chrome(tmp_path: Path) -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
        "--window-size=412,915", f"--user-data-dir={tmp_path / 'profile'}",
    ):  # fmt: skip
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def no_alert(driver: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - raises when no script opened an alert


def downloaded(driver: Any, timeout: float = 15) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in driver.downloads.iterdir() if p.suffix == ".csv"]
        if done:
            return done[0]
        time.sleep(0.2)
    raise AssertionError(f"no CSV downloaded: {list(driver.downloads.iterdir())}")


def _plant_markup_class(district: District) -> None:
    """A class titled as a script: no subject, so an R7 issue quotes the title."""
    ds = district.dataset
    teacher = next(sid for sid, u in ds.users.iter_records() if u.get("role") == "teacher")
    ds.add_class(XSS_TITLE, ds.licensed_school_ids[0], [teacher])


@pytest.fixture
def portal(
    stack: LocalStack, make_district: Callable[..., District], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict]:
    mine = make_district("portal-a", tenant_id="5101", seed=31, users=90, problem_share=0.03)
    other = make_district("portal-b", tenant_id="5202", seed=32, users=60)
    _plant_markup_class(mine)
    first = sync_via_queue(stack, mine, day(0))
    other_run = sync_via_queue(stack, other, day(0))
    assert first.status == "succeeded" and other_run.status == "succeeded"
    # A synced student's given name becomes markup (a second sync updates it), then half the students
    # are unshared, that one among them: the next sync is held for review (R10).
    students = sorted(a["sourcedId"] for a in mine.export()["accounts"] if a["role"] == "student" and a["active"])
    mine.dataset.update("users", students[0], givenName=XSS_NAME)
    assert sync_via_queue(stack, mine, day(0)).status == "succeeded"
    mine.dataset.drop("users", *students[::2])
    held = sync_via_queue(stack, mine, day(1))
    assert held.status == "held"

    sso = ClassLinkSsoApp()
    mine.emulator.mount(sso)
    sso.add_user(5101, {"sourcedId": "adm-a", "username": "ada", "givenName": "Ada", "familyName": "Admin",
                        "role": "administrator"})  # fmt: skip
    sso.sign_in_as("adm-a", 5101)
    server = make_server(lambda event, context: handler[0](event, context), port=0)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sso.register_client("tis-portal-e2e", "portal-e2e-client-secret-0123456789", [f"{base}/portal/callback"])
    for key, value in {
        "CLASSLINK_LAUNCHPAD_URL": mine.emulator.url,
        "CLASSLINK_NODEAPI_URL": mine.emulator.url,
        "CLASSLINK_CLIENT_ID": "tis-portal-e2e",
        "CLASSLINK_CLIENT_SECRET": "portal-e2e-client-secret-0123456789",
        "PORTAL_KEY": PORTAL_KEY,
        "PORTAL_REDIRECT_URI": f"{base}/portal/callback",
        "SCHEDULE_EXPRESSION": "cron(0 6 * * ? *)",
    }.items():
        monkeypatch.setenv(key, value)
    module = load_module(ROOT / "functions" / "portal" / "app.py")
    module.configure()
    handler: list[Any] = [module.lambda_handler]
    thread = threading.Thread(target=server.serve_forever, name="portal-e2e", daemon=True)
    thread.start()
    try:
        yield {"base": base, "mine": mine, "other": other, "first": first, "held": held, "other_run": other_run}
    finally:
        server.shutdown()
        server.server_close()


def test_S6_S7_S8_a_tenant_administrator_uses_the_portal_in_a_browser(stack: LocalStack, portal: dict, chrome) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    base, mine, other = portal["base"], portal["mine"], portal["other"]
    home = f"{base}/portal/districts/{mine.district_id}/"

    # S6: sign in through ClassLink (the emulator) as the district's Tenant Administrator.
    chrome.get(f"{base}/portal/")
    shot(chrome, "portal-sign-in")
    chrome.find_element(By.LINK_TEXT, "Sign in with ClassLink").click()
    assert chrome.current_url == home
    assert chrome.find_element(By.TAG_NAME, "h1").text == f"ClassLink sync of {mine.district_id}"
    cookie = chrome.get_cookie("tis_portal")
    assert cookie and cookie["path"] == "/portal" and cookie["httpOnly"] and cookie["secure"]
    # S8: the stylesheet loads under the CSP (style-src 'self'); nothing inline.
    assert chrome.find_element(By.CSS_SELECTOR, "header.top").value_of_css_property("border-bottom-style") == "solid"
    text = chrome.find_element(By.TAG_NAME, "main").text
    assert "Held for review" in text and "Next scheduled sync" in text and "not configured" in text
    shot(chrome, "portal-overview")

    # S7: run history, then the first sync's run.
    chrome.find_element(By.LINK_TEXT, "Run history").click()
    assert "Run history" in chrome.find_element(By.TAG_NAME, "h1").text
    assert portal["held"].run_id in chrome.page_source and portal["first"].run_id in chrome.page_source
    shot(chrome, "portal-history")
    chrome.find_element(By.CSS_SELECTOR, f"a[href$='/runs/{portal['first'].run_id}']").click()
    no_alert(chrome)
    issues_text = chrome.find_element(By.TAG_NAME, "main").text
    assert f"Class '{XSS_TITLE}' does not name a This is School subject" in issues_text  # shown as text
    assert "What to change in ClassLink" in issues_text
    shot(chrome, "portal-run")

    # Filter by rule (a GET form), then download what is shown as CSV.
    Select(chrome.find_element(By.NAME, "rule")).select_by_value("R7")
    chrome.find_element(By.ID, "filter").click()
    WebDriverWait(chrome, 15).until(lambda d: "rule=R7" in d.current_url)
    headings = [h.text for h in chrome.find_elements(By.CSS_SELECTOR, "section.rule h3")]
    assert headings and all(h.startswith("R7 ") for h in headings)
    no_alert(chrome)
    chrome.find_element(By.ID, "issues").location_once_scrolled_into_view  # noqa: B018 - scrolls
    shot(chrome, "portal-run-filtered")
    chrome.find_element(By.ID, "csv").click()
    rows = list(csv.reader(io.StringIO(downloaded(chrome).read_text(encoding="utf-8"))))
    report = runs.load_report(runs.get_run(mine.district_id, portal["first"].run_id))
    expected = [
        [i["rule"], i["entity"], i["sourced_id"] or "", i.get("school_id") or "", i["field"] or "", i["message"]]
        for i in report["issues"]
        if i["rule"] == "R7"
    ]
    assert rows[0] == ["rule", "entity", "sourcedId", "school", "field", "message"]
    assert rows[1:] == expected and any(XSS_TITLE in r[5] for r in rows[1:])

    # R10 from the portal: review the held run, approve it; the sync queue runs the approval.
    chrome.get(home)
    chrome.find_element(By.PARTIAL_LINK_TEXT, "Review run").click()
    no_alert(chrome)
    assert chrome.find_elements(By.TAG_NAME, "img") == []  # the markup name is text, not an image
    held_text = chrome.find_element(By.ID, "held").text
    assert XSS_NAME in held_text and "deactivate" in held_text
    chrome.find_element(By.ID, "held").location_once_scrolled_into_view  # noqa: B018 - scrolls
    shot(chrome, "portal-held-run")
    chrome.find_element(By.ID, "approve").click()  # a POST form (CSRF token inside), then a redirect
    WebDriverWait(chrome, 15).until(lambda d: "?done=" in d.current_url)
    assert chrome.current_url.endswith("?done=approval_requested")
    assert "Approved by Ada Admin" in chrome.find_element(By.ID, "review").text
    record = runs.get_run(mine.district_id, portal["held"].run_id)
    assert record.review["by"]["name"] == "Ada Admin" and record.review["by"]["kind"] == "classlink"
    drained = drain_queue(stack.client("sqs"), stack.queue_url)
    assert len(drained.succeeded) == 1 and not drained.failed
    assert runs.get_run(mine.district_id, portal["held"].run_id).status == "approved"
    chrome.refresh()
    assert chrome.find_element(By.ID, "status").text == "Approved"
    shot(chrome, "portal-approved")

    # R17 from the portal: undo the approved run (its approving run's changes), through the queue.
    before_undo = mine.export()
    chrome.find_element(By.LINK_TEXT, "Undo this run").click()
    assert "Undo run" in chrome.find_element(By.TAG_NAME, "h1").text
    shot(chrome, "portal-undo")
    chrome.find_element(By.ID, "undo").click()  # not confirmed: refused, nothing queued
    assert "?done=" not in chrome.current_url or "undo_requested" not in chrome.current_url
    assert drain_queue(stack.client("sqs"), stack.queue_url).succeeded == []
    chrome.get(f"{home}runs/{portal['held'].run_id}/undo")
    chrome.find_element(By.ID, "confirm").click()
    chrome.find_element(By.ID, "undo").click()
    WebDriverWait(chrome, 15).until(lambda d: "?done=" in d.current_url)
    drained = drain_queue(stack.client("sqs"), stack.queue_url)
    assert len(drained.succeeded) == 1 and not drained.failed
    undo = mine.last_run()
    assert (undo.trigger, undo.mode, undo.status) == ("undo", "undo", "succeeded")
    assert mine.export() != before_undo  # the deactivated students are back
    chrome.get(f"{home}runs/{undo.run_id}")
    assert chrome.find_element(By.ID, "undoes").text.startswith("run ")
    shot(chrome, "portal-undone")

    chrome.get(home)
    chrome.find_element(By.LINK_TEXT, "Readiness check").click()
    shot(chrome, "portal-readiness")

    # S8: everything of the second district is refused with a page that names nothing of it.
    for path in ("/", "/runs", f"/runs/{portal['other_run'].run_id}", f"/runs/{portal['other_run'].run_id}/issues.csv"):
        chrome.get(f"{base}/portal/districts/{other.district_id}{path}")
        assert chrome.find_element(By.TAG_NAME, "h1").text == "You do not have access to this page", path
        page = chrome.find_element(By.TAG_NAME, "main").text
        assert other.district_id not in page and portal["other_run"].run_id not in page
    assert [p.name for p in chrome.downloads.iterdir() if p.suffix == ".csv"] == [
        f"issues-{mine.district_id}-{portal['first'].run_id}.csv"
    ]  # the refused CSV downloaded nothing
    shot(chrome, "portal-forbidden")
