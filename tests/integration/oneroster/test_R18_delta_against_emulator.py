"""R18 delta fetch against the ClassLink emulator: ``dateLastModified>'T'`` returns exactly the
records edited after T (the emulator compares instants, and skips generated records that are all
older), every page carries ``x-perm-rev``, and a ``perm-rev`` fault mid-pull abandons the delta."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from classlink_sync.errors import DeltaAbandoned
from classlink_sync.oneroster.auth import OAuth1Auth
from classlink_sync.oneroster.client import OneRosterClient

pytestmark = pytest.mark.integration


def client_for(emulator, **options) -> OneRosterClient:
    options.setdefault("sleep", lambda seconds: None)
    return OneRosterClient(emulator.base_url, OAuth1Auth(emulator.client_id, emulator.client_secret), **options)


def test_R18_delta_returns_only_records_edited_after_t(emulator_factory) -> None:
    emulator = emulator_factory(users=200)
    ds = emulator.dataset
    user_ids = list(ds.users.ids())
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    ds.update("users", user_ids[3], givenName="Changed")
    ds.touch("enrollments", next(iter(ds.enrollments.ids())))
    with client_for(emulator) as client:
        delta = client.fetch_delta(before)
        everything = client.fetch_delta("2000-01-01T00:00:00Z")  # older than every record: all of them
    assert set(delta.snapshot.users) == {user_ids[3]} and delta.snapshot.users[user_ids[3]].given_name == "Changed"
    assert len(delta.snapshot.enrollments) == 1 and delta.snapshot.classes == {}
    assert delta.read_through and not delta.snapshot.complete
    assert len(everything.snapshot.users) == len(user_ids) - len(ds.planted.get("repeated_sourced_id", []))


def test_R18_every_listing_page_carries_x_perm_rev(emulator_factory) -> None:
    emulator = emulator_factory(users=60)
    auth = OAuth1Auth(emulator.client_id, emulator.client_secret)
    with httpx.Client(auth=auth) as http:
        first = http.get(f"{emulator.base_url}/users", params={"limit": "10", "offset": "0"})
        emulator.oneroster.bump_perm_rev()
        second = http.get(f"{emulator.base_url}/users", params={"limit": "10", "offset": "10"})
    assert first.status_code == 200 and first.headers["x-perm-rev"] == "1"
    assert second.headers["X-Perm-Rev"] == "2"


def test_R18_perm_rev_changing_mid_pull_abandons_the_delta(emulator_factory) -> None:
    emulator = emulator_factory(users=120, max_limit=5)
    ds = emulator.dataset
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for sid in list(ds.users.ids())[:12]:
        ds.touch("users", sid)
    emulator.faults.add("perm-rev", path="/users", after=1, limit=1)
    with client_for(emulator, concurrency=1) as client, pytest.raises(DeltaAbandoned) as caught:
        client.fetch_delta(before)
    assert caught.value.collection == "users" and caught.value.header == "x-perm-rev"
    with client_for(emulator) as client:  # the retry: the revision is steady again
        assert len(client.fetch_delta(before).snapshot.users) == 12
