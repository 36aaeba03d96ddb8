"""Benchmark of the district sync through the local stack (issue 4, ``make bench``).

Set-up: the ClassLink emulator (a generated district of N users, ``max_limit=1000``) runs in its
own process and takes commands over a pipe (change users' names); moto's ``ThreadedMotoServer``
runs in its own process too (``BENCH_MOTO=inprocess`` keeps it in this one), and
``classlink_local.stack.local_stack(endpoint_url=...)`` creates the tables, bucket and queues
there. So this process holds only the sync: client, planner, store calls. A district is onboarded
(R1, staff override of the notice) with every licensed school, then:

(a) first sync: ``run_sync(SyncRequest(trigger="manual"))``: records/s and the report's phase
    timings (``fetch_s``, ``read_store_s``, ``plan_s``, ``apply_s``);
(b) roster writes per changed record, counted at the DynamoDB API (``store.dynamo.METER``): for the
    first sync's creates (target at most 2 per created account: account + reservation), and for an
    update sync after ``BENCH_UPDATES`` synced users' ``givenName`` changed in the emulator (target
    1.0 per update);
(c) a no-change resync: its fetch + plan time against a fetch-only time (the same client fetch
    alone, ``sync.service.fetch_district``; target within 1.3x), its store reads reported
    separately (items and requests at the API, and a read-only pass through ``DynamoRosterView``
    with its ``ReadStats``), and its roster writes (expected 0);
(d) an estimate of the largest district one 15-minute invocation can finish, first sync and resync,
    with and without moto's store time.

moto is far slower than DynamoDB: store time (``read_store_s`` + ``apply_s``) is printed
separately so the reader can discount it. moto's own Query gathers and sorts every item of the
table per request (230 items per CPU second of moto at 20,000 users), so moto's process runs with
the partition Query adapter (``classlink_local.moto_query``: a Query reads its partition, as
DynamoDB does, and item values are serialised directly; answers identical to moto's) and the sizes
run for real. It decides nothing (no pass/fail).

Environment: ``BENCH_USERS`` (default 100,000; a comma-separated list runs each size and adds a
straight-line extrapolation to 100,000), ``BENCH_QUICK=1`` (5,000 users, when ``BENCH_USERS`` is
not set), ``BENCH_MOTO_ADAPTER=0`` (moto's own whole-table Query, for the before/after comparison),
``BENCH_READ_TIMEOUT`` (seconds, default 300; 0 keeps pynamodb's 30 s: moto answers the store's 16
parallel Queries one at a time, a 1 MB page costs it seconds of CPU, and a timed-out Query is sent
again, doubling its work; a 100,000-user resync failed with 30 s, so did moto's own Query at 20,000),
``BENCH_SEED`` (1), ``BENCH_UPDATES`` (1000; 0 skips the update sync),
``BENCH_MOTO`` (``process`` | ``inprocess``), ``BENCH_PROFILE=1`` (add a CPU-time cProfile, all
threads, of a second no-change resync). Run: ``.venv/bin/python -m bench.sync_bench`` or
``BENCH_USERS=20000 .venv/bin/python -m bench.sync_bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.measure import env_int, load, peak_rss_mb

# Sizes run by default (`make bench`) and in quick mode (BENCH_QUICK=1).
DEFAULT_SIZES = "100000"
QUICK_SIZES = "5000"
ROOT = Path(__file__).resolve().parent.parent
DISTRICT = "bench-isd"
TENANT = "4242"
PAGE_SIZE = 1000
BUDGET_S = 900.0  # one Lambda invocation
LAMBDA_MAX_MB = 10_240


# -- child processes -----------------------------------------------------------------------------
def onboard_emulated(info: dict[str, Any], today: dt.date) -> None:
    """Onboard the bench district on the child emulator ``info`` describes, every licensed school."""
    from classlink_sync.store import districts as district_store

    district_store.add_district(
        DISTRICT,
        tenant_id=TENANT,
        oneroster_url=info["base_url"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
        schools=info["licensed"],
        enable_from=today,
        override_notice=True,
        today=today,
    )


def start_child_emulator(conn: Any, users: int, seed: int) -> tuple[Any, Any]:
    """In an emulator child process: generate the district, serve it, and tell the parent where
    (and how long that took). Returns the dataset and the server's handle."""
    from classlink_local.emulator.datagen import generate
    from classlink_local.emulator.server import start_emulator

    started = time.perf_counter()
    dataset = generate(seed=seed, users=users)
    dataset.warm()
    handle = start_emulator(dataset, max_limit=PAGE_SIZE)
    conn.send(
        {
            "base_url": handle.base_url,
            "client_id": handle.client_id,
            "client_secret": handle.client_secret,
            "licensed": list(dataset.licensed_school_ids),
            "counts": dataset.counts(),
            "ready_s": time.perf_counter() - started,
        }
    )
    return dataset, handle


