"""``make run``: the mission's main job on a laptop (DESIGN.md "The local stack").

Starts moto's server and the ClassLink emulator, creates the tables from template.yaml, onboards a
demo district (with a few accounts that existed before onboarding, SPEC §2), fires the daily
schedule through the real dispatcher and district-sync handlers, prints the run report, proves a
no-change resync makes zero roster writes, and signs a demo teacher in through the SSO function.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEMO_DISTRICT = "demo-isd"
DEMO_TENANT = "2"  # ClassLink sends tenant ids as JSON numbers; we keep strings (R1)
DEMO_CONTACT = "it-admin@demo-isd.example"  # R19: told about the district's syncs


def _pre_existing_accounts(dataset: Any, path: Path) -> list[str]:
    """Write an import CSV: two teachers who already used This is School (R6 links them) and one
    account ClassLink does not know (recommended for removal, R2/R6)."""
    teachers = [
        r
        for _, r in dataset.collection("users").iter_records()
        if r.get("role") == "teacher" and r.get("username") and r.get("status", "active") == "active"
    ][:2]
    rows = [
        {
            "username": t["username"].upper(),
            "email": t.get("email") or "",
            "given_name": t.get("givenName", ""),
            "family_name": t.get("familyName", ""),
            "role": "teacher",
        }
        for t in teachers
    ]
    rows.append(
        {
            "username": "DemoISD-old-teacher",
            "email": "old.teacher@example.org",
            "given_name": "Olive",
            "family_name": "Oldham",
            "role": "teacher",
        }
    )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [row["username"] for row in rows]


def _quietly(call: Callable[..., Any], *args: Any) -> Any:
    """Run the handlers without the log and EMF lines Lambda would ship to CloudWatch."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return call(*args)


def onboard_demo_district(emulator: Any, dataset: Any) -> list[str]:
    """Onboard ``demo-isd`` on the emulator's district, enabled today by staff override of the
    14-day notice (R1), with every licensed school; returns those schools."""
    from classlink_sync.store.districts import add_district

    licensed = list(dataset.licensed_school_ids)
    add_district(
        DEMO_DISTRICT,
        tenant_id=DEMO_TENANT,
        oneroster_url=emulator.base_url,
        client_id=emulator.client_id or "",
        client_secret=emulator.client_secret or "",
        schools=licensed,
        enable_from=dt.datetime.now(dt.UTC).date(),
        override_notice=True,
        contacts=[DEMO_CONTACT],
    )
    return licensed


def run_demo(*, users: int = 400, seed: int = 7, serve: bool = False, out: Callable[[str], None] = print) -> int:
    from classlink_local.cli.daily import fire_daily
    from classlink_local.emulator.datagen import generate
    from classlink_local.emulator.server import start_emulator
    from classlink_local.stack import local_stack
    from classlink_sync.report import RunReport, render_text
    from classlink_sync.settings import get_settings
    from classlink_sync.store import runs
    from classlink_sync.store.accounts import import_accounts
    from classlink_sync.store.dynamo import METER, roster_tables

    # The functions' JSON logs and EMF metrics go to stdout in Lambda; here the readable report is
    # the point, so only warnings are logged (set LOG_LEVEL=INFO to see every line).
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", os.environ.get("LOG_LEVEL", "WARNING"))
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    today = dt.datetime.now(dt.UTC).date()
    out(f"Starting the local stack (moto) and the ClassLink emulator with a {users}-user district (seed {seed})...")
    with local_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        dataset = generate(seed=seed, users=users, username_prefix="DemoISD")
        with start_emulator(dataset) as emulator:
            out(f"  AWS endpoint  {stack.endpoint_url}")
            out(f"  OneRoster     {emulator.base_url}")
            licensed = onboard_demo_district(emulator, dataset)
            out(
                f"Onboarded {DEMO_DISTRICT} (tenant {DEMO_TENANT}, {len(licensed)} licensed school(s); "
                "enabled today by staff override of the 14-day notice, R1)"
            )
            csv_path = Path(tmp) / "existing.csv"
            names = _pre_existing_accounts(dataset, csv_path)
            imported = import_accounts(DEMO_DISTRICT, csv_path)
            out(f"Imported {len(imported.created)} account(s) that existed before onboarding: {', '.join(names)}")

            out(f"\nFiring the daily schedule for {today} (dispatcher -> SQS -> district sync)...")
            daily = _quietly(fire_daily, today.isoformat())
            out(
                f"  dispatched {daily['dispatch'].get('sent')} district(s); "
                f"queue drained: {len(daily['drain']['succeeded'])} ok, {len(daily['drain']['failed'])} failed\n"
            )
            first = runs.list_runs(DEMO_DISTRICT, limit=1)[0]
            out(render_text(RunReport.from_stored(runs.load_report(first))))

            tomorrow = today + dt.timedelta(days=1)
            settings = get_settings()
            METER.reset()
            again = _quietly(fire_daily, tomorrow.isoformat())
            second = runs.list_runs(DEMO_DISTRICT, limit=1)[0]
            roster_writes = METER.writes(roster_tables(settings))
            out(
                f"\nNext day ({tomorrow}), nothing changed in ClassLink: run {second.run_id} {second.status}, "
                f"{roster_writes} roster writes counted at the DynamoDB API "
                f"(dispatched {again['dispatch'].get('sent')})."
            )
            if first.status != "succeeded" or second.status != "succeeded" or roster_writes != 0:
                out("DEMO FAILED: expected two succeeded runs and a no-change resync with zero roster writes")
                return 1
            signed_in = _demo_signin(emulator, dataset, out, serve=serve)
            out(emailed_line(stack.endpoint_url))
            return 0 if signed_in else 1


