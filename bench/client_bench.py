"""Benchmark of the OneRoster client (issue 2, ``make bench``): a whole district from the emulator.

The ClassLink emulator runs in its own process (``classlink-sync emulator``: a generated district,
``--max-limit 1000``), so the measured process holds only the client. Then, each in a fresh
process started with ``python -m bench.client_bench --worker ...`` (whole interpreter start-up and
imports included in the wall time):

* baseline: the same pages over ONE plain httpx connection, sequentially, each request signed
  with the same OAuth 1.0a HMAC-SHA256 signer (the emulator verifies every signature), each body
  ``json.loads``-ed; the offset advances by the records received until ``X-Total-Count``;
* client: ``OneRosterClient(base_url, OAuth1Auth(id, secret), page_size=1000,
  concurrency=4).fetch_snapshot()`` (signing, pydantic models, compact records, paging,
  completeness).

It prints records/s of each, the ratio (target: client within 2x of the baseline, start-up
included), the client's peak RSS (``ru_maxrss``), and how many records and pages. It decides
nothing: no pass/fail, exit status 0 unless something broke.

Environment: ``BENCH_USERS`` (default 100000), ``BENCH_SEED`` (1), ``BENCH_REPEAT`` (3 rounds of
baseline + client, after one unmeasured warm-up fetch), ``BENCH_CONCURRENCY`` (4),
``BENCH_PROFILE=1`` (add one profiled client run: per-thread CPU-time cProfile of the fetch).
Run: ``.venv/bin/python -m bench.client_bench`` or ``BENCH_USERS=2000 .venv/bin/python -m
bench.client_bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure import cpu_s, env_int, load, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
PAGE_SIZE = 1000
CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"
# What fetch_snapshot reads, in its order (client.SNAPSHOT_COLLECTIONS); the baseline reads the same.
COLLECTIONS = ("orgs", "academicSessions", "courses", "classes", "users", "enrollments")


# -- workers (each runs in a fresh process) ------------------------------------------------------
def worker_baseline(url: str) -> dict[str, Any]:
    """One plain connection, sequential pages, same signer, json.loads: the floor of any client."""
    started = time.perf_counter()
    import httpx

    from classlink_sync.oneroster.auth import OAuth1Auth  # imports only httpx and the stdlib

    imported = time.perf_counter()
    records = pages = nbytes = 0
    totals: dict[str, int] = {}
    with httpx.Client(
        auth=OAuth1Auth(CLIENT_ID, CLIENT_SECRET),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        timeout=60.0,
    ) as http:
        for name in COLLECTIONS:
            offset = 0
            while True:
                response = http.get(f"{url}/{name}", params={"limit": str(PAGE_SIZE), "offset": str(offset)})
                response.raise_for_status()
                body = response.content
                data = json.loads(body)
                items = next((v for v in data.values() if isinstance(v, list)), [])
                pages += 1
                nbytes += len(body)
                records += len(items)
                offset += len(items)
                total = response.headers.get("X-Total-Count")
                if not items or (total is not None and offset >= int(total)):
                    break
            totals[name] = offset
    done = time.perf_counter()
    return {
        "records": records,
        "pages": pages,
        "bytes": nbytes,
        "per_collection": totals,
        "import_s": imported - started,
        "fetch_s": done - imported,
        "cpu_s": cpu_s(),
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_client(url: str, concurrency: int, profile: bool) -> dict[str, Any]:
    """The full client, as the sync uses it."""
    started = time.perf_counter()
    from classlink_sync.oneroster.auth import OAuth1Auth
    from classlink_sync.oneroster.client import OneRosterClient

    imported = time.perf_counter()
    profiler = _ThreadProfiler() if profile else None
    pages: list[int] = []
    if profiler is not None:
        profiler.install()
    _count_pages(pages)
    with OneRosterClient(
        url, OAuth1Auth(CLIENT_ID, CLIENT_SECRET), page_size=PAGE_SIZE, concurrency=concurrency
    ) as client:
        snapshot = client.fetch_snapshot() if profiler is None else profiler.run(client.fetch_snapshot)
    done = time.perf_counter()
    statuses = snapshot.collections
    result: dict[str, Any] = {
        "records": sum(s.received for s in statuses.values()),
        "pages": len(pages),
        "kept": sum(
            len(getattr(snapshot, a))
            for a in ("orgs", "academic_sessions", "courses", "classes", "users", "enrollments")
        ),
        "rejected": len(snapshot.rejected),
        "complete": all(s.complete for s in statuses.values()),
        "incomplete": {n: s.reason for n, s in statuses.items() if not s.complete},
        "per_collection": {n: s.received for n, s in statuses.items()},
        "import_s": imported - started,
        "fetch_s": done - imported,
        "cpu_s": cpu_s(),
        "peak_rss_mb": peak_rss_mb(),
        **_SPLIT,
    }
    if profiler is not None:
        result["profile"] = profiler.report()
    return result


_SPLIT = {"parse_cpu_s": 0.0, "request_cpu_s": 0.0}


def _count_pages(pages: list[int]) -> None:
    """Count pages and split the client's CPU time (per thread, ``time.thread_time``) between the
    HTTP request + ``json.loads`` (``_request``) and validation into compact records
    (``parse_page``), by wrapping both (bench-side only; two clock reads a page)."""
    import threading

    from classlink_sync.oneroster import client as client_module

    lock = threading.Lock()
    original_parse = client_module.parse_page
    original_request = client_module.OneRosterClient._request

    def counted(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original_parse(*args, **kwargs)
        finally:
            with lock:
                pages.append(1)
                _SPLIT["parse_cpu_s"] += time.thread_time() - started

    def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original_request(self, *args, **kwargs)
        finally:
            with lock:
                _SPLIT["request_cpu_s"] += time.thread_time() - started

    client_module.parse_page = counted
    client_module.OneRosterClient._request = request  # type: ignore[method-assign]


class _ThreadProfiler:
    """cProfile per thread with a CPU-time clock (``time.thread_time``): waiting for the GIL or the
    socket is not charged to whatever function happened to be running, so the numbers say where
    the client's CPU goes. The main thread is profiled around ``fetch_snapshot``; pool threads
    around each ``_get_page``. Bench-side instrumentation only."""

    def __init__(self) -> None:
        import threading

        self._profiles: list[Any] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self._main = threading.main_thread()

    def _profile(self) -> Any:
        import cProfile

        prof = getattr(self._local, "prof", None)
        if prof is None:
            prof = self._local.prof = cProfile.Profile(time.thread_time)
            with self._lock:
                self._profiles.append(prof)
        return prof

    def install(self) -> None:
        import threading

        from classlink_sync.oneroster.client import OneRosterClient

        original = OneRosterClient._get_page
        me = self

        def wrapped(client: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is me._main:
                return original(client, *args, **kwargs)
            prof = me._profile()
            prof.enable()
            try:
                return original(client, *args, **kwargs)
            finally:
                prof.disable()

        OneRosterClient._get_page = wrapped  # type: ignore[method-assign,assignment]

    def run(self, fn: Any) -> Any:
        prof = self._profile()
        prof.enable()
        try:
            return fn()
        finally:
            prof.disable()

    def report(self, top: int = 25) -> str:
        import io
        import pstats

        out = io.StringIO()
        stats = pstats.Stats(self._profiles[0], stream=out)
        for prof in self._profiles[1:]:
            stats.add(prof)
        stats.strip_dirs()
        out.write("== by own CPU time (tottime), all threads ==\n")
        stats.sort_stats("tottime").print_stats(top)
        out.write("== by cumulative CPU time, all threads ==\n")
        stats.sort_stats("cumulative").print_stats(top)
        return "\n".join(line for line in out.getvalue().splitlines() if line.strip())


# -- orchestration -------------------------------------------------------------------------------
def _python_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BENCH_PROFILE"}  # workers profile only if told
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def start_emulator(users: int, seed: int) -> tuple[subprocess.Popen[str], str, float]:
    """``classlink-sync emulator`` in its own process; returns (process, base URL, seconds to ready)."""
    cmd = [
        sys.executable,
        "-c",
        "import sys; from classlink_sync.cli import main; sys.exit(main())",
        "emulator",
        "--users",
        str(users),
        "--seed",
        str(seed),
        "--port",
        "0",
        "--max-limit",
        str(PAGE_SIZE),
        "--client-id",
        CLIENT_ID,
        "--client-secret",
        CLIENT_SECRET,
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=_python_env(), cwd=ROOT)
    assert proc.stdout is not None
    url = None
    for line in proc.stdout:
        if "Roster Server URL:" in line:
            url = line.split("URL:", 1)[1].strip()
        if line.startswith("Ctrl-C to stop"):
            break
    if url is None:
        proc.kill()
        raise RuntimeError(f"the emulator did not start (exit {proc.wait()})")
    return proc, url, time.perf_counter() - started


def run_worker(kind: str, url: str, concurrency: int, profile: bool = False) -> dict[str, Any]:
    """Run one worker in a fresh interpreter; wall time covers the whole process, start-up included."""
    cmd = [
        sys.executable,
        "-m",
        "bench.client_bench",
        "--worker",
        kind,
        "--url",
        url,
        "--concurrency",
        str(concurrency),
    ]
    if profile:
        cmd.append("--profile")
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_python_env(), cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def orchestrate(users: int, seed: int, repeat: int, concurrency: int, profile: bool) -> int:
    print(
        f"client bench: {users:,} users (seed {seed}), page size {PAGE_SIZE}, client concurrency {concurrency}, "
        f"{repeat} round(s); {os.cpu_count()} CPUs, load average {load()}",
        flush=True,
    )
    emulator, url, ready_s = start_emulator(users, seed)
    try:
        print(f"  emulator (separate process) ready in {ready_s:.1f} s at {url}", flush=True)
        warm = run_worker("baseline", url, concurrency)  # unmeasured: first-touch costs of the emulator
        print(f"  warm-up fetch (not counted): {warm['records']:,} records in {warm['pages']} pages", flush=True)
        baselines: list[dict[str, Any]] = []
        clients: list[dict[str, Any]] = []
        for round_no in range(1, repeat + 1):
            base = run_worker("baseline", url, concurrency)
            client = run_worker("client", url, concurrency)
            baselines.append(base)
            clients.append(client)
            print(
                f"  round {round_no}: baseline {base['wall_s']:6.2f} s ({base['records'] / base['wall_s']:9,.0f} rec/s)"
                f" | client {client['wall_s']:6.2f} s ({client['records'] / client['wall_s']:9,.0f} rec/s)"
                f" | ratio {client['wall_s'] / base['wall_s']:.2f}x | load {load()}",
                flush=True,
            )
        _summary(baselines, clients)
        if profile:
            prof = run_worker("client", url, concurrency, profile=True)
            print(
                f"\n  profiled client run (not counted; cProfile slows it): {prof['wall_s']:.1f} s wall, "
                f"{prof['cpu_s']:.1f} s CPU\n"
            )
            print("\n".join("    " + line for line in prof["profile"].splitlines()))
    finally:
        emulator.terminate()
        try:
            emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.wait()
    print(f"  load average at the end: {load()}")
    return 0


def _summary(baselines: list[dict[str, Any]], clients: list[dict[str, Any]]) -> None:
    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    base, client = baselines[-1], clients[-1]
    b_wall, c_wall = med(baselines, "wall_s"), med(clients, "wall_s")
    b_fetch, c_fetch = med(baselines, "fetch_s"), med(clients, "fetch_s")
    records = client["records"]
    print("\n  results (medians over the rounds; every time is a fresh process):")
    print(
        f"    records: {records:,} distinct sourcedIds ({client['kept']:,} kept as compact records, "
        f"{client['rejected']:,} rejected with a reason); baseline received {base['records']:,} raw records"
    )
    print(f"      per collection: {', '.join(f'{k} {v:,}' for k, v in client['per_collection'].items())}")
    print(
        f"    pages: client {client['pages']}, baseline {base['pages']} "
        f"({base['bytes'] / 1e6:,.0f} MB of JSON); fetch complete: {client['complete']}"
        + (f" {client['incomplete']}" if not client["complete"] else "")
    )
    print(
        f"    baseline (1 connection, sequential, signed, json.loads): {b_wall:6.2f} s whole process "
        f"= {base['records'] / b_wall:9,.0f} records/s  (start-up+imports {med(baselines, 'import_s'):.2f} s, "
        f"fetch {b_fetch:.2f} s, CPU {med(baselines, 'cpu_s'):.2f} s, peak RSS {med(baselines, 'peak_rss_mb'):,.0f} MB)"
    )
    print(
        f"    client (OneRosterClient.fetch_snapshot):                 {c_wall:6.2f} s whole process "
        f"= {records / c_wall:9,.0f} records/s  (start-up+imports {med(clients, 'import_s'):.2f} s, "
        f"fetch {c_fetch:.2f} s, CPU {med(clients, 'cpu_s'):.2f} s)"
    )
    best = min(c["wall_s"] for c in clients) / min(b["wall_s"] for b in baselines)
    print(
        f"    RATIO client / baseline, whole process: median {c_wall / b_wall:.2f}x, best-of-rounds {best:.2f}x "
        f"(target: within 2x); fetch only (medians): {c_fetch / b_fetch:.2f}x; CPU time: "
        f"{med(clients, 'cpu_s') / med(baselines, 'cpu_s'):.2f}x (the least load-sensitive of the three)"
    )
    print(
        f"    client CPU split (thread CPU time, all threads): parse_page (pydantic validation -> compact "
        f"records) {med(clients, 'parse_cpu_s'):.2f} s, _request (HTTP + json.loads) "
        f"{med(clients, 'request_cpu_s'):.2f} s, rest (start-up, paging, merge) "
        f"{med(clients, 'cpu_s') - med(clients, 'parse_cpu_s') - med(clients, 'request_cpu_s'):.2f} s"
    )
    print(f"    client peak RSS (ru_maxrss): {med(clients, 'peak_rss_mb'):,.0f} MB  "
          f"(baseline process {med(baselines, 'peak_rss_mb'):,.0f} MB)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=("baseline", "client"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=env_int("BENCH_CONCURRENCY", 4))
    parser.add_argument("--profile", action="store_true", default=os.environ.get("BENCH_PROFILE", "") not in ("", "0"))
    parser.add_argument("--users", type=int, default=env_int("BENCH_USERS", 100_000))
    parser.add_argument("--seed", type=int, default=env_int("BENCH_SEED", 1))
    parser.add_argument("--repeat", type=int, default=env_int("BENCH_REPEAT", 3))
    args = parser.parse_args(argv)
    if args.worker:
        if args.worker == "baseline":
            result = worker_baseline(args.url)
        else:
            result = worker_client(args.url, args.concurrency, args.profile)
        print(json.dumps(result))
        return 0
    return orchestrate(args.users, args.seed, max(1, args.repeat), args.concurrency, args.profile)


if __name__ == "__main__":
    sys.exit(main())