def _emulator_child(conn: Any, users: int, seed: int) -> None:
    """The emulator in its own process; answers ("update", ids) and ("stop",) on the pipe."""
    dataset, handle = start_child_emulator(conn, users, seed)
    try:
        while True:
            command = conn.recv()
            if command[0] == "update":
                changed = 0
                for sid in command[1]:
                    record = dataset.collection("users").record(sid)
                    dataset.update("users", sid, givenName=f"{record.get('givenName') or 'X'}-renamed")
                    changed += 1
                dataset.warm("users")
                conn.send(changed)
            else:
                break
    finally:
        handle.stop()


def _moto_child(conn: Any, adapter: bool) -> None:
    """moto's ThreadedMotoServer in its own process, so its CPU is not this process's GIL; with the
    partition Query adapter unless ``adapter`` is false."""
    import logging

    from moto.server import ThreadedMotoServer

    from classlink_local import moto_query, moto_write
    from classlink_local.stack import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    installed = moto_query.install() if adapter else False
    if adapter:
        moto_write.install()  # the write path without moto's avoidable per-item costs (same answers)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    conn.send({"endpoint": f"http://127.0.0.1:{port}", "adapter": installed})
    with contextlib.suppress(EOFError):
        while conn.recv()[0] == "cpu":  # CPU seconds of this process, all threads (load-independent)
            conn.send(time.process_time())
    server.stop()


class _Child:
    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        ctx = mp.get_context("spawn")  # no fork of a process with threads
        self.conn, child_conn = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child_conn, *args), daemon=True)
        self.proc.start()

    def recv(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.proc.name} did not answer in {timeout:.0f} s")
        return self.conn.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(("stop",))
        self.proc.join(timeout=15)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)


# -- profiling (bench-side only) -----------------------------------------------------------------
class _AllThreadsProfiler:
    """CPU-time (``time.thread_time``) cProfile of this thread and of every thread started while
    active (the fetch's page pool, the store's read and write pools)."""

    def __init__(self) -> None:
        import threading

        self._threading = threading
        self._profiles: list[Any] = []
        self._lock = threading.Lock()

    def _new(self) -> Any:
        import cProfile

        prof = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles.append(prof)
        return prof

    def __enter__(self) -> _AllThreadsProfiler:
        def hook(*_: Any) -> None:
            self._new().enable()  # replaces this hook for the rest of the thread

        self._threading.setprofile(hook)
        self._main = self._new()
        self._main.enable()
        return self

    def __exit__(self, *_: Any) -> None:
        self._main.disable()
        self._threading.setprofile(None)

    def report(self, top: int = 30) -> str:
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(self._profiles[0], stream=out)
        for prof in self._profiles[1:]:
            with contextlib.suppress(TypeError):  # a thread that made no call
                stats.add(prof)
        stats.strip_dirs()
        out.write("== by own CPU time (tottime), all threads ==\n")
        stats.sort_stats("tottime").print_stats(top)
        out.write("== by cumulative CPU time, all threads ==\n")
        stats.sort_stats("cumulative").print_stats(top)
        return "\n".join("    " + line for line in out.getvalue().splitlines() if line.strip())


