"""District portal benchmark (S7, issue 12): what a page costs the server, what the CSV download
costs in memory, and what the portal's imports would cost the SSO's cold start.

1. Cold start, each a median of fresh interpreters: the SSO handler's import alone; the SSO handler
   plus the portal's handler (what one function serving both would import); the portal's handler
   alone; the portal's first page (its handler, then Jinja2 and the run template, the store and
   boto3, which load on first use). docs/portal.md quotes these numbers for the decision to give
   the portal a function of its own.
2. The run page of a run with 10,000 issues through the real handler (API Gateway v2 events, a
   signed session) over an in-memory backend, so the time is the portal's own (no moto, no S3):
   p50/p99 of the first page, a rule filter, a text filter and the last page. Target: p99 under
   200 ms. Baseline in the same run: the same requests with the report parsed whole by
   ``json.loads`` instead of streamed.
3. The CSV of 100,000 issues, peak memory by ``tracemalloc``: the streamed pipeline alone (report
   stream -> CSV chunks), the whole download through the handler (past the inline limit the chunks
   go to the report bucket as a multipart upload, one 8 MiB part in memory at a time; here the
   upload is counted and dropped), against the baseline of ``json.loads`` of the report plus the
   CSV built as one string. The report's own bytes (an S3 body, a stream in production) are made
   before measuring starts.

Sizes: ``BENCH_PORTAL_ISSUES`` (10,000), ``BENCH_PORTAL_CSV_ISSUES`` (100,000), ``BENCH_PORTAL_REQUESTS``
(100), ``BENCH_PORTAL_IMPORT_RUNS`` (7). Run: ``python -m bench.portal_bench`` (or ``make bench``).
Not a pass/fail test.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from bench.measure import env_int, load, peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent
SSO_HANDLER = ROOT / "functions" / "sso" / "app.py"
PORTAL_HANDLER = ROOT / "functions" / "portal" / "app.py"
KEY = "bench-portal-key-0123456789-abcdefghijklmnop"
DISTRICT = "bench-isd"
RUN_ID = "20260115T060000Z-abcdef"
RULES = ("R3", "R4", "R5", "R6", "R7", "R8", "R9")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- 1. cold start -----------------------------------------------------------------------------------

_LOAD = (
    "import importlib.util as u\n"
    "def load(n, p):\n"
    "    s = u.spec_from_file_location(n, p); m = u.module_from_spec(s); s.loader.exec_module(m); return m\n"
)
COLD = {
    "sso handler": f"load('sso', {str(SSO_HANDLER)!r})",
    "sso handler + portal handler": f"load('sso', {str(SSO_HANDLER)!r}); load('portal', {str(PORTAL_HANDLER)!r})",
    "portal handler": f"load('portal', {str(PORTAL_HANDLER)!r})",
    "portal first page": (
        f"load('portal', {str(PORTAL_HANDLER)!r})\n"
        "from classlink_sync.portal import render; render.environment().get_template('run.html')\n"
        "import classlink_sync.store.runs, classlink_sync.store.districts, classlink_sync.portal.backend, boto3"
    ),
}


def cold_start(runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall ms, CPU ms) of each way of starting, each in a fresh interpreter."""
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
    wall: dict[str, list[float]] = {name: [] for name in COLD}
    cpu: dict[str, list[float]] = {name: [] for name in COLD}
    for _ in range(runs):
        for name, body in COLD.items():
            code = (
                f"import time\nt, c = time.perf_counter(), time.process_time()\n{_LOAD}{body}\n"
                "print((time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000)"
            )
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
            w, c = (float(x) for x in done.stdout.strip().splitlines()[-1].split())
            wall[name].append(w)
            cpu[name].append(c)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in COLD}


# -- the in-memory backend -------------------------------------------------------------------------------


def make_issues(n: int, seed: int = 12) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        rule = RULES[rnd.randrange(len(RULES))]
        entity = rnd.choice(("user", "class", "enrollment"))
        title = rnd.choice(("French 1", "Art <b>2</b>", "Küche & Co"))
        out.append(
            {
                "rule": rule,
                "entity": entity,
                "sourced_id": f"{entity[:3]}-{i:07d}",
                "field": rnd.choice(("title", "username", None)),
                "message": f"{entity.capitalize()} '{title} {i}' breaks {rule}: change it in ClassLink so that it "
                "follows the rule.",
                "stale": rnd.random() < 0.05,
                "school": f"sch-{rnd.randrange(12)}",
            }
        )
    return out


