"""R16 in the portal (S7): the overview shows the district's pause, blackouts and additions-only
ranges (read-only), and the run history and a run's page show a paused run with its reason."""

from __future__ import annotations

import portal_support as p

from classlink_sync.store import districts as district_store
from classlink_sync.store import runs


def base(t: p.Tenant) -> str:
    return f"/portal/districts/{t.district_id}"


def test_R16_the_overview_shows_the_pause_blackouts_and_additions_only_ranges(world) -> None:
    t = world.district()
    district_store.set_pause(t.district_id, "2026-06-01", None, "contract <review>", world.store)
    district_store.add_window(t.district_id, "blackouts", "2026-06-10", "2026-08-25", "summer", world.store)
    district_store.add_window(t.district_id, "additions_only", "2026-08-26", "2026-09-15", None, world.store)
    browser = world.signed_in(t)
    result = browser.get(base(t) + "/")
    text = p.text_of(result)
    assert "Paused from 2026-06-01 until resumed: contract <review>" in text.replace("&lt;", "<").replace("&gt;", ">")
    assert "contract <review>" not in result["body"]  # escaped (S8)
    assert "Blackout 2026-06-10 to 2026-08-25: summer" in text
    assert "Additions only 2026-08-26 to 2026-09-15" in text and "Dates in UTC." in text
    assert "not configured" not in text


def test_R16_a_paused_run_shows_its_reason_in_the_history_and_on_its_page(world) -> None:
    t = world.district()
    record = runs.record_paused(t.district_id, "2026-07-01", "blackout 2026-06-10..2026-08-25: summer", world.store)
    browser = world.signed_in(t)
    history = p.text_of(browser.get(base(t) + "/runs"))
    assert "Paused (blackout 2026-06-10..2026-08-25: summer (slot 2026-07-01))" in history
    page = browser.get(base(t) + f"/runs/{record.run_id}")
    assert page["statusCode"] == 200
    text = p.text_of(page)
    assert "Paused blackout 2026-06-10..2026-08-25: summer (slot 2026-07-01)" in text and "R16" in text
