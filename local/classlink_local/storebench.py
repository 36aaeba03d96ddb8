"""Store read benchmark: items/s reading a district's accounts through ``DynamoRosterView`` from
moto's in-process backend and from ``ThreadedMotoServer``, plus roster writes per created and
updated record. Run: ``python -m classlink_local.storebench [--users N]`` (needs moto, dev only).

moto serialises requests and is far slower than DynamoDB; the numbers compare designs, they do
not predict AWS (DESIGN.md "What moto hides").
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import socket
import time
from typing import Any

from classlink_local.tables import create_tables
from classlink_sync.rules.plan import AccountState, Plan, ReservationChange
from classlink_sync.settings import AppSettings
from classlink_sync.store.apply import apply_plan
from classlink_sync.store.context import Store
from classlink_sync.store.items import account_item
from classlink_sync.store.models import bind
from classlink_sync.store.view import DynamoRosterView

ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",  # nosec B105 # moto's dummy credentials
    "AWS_REGION": "us-east-1",
    **{
        f"{n}_TABLE": f"bench-{n.lower()}"
        for n in ("DISTRICTS", "ACCOUNTS", "RESERVATIONS", "CLASSES", "ENROLLMENTS", "SCHOOLS", "RUNS", "LOCKS")
    },
    "REPORT_BUCKET": "bench-reports",
}


def _account(n: int) -> AccountState:
    name = f"bench-user{n}"
    return AccountState(
        account_id=f"acc{n:07d}",
        district_id="bench",
        tenant_id="1",
        sourced_id=f"u{n}",
        username=name,
        username_norm=name,
        email=f"{name}@school.example",
        email_norm=f"{name}@school.example",
        given_name="Given",
        family_name=f"Family{n}",
        role="student",
        active=True,
        enabled=True,
        school_ids=("s1",),
        grades=("07",),
        managed=True,
        digest=f"{n:032x}",
    )


def _seed(store: Store, users: int) -> None:
    items = [{"PutRequest": {"Item": account_item(_account(n))}} for n in range(users)]
    from concurrent.futures import ThreadPoolExecutor

    batches = [items[i : i + 25] for i in range(0, len(items), 25)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda b: store.calls.batch_write(store.settings.accounts_table, b), batches))


def _read(store: Store) -> dict[str, Any]:
    view = DynamoRosterView(store)
    start = time.perf_counter()
    held = view.held_accounts("bench")
    seconds = time.perf_counter() - start
    return {
        "items": len(held),
        "requests": view.stats.requests,
        "seconds": round(seconds, 2),
        "items_per_s": round(len(held) / seconds),
    }


def _writes_per_record(store: Store, records: int = 200) -> dict[str, float]:
    create = Plan(district_id="bench", tenant_id="1", today="2026-01-15", fetch_complete=True)
    fresh = [dataclasses.replace(_account(10_000_000 + n), account_id=f"new{n}") for n in range(records)]
    create.accounts["create"] = fresh
    create.reservations["add"] = [ReservationChange(a.username_norm, a.account_id, "bench") for a in fresh]
    created = apply_plan(create, store)
    update = Plan(district_id="bench", tenant_id="1", today="2026-01-16", fetch_complete=True)
    update.accounts["update"] = [dataclasses.replace(a, family_name="Changed", digest="x") for a in fresh]
    updated = apply_plan(update, store)
    return {"per_create": created.total_roster_writes / records, "per_update": updated.total_roster_writes / records}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()
    os.environ.update(ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    with mock_aws():
        settings = AppSettings.from_env()
        create_tables(settings)
        store = Store.create(settings)
        _seed(store, args.users)
        print("in-process moto:", _read(store))
        print("roster writes per record:", _writes_per_record(store))
    bind.cache_clear()
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        settings = AppSettings.from_env({**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
        create_tables(settings)
        store = Store.create(settings)
        _seed(store, args.users)
        print("ThreadedMotoServer:", _read(store))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