def report_bytes(issues: list[dict[str, Any]]) -> bytes:
    doc = {
        "counts": {"user": {"create": 10, "unchanged": 9000, "skipped": 500}, "class": {"unchanged": 400}},
        "guard_reasons": [],
        "incomplete_reasons": [],
        "issues": issues,
        "run": {"district_id": DISTRICT, "run_id": RUN_ID, "status": "succeeded"},
        "timings": {"fetch_s": 1.0},
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


class MemoryBackend:
    """``PortalBackend`` in memory: one district, one run and its report bytes."""

    def __init__(self, report: bytes, issue_count: int) -> None:
        from classlink_sync.store.districts import District
        from classlink_sync.store.runs import RunRecord

        self.report = report
        self.uploaded = 0
        self._district = District(DISTRICT, "77", "https://x.invalid", "arn", None, dt.date(2026, 1, 1))
        self._record = RunRecord(
            DISTRICT, RUN_ID, "2026-01-15T06:00:00+00:00", "schedule", "succeeded", "2026-01-15T06:03:00+00:00",
            {"user": {"create": 10, "unchanged": 9000}}, issue_count, 10, f"reports/{DISTRICT}/{RUN_ID}.json",
        )  # fmt: skip

    def district(self, district_id: str) -> Any:
        return self._district if district_id == DISTRICT else None

    def district_for_tenant(self, tenant_id: str) -> str | None:
        return DISTRICT if tenant_id == "77" else None

    def school_names(self, district_id: str) -> dict[str, str]:
        return {}

    def class_schools(self, district_id: str, class_ids: Iterable[str]) -> dict[str, str]:
        return {}

    def runs(self, district_id: str, *, limit: int) -> list[Any]:
        return [self._record]

    def run(self, district_id: str, run_id: str) -> Any:
        return self._record if (district_id, run_id) == (DISTRICT, RUN_ID) else None

    def report_chunks(self, record: Any) -> Iterator[bytes]:
        view = memoryview(self.report)
        return (bytes(view[i : i + 65536]) for i in range(0, len(view), 65536))

    def held_plan(self, record: Any) -> Any:
        raise LookupError

    def review_run(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def take_lock(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def lock(self, *args: Any, **kwargs: Any) -> None:
        return None

    def release_lock(self, *args: Any) -> None:
        return None

    def send_sync(self, request: Any) -> str:
        return "m"

    def export(self, key: str, chunks: Iterable[bytes], filename: str) -> str:
        from classlink_sync.portal.backend import MULTIPART_PART_BYTES, _parts

        for part in _parts(chunks, MULTIPART_PART_BYTES):  # what the multipart upload holds at once
            self.uploaded += len(part)
        return "https://reports.example.invalid/exports/x.csv?X-Amz-Signature=bench"


class Portal:
    """The real portal handler over a ``MemoryBackend``, with a signed administrator session."""

    def __init__(self, backend: MemoryBackend) -> None:
        os.environ.update({"PORTAL_KEY": KEY, "CLASSLINK_CLIENT_ID": "c", "CLASSLINK_CLIENT_SECRET": "s",
                           "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true",
                           "POWERTOOLS_TRACE_DISABLED": "true"})  # fmt: skip
        from classlink_local.lambda_runtime import LambdaContext, load_module
        from classlink_sync.portal.session import SessionCodec, new_session

        self.module = load_module(PORTAL_HANDLER)
        self.module.configure(backend=lambda: backend)
        self.context = LambdaContext("portal-bench", timeout_seconds=30)
        session = new_session(DISTRICT, "classlink", "Bench Admin", now=int(time.time()), lifetime=8 * 3600)
        self.cookie = f"tis_portal={SessionCodec(KEY.encode()).encode(session)}"

    def get(self, target: str) -> dict[str, Any]:
        from classlink_local.serve import event_from_http

        event = event_from_http("GET", target, {"host": "portal.example", "cookie": self.cookie})
        result: dict[str, Any] = self.module.lambda_handler(event, self.context)
        assert result["statusCode"] in (200, 303), result.get("body", "")[:300]
        return result


class WholeReport:
    """The baseline reader: the whole report parsed by ``json.loads`` (same interface as ReportStream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.doc = json.loads(b"".join(chunks))
        self.head = {k: v for k, v in self.doc.items() if k < "issues"}
        self.tail = {k: v for k, v in self.doc.items() if k > "issues"}

    def issues(self) -> Iterator[dict[str, Any]]:
        return iter(self.doc.get("issues", []))


def _timed(portal: Portal, targets: Mapping[str, str], requests: int) -> dict[str, dict[str, float]]:
    """Per target: p50/p99 of wall time and of the process's CPU time per request (ms). On a shared
    machine the CPU time is the portal's own cost; the wall time adds the wait for a core."""
    out = {}
    for name, target in targets.items():
        for _ in range(3):
            portal.get(target)  # warm: templates compiled, imports done
        wall, cpu = [], []
        for _ in range(requests):
            started, started_cpu = time.perf_counter(), time.process_time()
            portal.get(target)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        out[name] = {
            "wall50": statistics.median(wall),
            "wall99": quantile(wall, 0.99),
            "cpu50": statistics.median(cpu),
            "cpu99": quantile(cpu, 0.99),
        }
    return out


def render_bench(issues: int, requests: int) -> dict[str, dict[str, dict[str, float]]]:
    from classlink_sync.portal import reportstream

    backend = MemoryBackend(report_bytes(make_issues(issues)), issues)
    portal = Portal(backend)
    page = f"/portal/districts/{DISTRICT}/runs/{RUN_ID}"
    targets = {
        "first page": page,
        "rule filter": page + "?rule=R7",
        "text filter": page + "?q=k%C3%BCche",
        "last page": page + f"?page={issues // 200 + 1}",
    }
    ours = _timed(portal, targets, requests)
    streamed = reportstream.ReportStream
    reportstream.ReportStream = WholeReport  # type: ignore[misc, assignment]
    try:
        baseline = _timed(portal, targets, requests)
    finally:
        reportstream.ReportStream = streamed  # type: ignore[misc]
    return {"ours": ours, "baseline": baseline}


# -- 3. the CSV download, in memory ---------------------------------------------------------------------


def _peak(work: Any) -> tuple[float, float, Any]:
    tracemalloc.start()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20, elapsed, result


def csv_bench(issues: int) -> dict[str, tuple[float, float, int]]:
    from classlink_sync.portal.csvexport import csv_chunks, issue_row
    from classlink_sync.portal.reportstream import ReportStream

    backend = MemoryBackend(report_bytes(make_issues(issues)), issues)
    portal = Portal(backend)
    target = f"/portal/districts/{DISTRICT}/runs/{RUN_ID}/issues.csv"
    portal.get(target)  # warm

    def pipeline() -> int:
        return sum(len(c) for c in csv_chunks(ReportStream(backend.report_chunks(None)).issues()))

    def through_handler() -> int:
        backend.uploaded = 0
        result = portal.get(target)  # inline up to 4 MB; past it, to the report bucket (a 303)
        if result["statusCode"] == 303:
            return backend.uploaded
        return len(base64.b64decode(result["body"]) if result.get("isBase64Encoded") else result["body"].encode())

    def baseline() -> int:
        doc = json.loads(b"".join(backend.report_chunks(None)))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(("rule", "entity", "sourcedId", "school", "field", "message"))
        writer.writerows(issue_row(i) for i in doc["issues"])
        return len(buffer.getvalue().encode())

    out = {}
    for name, work in (
        ("streamed pipeline", pipeline),
        ("through the handler", through_handler),
        ("baseline", baseline),
    ):
        peak, elapsed, size = _peak(work)
        out[name] = (peak, elapsed, size)
    return out


def main() -> int:
    issues = env_int("BENCH_PORTAL_ISSUES", 10_000)
    csv_issues = env_int("BENCH_PORTAL_CSV_ISSUES", 100_000)
    requests = env_int("BENCH_PORTAL_REQUESTS", 100)
    import_runs = env_int("BENCH_PORTAL_IMPORT_RUNS", 7)
    print(f"portal bench: load {load()}")

    cold = cold_start(import_runs)
    print(f"\n1. cold start (median of {import_runs} fresh interpreters, ms)")
    print(f"   {'':<30} {'wall':>8} {'cpu':>8}")
    for name, (wall, cpu) in cold.items():
        print(f"   {name:<30} {wall:8.1f} {cpu:8.1f}")
    sso, both = cold["sso handler"][1], cold["sso handler + portal handler"][1]
    print(
        f"   the portal's imports would add {both - sso:.1f} ms CPU ({(both - sso) / sso:.0%}) to every SSO cold start;"
    )
    first = cold["portal first page"][1] - cold["portal handler"][1]
    print(f"   the portal's first page loads {first:.1f} ms CPU more (Jinja2, the store, boto3)")

    rendered = render_bench(issues, requests)
    print(f"\n2. run page of a run with {issues:,} issues through the handler ({requests} requests each, ms)")
    header = f"   {'':<12} {'cpu p50':>8} {'cpu p99':>8} {'wall p50':>9} {'wall p99':>9}"
    print(header + "   baseline cpu p50/p99   target p99 < 200")
    for name, ours in rendered["ours"].items():
        base = rendered["baseline"][name]
        verdict = "ok" if ours["cpu99"] < 200 else "OVER"
        print(
            f"   {name:<12} {ours['cpu50']:8.1f} {ours['cpu99']:8.1f} {ours['wall50']:9.1f} {ours['wall99']:9.1f}"
            f"   {base['cpu50']:10.1f} {base['cpu99']:8.1f}   {verdict} (cpu)"
        )

    measured = csv_bench(csv_issues)
    print(f"\n3. CSV of {csv_issues:,} issues: tracemalloc peak (MiB), time (s), CSV bytes")
    for name, (peak, elapsed, size) in measured.items():
        print(f"   {name:<22} {peak:8.1f} MiB {elapsed:7.2f} s {size:12,d} B")
    handler_peak, base_peak = measured["through the handler"][0], measured["baseline"][0]
    pipeline_peak = measured["streamed pipeline"][0]
    print(
        f"   baseline / handler peak: {base_peak / handler_peak:.1f}x; "
        f"baseline / pipeline peak: {base_peak / pipeline_peak:.1f}x"
    )
    print(f"\npeak RSS {peak_rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