def emailed_line(endpoint_url: str) -> str:
    """R19, one line: what the syncs emailed, read back from moto's SES."""
    from classlink_local.stack import local_emails

    emails = local_emails(endpoint_url)
    told = []
    for email in emails:
        to = ", ".join(email.get("destinations", {}).get("ToAddresses", []))
        told.append(f"to {to}: {email.get('subject', '')!r}")
    return f"\nR19 emails sent through SES (moto): {len(emails)}" + (f" ({'; '.join(told)})" if told else "")


def _demo_signin(emulator: Any, dataset: Any, out: Callable[[str], None], *, serve: bool = False) -> bool:
    """S1-S4: a synced teacher signs in through the real SSO handler; S3: a user ClassLink knows
    but the district did not share with us is refused with a page that says whom to ask."""
    from classlink_local.signin import sign_in, start_local_sso
    from classlink_sync.store.accounts import export_district

    exported = export_district(DEMO_DISTRICT)
    synced = {a["sourcedId"] for a in exported["accounts"] if a.get("active")}
    users = [dict(r) for _, r in dataset.collection("users").iter_records()]
    teacher = next(u for u in users if u.get("role") == "teacher" and u["sourcedId"] in synced)
    outsider = next(u for u in users if u.get("role") in ("aide", "administrator") and u["sourcedId"] not in synced)
    sso = start_local_sso(emulator, DEMO_TENANT, users)
    try:
        app_url = f"{sso.base_url}/app/"
        out(f"\nSSO: sign-in URL (the LaunchPad tile's launch URL): {sso.login_url}")
        sso.sso_app.sign_in_as(teacher["sourcedId"], DEMO_TENANT)
        result = sign_in(sso.login_url, app_url)
        out(
            f"  teacher {teacher['username']} -> {' -> '.join(result.hops)} -> {result.final_url} "
            f"[{'signed in, session cookie ' + str(result.session_cookie) if result.ok else 'FAILED'}]"
        )
        sso.sso_app.sign_in_as(outsider["sourcedId"], DEMO_TENANT)
        refused = sign_in(sso.login_url, app_url)
        told = "has not shared your account" in refused.page
        out(
            f"  {outsider.get('role')} {outsider.get('username')} (not synced, R3) -> HTTP {refused.status}: "
            f"{'refused with the page telling them to ask their ClassLink administrator' if told else 'UNEXPECTED'}"
        )
        if not (result.ok and told and not refused.ok):
            out("DEMO FAILED: the SSO sign-in did not behave as S2-S4 require")
            return False
        link = sso.staff_link(DEMO_DISTRICT)
        status = _open_portal(link)
        out(f"\nDistrict portal (S6-S8) of {DEMO_DISTRICT}, staff link valid 8 hours: {link}")
        out(f"  overview answered HTTP {status}" + ("" if status == 200 else " (UNEXPECTED)"))
        if status != 200:
            return False
        if serve:
            _serve_until_interrupted(sso, teacher, out)
        else:
            out("  (to sign in from a browser: `.venv/bin/classlink-sync demo --serve`, then open the URL above)")
        return True
    finally:
        sso.stop()


def _open_portal(link: str) -> int:
    """Follow a staff link like a browser (its session cookie is Secure: carried by hand over
    http on 127.0.0.1) and return the overview's HTTP status."""
    from urllib.parse import urljoin

    import httpx

    with httpx.Client(timeout=10) as http:
        first = http.get(link)
        if first.status_code not in (302, 303):
            return first.status_code
        cookies = "; ".join(c.split(";")[0] for c in first.headers.get_list("set-cookie"))
        return http.get(urljoin(link, first.headers["location"]), headers={"Cookie": cookies}).status_code


def _serve_until_interrupted(sso: Any, teacher: dict[str, Any], out: Callable[[str], None]) -> None:
    """Keep the stack and the SSO endpoint up for a browser (localhost keeps Secure cookies)."""
    import time

    sso.sso_app.sign_in_as(teacher["sourcedId"], DEMO_TENANT)
    out(f"\nServing until Ctrl-C. Open {sso.login_url} to sign in as {teacher['username']}.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        out("stopped")
