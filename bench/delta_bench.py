"""Benchmark of R18 delta syncs through the local stack (``make bench``): what a delta costs
against a full sync of the same district.

Set-up as ``bench.sync_bench``: the ClassLink emulator (a generated district of N users,
``max_limit=1000``) in its own process, taking commands over a pipe; moto's ``ThreadedMotoServer``
in its own process with the partition Query adapter; ``classlink_local.stack.local_stack`` creates
the tables there. A district is onboarded with every licensed school, then:

(a) a first full sync (creates everything; not compared);
(b) 1% of the records change in the emulator (``BENCH_CHANGED``, default 0.01): that share of
    the users renamed (``givenName``), and that share of the classes and enrolments re-stamped
    (``dateLastModified``, as ClassLink does for any edit);
(c) a delta sync (``SyncRequest(mode="delta")``): T is the first sync's start less 15 minutes;
(d) a full sync of the same data (the nightly one; its writes are nothing, the delta applied
    them).

Printed for (c) against (d): the fetch time (``fetch_s`` of the run report), the store reads
counted at the DynamoDB API (``store.dynamo.METER``: items and requests, all tables), the records
fetched, the roster writes and the wall time; and the ratios (R18 asks a delta to cost under 5% of
a full sync's fetch time and under 2% of its store reads). It decides nothing (no pass/fail).

Environment: ``BENCH_DELTA_USERS`` (default 40,000, see ``DEFAULT_SIZES``; a comma-separated list
runs each size),
``BENCH_QUICK=1`` (5,000 users when ``BENCH_DELTA_USERS`` is not set), ``BENCH_SEED`` (1),
``BENCH_CHANGED`` (0.01), ``BENCH_READ_TIMEOUT`` (seconds, default 300, as ``bench.sync_bench``).
Run: ``.venv/bin/python -m bench.delta_bench`` or ``BENCH_DELTA_USERS=20000 .venv/bin/python -m
bench.delta_bench``.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import env_int, load
from bench.sync_bench import (
    DISTRICT,
    _Child,
    _moto_child,
    _set_read_timeout,
    _traffic,
    onboard_emulated,
    start_child_emulator,
)

# R18 names 100,000 users; on moto here a 40,000-user run (first sync, delta, full sync) takes about
# 6 minutes, and 100,000 would take well over the ~10 minutes a `make bench` part may use, so the
# default is 40,000: set BENCH_DELTA_USERS=100000 for the full size.
DEFAULT_SIZES = "40000"
QUICK_SIZES = "5000"
ROOT = Path(__file__).resolve().parent.parent


def _emulator_child(conn: Any, users: int, seed: int) -> None:
    """The emulator in its own process; answers ("change", share, seed) and ("stop",)."""
    dataset, handle = start_child_emulator(conn, users, seed)
    try:
        while (command := conn.recv())[0] == "change":
            _, share, change_seed = command
            conn.send(_change(dataset, share, change_seed))
    finally:
        handle.stop()


def _change(dataset: Any, share: float, seed: int) -> dict[str, int]:
    """R18: ``share`` of the users renamed, of the classes and enrolments re-stamped."""
    rng = random.Random(seed)  # nosec B311 # benchmark data, not security
    changed: dict[str, int] = {}
    for name in ("users", "classes", "enrollments"):
        ids = list(dataset.collection(name).ids())
        picked = rng.sample(ids, max(1, int(len(ids) * share)))
        for sid in picked:
            if name == "users":
                record = dataset.collection("users").record(sid)
                dataset.update("users", sid, givenName=f"{record.get('givenName') or 'X'}-changed")
            else:
                dataset.touch(name, sid)
        changed[name] = len(picked)
    dataset.warm("users", "classes", "enrollments")
    return changed


def _run_sync(date: str, mode: str) -> tuple[Any, float, dict[str, int]]:
    from classlink_sync.store.dynamo import METER
    from classlink_sync.sync.messages import SyncRequest
    from classlink_sync.sync.service import run_sync

    gc.collect()
    METER.reset()
    started = time.perf_counter()
    outcome = run_sync(
        SyncRequest(district_id=DISTRICT, date=date, trigger="manual", mode=mode),
        raise_on_failure=False,
    )
    wall = time.perf_counter() - started
    traffic = _traffic(METER)
    if outcome.report.status != "succeeded":
        raise RuntimeError(f"the {mode} sync ended {outcome.report.status}: {outcome.report.error}")
    return outcome, wall, traffic


def _fetched(report: Any) -> int:
    return sum(per.get("fetched", 0) for per in report.counts.values())


def run(users: int, seed: int, share: float) -> dict[str, Any]:
    """One size: fresh emulator and moto processes, a fresh local stack."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    bench_started = time.perf_counter()
    print(
        f"delta bench: {users:,} users (seed {seed}), {share:.1%} of the records changed; "
        f"{os.cpu_count()} CPUs, load average {load()}",
        flush=True,
    )
    emulator = _Child(_emulator_child, users, seed)
    moto = _Child(_moto_child, True)
    try:
        info = emulator.recv(timeout=900)
        endpoint = moto.recv(timeout=120)["endpoint"]
        return _bench(info, emulator, endpoint, users, share, seed)
    finally:
        emulator.stop()
        moto.stop()
        print(f"  this size took {time.perf_counter() - bench_started:.0f} s; load average at the end {load()}\n")