# -- the bench -----------------------------------------------------------------------------------
_moto_process: _Child | None = None  # moto's process (BENCH_MOTO=process), asked for its CPU time


def _cpu_now() -> tuple[float, float | None]:
    """(CPU seconds of this process, of moto's process or None when moto runs in this one)."""
    moto = None
    if _moto_process is not None:
        _moto_process.conn.send(("cpu",))
        moto = float(_moto_process.recv(timeout=60))
    return time.process_time(), moto


def _cpu_since(start: tuple[float, float | None]) -> dict[str, float | None]:
    now = _cpu_now()
    moto = None if now[1] is None or start[1] is None else now[1] - start[1]
    return {"sync": now[0] - start[0], "moto": moto}


def _cpu_text(cpu: dict[str, float | None]) -> str:
    moto = "in this process" if cpu["moto"] is None else f"{cpu['moto']:.1f} s"
    return f"CPU time: sync process {cpu['sync']:.1f} s, moto {moto}"


def _fetched(plan: Any) -> int:
    return sum(c.get("fetched", 0) for c in plan.counts.values())


def _created(plan: Any) -> dict[str, int]:
    return {
        "accounts": len(plan.accounts["create"]),
        "reservations": len(plan.reservations["add"]),
        "classes": len(plan.classes["create"]),
        "enrollments": len(plan.enrollments["create"]),
        "schools": len(plan.schools["create"]),
    }


def _changes(plan: Any) -> str:
    parts = []
    for name in ("accounts", "reservations", "classes", "enrollments", "schools"):
        for action, items in getattr(plan, name).items():
            if len(items):
                parts.append(f"{name}.{action} {len(items):,}")
    return ", ".join(parts) or "none"


def _writes_by_table(meter: Any, settings: Any) -> dict[str, int]:
    from classlink_sync.store.dynamo import roster_tables

    snap = meter.snapshot()
    names = dict(
        zip(roster_tables(settings), ("accounts", "reservations", "classes", "enrollments", "schools"), strict=True)
    )
    return {short: snap[table].written if table in snap else 0 for table, short in names.items()}


def _traffic(meter: Any) -> dict[str, int]:
    """Requests and items at the DynamoDB API since the meter's last reset, all tables."""
    snap = meter.snapshot().values()
    return {
        "requests": sum(c.requests for c in snap),
        "read_requests": sum(c.requests - c.write_requests for c in snap),
        "read_items": sum(c.read for c in snap),
        "write_requests": sum(c.write_requests for c in snap),
        "written_items": sum(c.written for c in snap),
    }


def _traffic_text(t: dict[str, int]) -> str:
    return (
        f"{t['requests']:,} requests: {t['read_requests']:,} reads returning {t['read_items']:,} items, "
        f"{t['write_requests']:,} writes of {t['written_items']:,} items"
    )


def _timings(report: Any, wall: float) -> str:
    t = dict(report.timings)
    shown = ", ".join(f"{k} {v:.2f}" for k, v in t.items())
    rest = wall - sum(t.values())
    return f"{shown}, other (lease, run record, R2 reset) {rest:.2f} s"


def _sync(date: str) -> tuple[Any, float]:
    from classlink_sync.sync.messages import SyncRequest
    from classlink_sync.sync.service import run_sync

    gc.collect()
    started = time.perf_counter()
    outcome = run_sync(SyncRequest(district_id=DISTRICT, date=date, trigger="manual"), raise_on_failure=False)
    wall = time.perf_counter() - started
    if outcome.plan is None:  # failed before planning, or handed off (R20): nothing to measure
        report = outcome.report
        raise RuntimeError(
            f"the sync of {date} ended {report.status} after {wall:.1f} s without a plan: {report.error}; "
            f"timings {report.timings}"
        )
    return outcome, wall


