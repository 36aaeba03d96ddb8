"""R17/S7: undo of a recent run from the portal: a confirmation step, CSRF (S8), who asked recorded,
the undo queued for the district-sync worker, which runs the same core as `classlink-sync undo`;
refused with the later runs that block it named."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import portal_support as p

from classlink_sync.store import runs
from classlink_sync.store.accounts import export_district
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import run_sync

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sync"))
import roster


def base(t: p.Tenant) -> str:
    return f"/portal/districts/{t.district_id}"


def sync(world, t: p.Tenant, snapshot) -> str:
    """Sync ``snapshot`` into ``t``'s district, usernames prefixed with it (R5: unique platform-wide)."""
    for sid, user in list(snapshot.users.items()):
        snapshot.users[sid] = replace(user, username=f"{t.district_id}-{sid}")
    request = SyncRequest(district_id=t.district_id, date="2026-11-28", trigger="manual")
    return run_sync(request, store=world.store, fetch=lambda district, store: snapshot).run_id


def test_R17_S7_undo_asks_for_confirmation_records_who_and_queues_the_undo(world) -> None:
    t = world.district()
    sync(world, t, roster.snapshot(2, title="French 1"))
    before = export_district(t.district_id, world.store)
    changed = sync(world, t, roster.snapshot(2, title="Spanish 1"))
    browser = world.signed_in(t)
    page = browser.get(f"{base(t)}/runs/{changed}/undo")
    assert page["statusCode"] == 200 and 'id="undo"' in page["body"] and 'name="confirm"' in page["body"]
    url = f"{base(t)}/runs/{changed}/undo"
    unconfirmed = browser.post(url, {"csrf": browser.csrf()})
    assert unconfirmed["statusCode"] == 409 and "Tick the box" in p.text_of(unconfirmed)
    assert browser.post(url, {"confirm": "yes"})["statusCode"] == 403  # no CSRF token (S8)
    assert world.messages() == []

    result = browser.post(url, {"csrf": browser.csrf(), "confirm": "yes"})
    assert result["statusCode"] == 303
    assert result["headers"]["Location"] == f"{base(t)}/runs/{changed}?done=undo_requested"
    [message] = world.messages()
    request = SyncRequest.parse(json.dumps(message))
    assert (request.trigger, request.undo_run_id) == ("undo", changed)
    record = runs.get_run(t.district_id, changed, world.store)
    assert record.review["action"] == "undo" and record.review["by"]["kind"] == "classlink"
    shown = p.text_of(browser.get(result["headers"]["Location"]))
    assert "Undo started (R17)" in shown and "Undo requested by Pat Admin" in shown
    again = browser.post(url, {"csrf": browser.csrf(), "confirm": "yes"})
    assert again["statusCode"] == 409 and world.messages() == []  # once (a double click)

    # The district-sync worker runs the message: the same core as `classlink-sync undo`.
    outcome = run_sync(request, store=world.store)
    assert outcome.status == "succeeded"
    assert export_district(t.district_id, world.store) == before
    assert runs.get_run(t.district_id, changed, world.store).undone_by == outcome.run_id
    run_page = p.text_of(browser.get(f"{base(t)}/runs/{changed}"))
    assert f"Undone by run {outcome.run_id}" in run_page and "Undo this run" not in run_page
    assert f"Undoes run {changed}" in p.text_of(browser.get(f"{base(t)}/runs/{outcome.run_id}"))
    assert "undo of a run (R17)" in p.text_of(browser.get(f"{base(t)}/runs"))  # the history


def test_R17_S7_undo_is_refused_naming_the_later_run_that_blocks_it(world) -> None:
    t = world.district()
    sync(world, t, roster.snapshot(2, title="French 1"))
    second = sync(world, t, roster.snapshot(2, title="Spanish 1"))
    third = sync(world, t, roster.snapshot(2, title="German 1"))
    browser = world.signed_in(t)
    page = browser.get(f"{base(t)}/runs/{second}/undo")
    assert "This run cannot be undone" in p.text_of(page) and f"runs/{third}/undo" in page["body"]
    posted = browser.post(f"{base(t)}/runs/{second}/undo", {"csrf": browser.csrf(), "confirm": "yes"})
    assert posted["statusCode"] == 409 and third in p.text_of(posted)
    assert world.messages() == [] and runs.get_run(t.district_id, second, world.store).review is None


def test_R17_S8_another_districts_administrator_cannot_undo(world) -> None:
    mine, other = world.district(), world.district()
    done = sync(world, other, roster.snapshot(1))
    browser = world.signed_in(mine)
    url = f"/portal/districts/{other.district_id}/runs/{done}/undo"
    assert browser.get(url)["statusCode"] == 403
    assert browser.post(url, {"csrf": browser.csrf(), "confirm": "yes"})["statusCode"] == 403
    assert world.messages() == [] and runs.get_run(other.district_id, done, world.store).review is None