def _bench(
    info: dict[str, Any], emulator: _Child, endpoint: str, users: int, share: float, seed: int
) -> dict[str, Any]:
    from classlink_local.stack import local_stack

    counts = ", ".join(f"{k} {v:,}" for k, v in info["counts"].items() if v)
    print(f"  emulator (separate process) ready in {info['ready_s']:.1f} s: {counts}", flush=True)
    with local_stack(endpoint_url=endpoint):
        today = dt.date(2026, 3, 2)
        onboard_emulated(info, today)
        first, first_wall, _ = _run_sync(today.isoformat(), "full")
        print(f"  (a) first full sync: {first.report.roster_writes:,} roster writes in {first_wall:.1f} s", flush=True)
        emulator.conn.send(("change", share, seed))
        changed = emulator.recv(timeout=600)
        print(f"  (b) changed in the emulator: {changed}", flush=True)
        delta, delta_wall, delta_traffic = _run_sync(today.isoformat(), "delta")
        full, full_wall, full_traffic = _run_sync(today.isoformat(), "full")
        result = {
            "users": users,
            "delta": _measure(delta.report, delta_wall, delta_traffic),
            "full": _measure(full.report, full_wall, full_traffic),
            "deferred": len(delta.report.deferred),
        }
    _print(result)
    return result


def _measure(report: Any, wall: float, traffic: dict[str, int]) -> dict[str, Any]:
    from classlink_sync.store import runs

    timings = report.timings
    pull_s = float(timings.get("fetch_s", 0.0))
    if report.mode == "delta":  # the client's pull alone; fetch_s also counts T's lookup in moto
        record = runs.get_run(report.district_id, report.run_id)
        pull_s = float((runs.load_report(record).get("delta") or {}).get("pull_s") or 0.0) if record else 0.0
    return {
        "fetch_s": float(timings.get("fetch_s", 0.0)),
        "pull_s": pull_s,
        "read_store_s": float(timings.get("read_store_s", 0.0)),
        "plan_s": float(timings.get("plan_s", 0.0)),
        "apply_s": float(timings.get("apply_s", 0.0)),
        "wall_s": wall,
        "fetched": _fetched(report),
        "read_items": traffic["read_items"],
        "read_requests": traffic["read_requests"],
        "roster_writes": report.roster_writes,
    }


def _ratio(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _print(result: dict[str, Any]) -> None:
    d, f = result["delta"], result["full"]
    print(f"  (c) delta sync vs (d) full sync of the same data, {result['users']:,} users")
    for label, m in (("delta", d), ("full ", f)):
        print(
            f"      {label}: fetch {m['fetch_s']:.2f} s (client pull {m['pull_s']:.2f} s, {m['fetched']:,} records), "
            f"read_store {m['read_store_s']:.2f} s, plan {m['plan_s']:.2f} s, apply {m['apply_s']:.2f} s, "
            f"wall {m['wall_s']:.2f} s; store reads at the "
            f"API {m['read_items']:,} items in {m['read_requests']:,} requests; roster writes {m['roster_writes']:,}"
        )
    print(
        f"      delta / full: fetch time {_ratio(d['fetch_s'], f['fetch_s'])}, client pull "
        f"{_ratio(d['pull_s'], f['fetch_s'])} (R18 asks < 5%), store read items "
        f"{_ratio(d['read_items'], f['read_items'])} and requests {_ratio(d['read_requests'], f['read_requests'])} "
        f"(R18 asks < 2%), wall {_ratio(d['wall_s'], f['wall_s'])}; removals deferred by the delta "
        f"{result['deferred']}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    sizes_text = os.environ.get("BENCH_DELTA_USERS") or (QUICK_SIZES if quick else DEFAULT_SIZES)
    sizes = [int(u.strip().replace("_", "")) for u in sizes_text.split(",") if u.strip()]
    share = float(os.environ.get("BENCH_CHANGED", "0.01"))
    seed = env_int("BENCH_SEED", 1)
    _set_read_timeout(env_int("BENCH_READ_TIMEOUT", 300))
    sys.path.insert(0, str(ROOT))  # the spawned children import this module
    print(f"sizes: {', '.join(f'{n:,}' for n in sizes)} users")
    results = [run(users, seed, share) for users in sizes]
    print("summary (delta / full):")
    for r in results:
        d, f = r["delta"], r["full"]
        print(
            f"  {r['users']:>9,} users: fetch {_ratio(d['fetch_s'], f['fetch_s'])} "
            f"(client pull {_ratio(d['pull_s'], f['fetch_s'])}), "
            f"store read items {_ratio(d['read_items'], f['read_items'])}, wall {_ratio(d['wall_s'], f['wall_s'])}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