def run(
    users: int, seed: int, updates: int, moto_mode: str, profile: bool, read_pass: bool, adapter: bool = True
) -> dict[str, Any]:
    """One size: fresh emulator and moto processes, a fresh local stack."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    bench_started = time.perf_counter()
    print(
        f"sync bench: {users:,} users (seed {seed}), {updates:,} name changes, moto {moto_mode} "
        f"({'with' if adapter else 'without'} the partition Query adapter); "
        f"{os.cpu_count()} CPUs, load average {load()}",
        flush=True,
    )
    emulator = _Child(_emulator_child, users, seed)
    global _moto_process
    moto = _moto_process = _Child(_moto_child, adapter) if moto_mode == "process" else None
    try:
        info = emulator.recv(timeout=900)
        started: dict[str, Any] = moto.recv(timeout=120) if moto is not None else {"endpoint": None, "adapter": adapter}
        info["moto_adapter"] = started["adapter"]
        return _bench(info, emulator, started["endpoint"], users, updates, profile, read_pass, bench_started)
    finally:
        emulator.stop()
        if moto is not None:
            moto.stop()
        _moto_process = None
        print(f"  this size took {time.perf_counter() - bench_started:.0f} s; load average at the end {load()}\n")


def _bench(
    info: dict[str, Any],
    emulator: _Child,
    endpoint: str | None,
    users: int,
    updates: int,
    profile: bool,
    read_pass: bool,
    bench_started: float,
) -> dict[str, Any]:
    from classlink_local.stack import local_stack
    from classlink_sync.rules.holdings import gather
    from classlink_sync.settings import get_settings
    from classlink_sync.store import districts as district_store
    from classlink_sync.store import runs
    from classlink_sync.store.context import resolve
    from classlink_sync.store.dynamo import METER, roster_tables
    from classlink_sync.store.view import DynamoRosterView
    from classlink_sync.sync.service import fetch_district

    counts = ", ".join(f"{k} {v:,}" for k, v in info["counts"].items() if v)
    print(f"  emulator (separate process) ready in {info['ready_s']:.1f} s: {counts}", flush=True)
    kwargs = {"endpoint_url": endpoint} if endpoint else {}
    with local_stack(**kwargs) as stack:
        if not endpoint:  # moto in this process: start_local_stack installed the adapter
            from classlink_local import moto_query, moto_write

            if not info["moto_adapter"]:
                moto_query.uninstall()
                moto_write.uninstall()
            info["moto_adapter"] = moto_query.installed()
        adapter = "partition Query adapter" if info["moto_adapter"] else "moto's own whole-table Query"
        print(f"  local stack: moto at {stack.endpoint_url} ({adapter}), tables created", flush=True)
        today = dt.date(2026, 3, 2)
        onboard_emulated(info, today)
        settings = get_settings()
        roster = roster_tables(settings)
        print(f"  onboarded {DISTRICT} with {len(info['licensed'])} licensed schools", flush=True)

        # (a) first sync + (b) writes per create
        rss_before = _current_rss_mb()
        METER.reset()
        cpu_start = _cpu_now()
        first, first_wall = _sync(today.isoformat())
        cpu1 = _cpu_since(cpu_start)
        plan1 = first.plan
        assert plan1 is not None
        fetched1 = _fetched(plan1)
        t1 = first.report.timings
        store1 = t1.get("read_store_s", 0.0) + t1.get("apply_s", 0.0)
        by_table = _writes_by_table(METER, settings)
        created = _created(plan1)
        writes1 = METER.writes(roster)
        items_created = sum(created.values()) - created["reservations"]
        print("\n  (a) first sync")
        print(f"      status {first.status}; {fetched1:,} records fetched; planned: {_changes(plan1)}")
        print(
            f"      wall {first_wall:.1f} s = {fetched1 / first_wall:,.0f} records/s; "
            f"timings: {_timings(first.report, first_wall)}"
        )
        print(
            f"      store time (moto: read_store_s + apply_s) {store1:.1f} s; without it {first_wall - store1:.1f} s "
            f"= {fetched1 / max(first_wall - store1, 1e-9):,.0f} records/s; apply wrote "
            f"{writes1 / max(t1.get('apply_s', 0.0), 1e-9):,.0f} items/s to moto"
        )
        traffic1 = _traffic(METER)
        print(f"      store requests (at the API, all tables): {_traffic_text(traffic1)}; {_cpu_text(cpu1)}")
        print("  (b) roster writes per created record (counted at the DynamoDB API)")
        print(
            f"      accounts table {by_table['accounts']:,} for {created['accounts']:,} accounts created; "
            f"reservations table {by_table['reservations']:,} for {created['reservations']:,} reservations added"
        )
        print(
            f"      per created account (account + reservation): "
            f"{(by_table['accounts'] + by_table['reservations']) / max(created['accounts'], 1):.3f} (target <= 2)"
        )
        print(
            f"      classes {by_table['classes']:,}/{created['classes']:,}, enrolments {by_table['enrollments']:,}/"
            f"{created['enrollments']:,}, schools {by_table['schools']:,}/{created['schools']:,}; all roster writes "
            f"{writes1:,} for {items_created:,} created items = {writes1 / max(items_created, 1):.3f} per created item "
            f"(reservations counted as part of their account); report.roster_writes {first.report.roster_writes:,}"
        )
        if first.status != "succeeded":
            print(f"      NOTE: first sync ended {first.status}: {first.report.error or first.report.guard_reasons}")

        # (b) update sync
        renamed = [a.sourced_id for a in plan1.accounts["create"] if a.sourced_id][:updates]
        del first, plan1
        if updates > 0:
            _update_sync(emulator, renamed, (today + dt.timedelta(days=1)).isoformat())
        else:
            print("\n  (b) update sync skipped (BENCH_UPDATES=0)")

        # (c) fetch-only, no-change resync, fetch-only again, store reads alone
        store = resolve(None)
        district = district_store.get_district(DISTRICT, store)
        fetch_only: list[float] = []

        def timed_fetch() -> Any:
            gc.collect()
            started = time.perf_counter()
            snapshot = fetch_district(district, store)
            fetch_only.append(time.perf_counter() - started)
            return snapshot

        timed_fetch()
        METER.reset()
        cpu_start = _cpu_now()
        third, third_wall = _sync((today + dt.timedelta(days=2)).isoformat())
        cpu3 = _cpu_since(cpu_start)
        plan3 = third.plan
        assert plan3 is not None
        writes3 = METER.writes(roster)
        read_items, read_requests = METER.reads(roster)
        traffic3 = _traffic(METER)
        t3 = third.report.timings
        del plan3
        snapshot = timed_fetch()
        stored = runs.load_report(runs.get_run(DISTRICT, third.run_id, store), store)  # type: ignore[arg-type]
        read_stats = stored.get("store_reads") or {}
        read_alone_text = ""
        if read_pass:  # optional: moto reads slowly, this pass costs as much as the resync's reads
            view = DynamoRosterView(store)
            started = time.perf_counter()
            held = gather(view, DISTRICT, snapshot)
            read_alone = time.perf_counter() - started
            held_items = len(held.accounts) + len(held.classes) + len(held.enrollments) + len(held.schools)
            del held
            read_alone_text = (
                f"; a read-only pass through DynamoRosterView: {view.stats.items:,} items ({held_items:,} held "
                f"records) in {view.stats.requests:,} requests, {read_alone:.2f} s"
            )
        del snapshot
        fetch_mean = sum(fetch_only) / len(fetch_only)
        fetch_plan = t3.get("fetch_s", 0.0) + t3.get("plan_s", 0.0)
        print("\n  (c) no-change resync")
        print(
            f"      status {third.status}; planned: {_changes(third.plan)}; roster writes {writes3:,} "
            f"(counted at the API; expected 0)"
        )
        print(
            f"      wall {third_wall:.1f} s = {fetched1 / third_wall:,.0f} records/s; "
            f"timings: {_timings(third.report, third_wall)}"
        )
        print(
            f"      fetch-only (the same client fetch alone, before and after): "
            f"{', '.join(f'{s:.2f}' for s in fetch_only)} s, mean {fetch_mean:.2f} s"
        )
        print(
            f"      RATIO fetch + plan / fetch-only: {t3.get('fetch_s', 0.0):.2f} + {t3.get('plan_s', 0.0):.2f} = "
            f"{fetch_plan:.2f} s / {fetch_mean:.2f} s = {fetch_plan / fetch_mean:.2f}x (target within 1.3x)"
        )
        store3 = t3.get("read_store_s", 0.0) + t3.get("apply_s", 0.0)
        outside3 = third_wall - store3
        print(
            f"      RATIO resync outside the store / fetch-only: ({third_wall:.2f} - {store3:.2f}) s = "
            f"{outside3:.2f} s / {fetch_mean:.2f} s = {outside3 / fetch_mean:.2f}x (target at most 1.3x; the "
            f"difference is plan, lease, run record and report)"
        )
        read_s = t3.get("read_store_s", 0.0)
        print(
            f"      store reads (separate, not in the ratio): read_store_s {read_s:.2f} s; view ReadStats "
            f"{read_stats.get('items', 0):,} items in {read_stats.get('requests', 0):,} requests; at the API "
            f"{read_items:,} items in {read_requests:,} requests (roster tables) = "
            f"{read_items / max(read_s, 1e-9):,.0f} items/s from moto{read_alone_text}"
        )
        print(f"      store requests (at the API, all tables): {_traffic_text(traffic3)}; {_cpu_text(cpu3)}")
        if cpu3["moto"]:
            print(f"      moto served {read_items / cpu3['moto']:,.0f} items read per CPU second of its process")
        peak = peak_rss_mb()
        print(
            f"      peak RSS of the sync process (ru_maxrss, emulator and moto excluded): {peak:,.0f} MB "
            f"({rss_before:,.0f} MB before the first sync)"
        )

        # (d) estimate
        _estimate(users, first_wall, store1, third_wall, t3, peak, rss_before)
        result = {
            "users": users,
            "records": fetched1,
            "first_s": first_wall,
            "first_store_s": store1,
            "resync_s": third_wall,
            "resync_store_s": store3,
            "resync_fetch_plan_s": fetch_plan,
            "fetch_only_s": fetch_mean,
            "peak_mb": peak,
            "rss_before_mb": rss_before,
            "adapter": bool(info["moto_adapter"]),
            "first_traffic": traffic1,
            "resync_traffic": traffic3,
            "moto_read_items_per_s": read_items / max(read_s, 1e-9),
            "first_cpu": cpu1,
            "resync_cpu": cpu3,
        }

        if profile:
            print("\n  profiled no-change resync (CPU time per thread; not counted; cProfile slows it):")
            with _AllThreadsProfiler() as prof:
                again, again_wall = _sync((today + dt.timedelta(days=3)).isoformat())
            print(f"    wall {again_wall:.1f} s; timings {again.report.timings}")
            print(prof.report())
        del third
    print(f"\n  bench so far {time.perf_counter() - bench_started:.0f} s", flush=True)
    return result


def _update_sync(emulator: _Child, renamed: list[str], date: str) -> None:
    """(b): rename users in the emulator, sync, count the roster writes per account update."""
    from classlink_sync.settings import get_settings
    from classlink_sync.store.dynamo import METER, roster_tables

    settings = get_settings()
    emulator.conn.send(("update", renamed))
    changed = emulator.recv(timeout=300)
    METER.reset()
    second, second_wall = _sync(date)
    plan2 = second.plan
    writes2 = METER.writes(roster_tables(settings))
    n_updates = len(plan2.accounts["update"])
    print(f"\n  (b) update sync after {changed:,} users' givenName changed in the emulator")
    print(f"      status {second.status}; planned: {_changes(plan2)}")
    print(
        f"      roster writes {writes2:,} ({_writes_by_table(METER, settings)}) for {n_updates:,} account updates "
        f"= {writes2 / max(n_updates, 1):.3f} per update (target 1.0); wall {second_wall:.1f} s; "
        f"timings: {_timings(second.report, second_wall)}"
    )


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except OSError:
        return 0.0


def _estimate(
    users: int, first_wall: float, store1: float, resync_wall: float, t3: dict[str, float], peak: float, base: float
) -> None:
    """Linear in users: every phase scans or writes per record, and the generator's mix of
    classes and enrolments per user is fixed, so time(N) ~ N * (measured time / measured N)."""
    store3 = t3.get("read_store_s", 0.0) + t3.get("apply_s", 0.0)

    def largest(seconds: float) -> str:
        return f"{BUDGET_S / seconds * users:,.0f} users" if seconds > 0 else "n/a"

    print("\n  (d) largest district one 15-minute (900 s) invocation can finish, by linear extrapolation")
    print("      (users_max = 900 s / measured s x measured users; same record mix per user as the generator)")
    print(
        f"      first sync: as measured on moto ({first_wall:.1f} s) -> {largest(first_wall)}; "
        f"store time excluded ({first_wall - store1:.1f} s) -> {largest(first_wall - store1)} "
        f"(an upper bound: DynamoDB's own time is not zero)"
    )
    print(
        f"      no-change resync: as measured ({resync_wall:.1f} s) -> {largest(resync_wall)}; "
        f"store time excluded ({resync_wall - store3:.1f} s) -> {largest(resync_wall - store3)}"
    )
    growth = max(peak - base, 1e-9)
    print(
        f"      memory: {peak:,.0f} MB peak at {users:,} users, {growth:,.0f} MB above the {base:,.0f} MB before the "
        f"first sync -> about {(LAMBDA_MAX_MB - base) / growth * users:,.0f} users in Lambda's 10,240 MB maximum "
        f"(growth assumed linear in users)"
    )


def _extrapolate(results: list[dict[str, Any]], target: int) -> None:
    """A line through the two largest sizes (time = a + b x users), to ``target`` users and to 900 s."""
    small, large = sorted(results, key=lambda r: r["users"])[-2:]
    du = large["users"] - small["users"]
    print(f"extrapolation: a straight line through {small['users']:,} and {large['users']:,} users (t = a + b x users)")
    for key, label in (
        ("first_s", "first sync, as measured (moto)"),
        ("first_nostore_s", "first sync without store time"),
        ("resync_s", "no-change resync, as measured (moto)"),
        ("resync_nostore_s", "no-change resync without store time"),
        ("resync_fetch_plan_s", "resync fetch + plan"),
        ("fetch_only_s", "fetch only"),
    ):
        b = (large[key] - small[key]) / du
        a = large[key] - b * large["users"]
        at_target = a + b * target
        fits = f"; 900 s reached at {(BUDGET_S - a) / b:,.0f} users" if key.endswith("_s") and b > 0 else ""
        print(f"  {label:40s} {small[key]:9.1f} -> {large[key]:9.1f}; at {target:,} users {at_target:9.1f}{fits}")
    print("  (peak RSS is not extrapolated: ru_maxrss spans every size run in this process; see (d) of the largest)\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_bench", description=__doc__.split("\n")[0])
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    parser.add_argument(
        "--users",
        default=os.environ.get("BENCH_USERS") or (QUICK_SIZES if quick else DEFAULT_SIZES),
        help="users, or a comma-separated list of sizes run one after the other and extrapolated (BENCH_USERS; "
        f"default {DEFAULT_SIZES}, {QUICK_SIZES} with BENCH_QUICK=1)",
    )
    parser.add_argument("--seed", type=int, default=env_int("BENCH_SEED", 1))
    parser.add_argument("--updates", type=int, default=env_int("BENCH_UPDATES", 1000))
    parser.add_argument("--moto", choices=("process", "inprocess"), default=os.environ.get("BENCH_MOTO", "process"))
    parser.add_argument("--profile", action="store_true", default=os.environ.get("BENCH_PROFILE", "") not in ("", "0"))
    parser.add_argument(
        "--read-pass", action="store_true", default=os.environ.get("BENCH_READ_PASS", "") not in ("", "0"),
        help="also time a read-only DynamoRosterView pass (BENCH_READ_PASS=1)",
    )  # fmt: skip
    parser.add_argument(
        "--no-adapter", dest="adapter", action="store_false",
        default=os.environ.get("BENCH_MOTO_ADAPTER", "1") not in ("", "0"),
        help="moto's own whole-table Query, without classlink_local.moto_query (BENCH_MOTO_ADAPTER=0)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    _set_read_timeout(env_int("BENCH_READ_TIMEOUT", 300))
    sizes = [int(u.strip().replace("_", "")) for u in str(args.users).split(",") if u.strip()]
    sys.path.insert(0, str(ROOT))  # the spawned children import this module
    results = []
    for users in sizes:
        result = run(users, args.seed, args.updates, args.moto, args.profile, args.read_pass, args.adapter)
        result["first_nostore_s"] = result["first_s"] - result["first_store_s"]
        result["resync_nostore_s"] = result["resync_s"] - result["resync_store_s"]
        results.append(result)
    _summary(results)
    if len(results) >= 2:
        _extrapolate(results, 100_000)
    return 0


def _set_read_timeout(seconds: int) -> None:
    """pynamodb reads its defaults from the file ``PYNAMODB_CONFIG`` names, once, at import."""
    if seconds <= 0:
        return
    import tempfile

    assert "pynamodb.settings" not in sys.modules, "set the read timeout before pynamodb is imported"
    with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="bench-pynamodb-", delete=False) as handle:
        handle.write(f"read_timeout_seconds = {seconds}\n")
    os.environ["PYNAMODB_CONFIG"] = handle.name
    import atexit

    atexit.register(os.unlink, handle.name)
    print(f"pynamodb read timeout {seconds} s ({handle.name})")


def _summary(results: list[dict[str, Any]]) -> None:
    """One line per size: what issue 10 asks the bench to report."""
    print("summary (store = moto's time, read_store_s + apply_s; outside = wall - store)")
    for r in results:
        t1, t3 = r["first_traffic"], r["resync_traffic"]
        print(
            f"  {r['users']:,} users, {r['records']:,} records, "
            f"{'partition Query adapter' if r['adapter'] else 'moto own Query'}: "
            f"first sync {r['first_s']:.1f} s (outside the store {r['first_nostore_s']:.1f} s; store "
            f"{t1['requests']:,} requests, {t1['read_items']:,} items read, {t1['written_items']:,} written); "
            f"no-change resync {r['resync_s']:.1f} s (outside the store {r['resync_nostore_s']:.1f} s = "
            f"{r['resync_nostore_s'] / r['fetch_only_s']:.2f}x fetch alone {r['fetch_only_s']:.1f} s; store "
            f"{t3['requests']:,} requests, {t3['read_items']:,} items read, "
            f"{r['moto_read_items_per_s']:,.0f} items/s from moto); "
            f"peak RSS {r['peak_mb']:,.0f} MB; first sync {_cpu_text(r['first_cpu'])}; resync "
            f"{_cpu_text(r['resync_cpu'])}"
        )


if __name__ == "__main__":
    sys.exit(main())
