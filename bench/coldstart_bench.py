"""Cold-start benchmark (issue 8): what a new Lambda container pays before its first request can
touch AWS, for the district-sync and the SSO handlers.

Each run is a fresh interpreter (``python -m bench.coldstart_bench --worker NAME --mode MODE``)
that loads ``functions/NAME/app.py`` by path, as the Lambda runtime does, then does what the
handler's first request does before its first AWS call:

* district_sync: imports the core's ``sync.service`` (the handler imports it on first use) and
  builds the process's ``Store`` (``get_store()``: the bound models and the low-level calls), the
  report bucket's S3 client and the Secrets Manager client of the district credentials;
* sso: builds the callback's account directory (``StoreAccountDirectory``: the store's imports),
  the ``Store`` and the login-state ledger's DynamoDB connection.

Modes, each timed in its own processes:

* ``ours``: the code as it is: every client from one botocore session (``classlink_sync.aws``);
* ``baseline``: the same code with ``classlink_sync.aws`` patched back to what the store did
  before issue 8: each bound model keeps pynamodb's own connection (a botocore session each), the
  low-level calls get a session of their own, and every boto3 client a new ``boto3.Session()``.
  Same imports, same work: the difference is the sessions alone.

No request is sent: building a client is local, the credentials are dummies from the environment,
and ``AWS_ENDPOINT_URL`` points at a closed loopback port so a stray request fails fast rather
than reaching AWS. (moto is not used: importing it loads boto3 and botocore before the clock
starts and would hide part of the cold start.) It prints medians over ``BENCH_COLDSTART_RUNS``
(default 5) runs, the ratio baseline / ours, the botocore sessions each created (those the
handler's own import creates, e.g. the X-Ray SDK's behind Powertools' ``Tracer``, apart), and the
bare interpreter's start-up. It decides nothing.
Run: ``.venv/bin/python -m bench.coldstart_bench`` (or ``make bench``).
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

from bench.measure import env_int, load

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("district_sync", "sso")
TABLES = ("DISTRICTS", "ACCOUNTS", "RESERVATIONS", "CLASSES", "ENROLLMENTS", "SCHOOLS", "RUNS", "LOCKS")
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: nothing listens, nothing leaves
    **{f"{t}_TABLE": f"bench-{t.lower()}" for t in TABLES},
    "REPORT_BUCKET": "bench-reports",
    "SSO_STATE_TABLE": "bench-sso-state",
    "IDEMPOTENCY_TABLE": "bench-idempotency",
    "POWERTOOLS_SERVICE_NAME": "classlink-sync",
    "POWERTOOLS_METRICS_NAMESPACE": "ClassLinkSync",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


# -- worker (a fresh process) -------------------------------------------------------------------
def _count_sessions() -> list[int]:
    import botocore.session

    created = [0]
    init = botocore.session.Session.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        created[0] += 1
        init(self, *args, **kwargs)

    botocore.session.Session.__init__ = counting  # type: ignore[method-assign]
    return created


def _load_handler(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_lambda_{name}_app", ROOT / "functions" / name / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _session_per_client() -> None:
    """Patch ``classlink_sync.aws`` back to a botocore session per client (the ``baseline``)."""
    from botocore.session import get_session

    from classlink_sync import aws

    def client(service: str, settings: Any) -> Any:
        import boto3

        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            region_name=settings.region,
            endpoint_url=settings.aws_endpoint_url,
        )

    aws.use_connection = lambda model, connection: None
    aws.botocore_session = get_session  # type: ignore[assignment]
    aws.client = client


def _first_use(name: str, handler: Any) -> None:
    from classlink_sync.store.context import get_store

    if name == "district_sync":
        import classlink_sync.sync.service  # noqa: F401  (run_sync's import on first use)
        from classlink_sync.store import districts, reports

        store = get_store()
        reports.s3_client(store.settings)
        districts.secrets_client(store.settings)
    else:
        from classlink_sync.sso.ledger import DynamoStateLedger

        handler.StoreAccountDirectory()
        get_store()
        DynamoStateLedger(os.environ["SSO_STATE_TABLE"])._model_class()._get_connection().connection.client  # noqa: B018


def worker(name: str, mode: str) -> dict[str, Any]:
    sessions = _count_sessions()
    started = time.perf_counter()
    handler = _load_handler(name)
    imported = time.perf_counter()
    at_import = sessions[0]
    if mode == "baseline":
        _session_per_client()
    _first_use(name, handler)
    ready = time.perf_counter()
    return {
        "import_ms": (imported - started) * 1000,
        "first_use_ms": (ready - imported) * 1000,
        "total_ms": (ready - started) * 1000,
        "import_sessions": at_import,
        "sessions": sessions[0] - at_import,
    }


# -- driver -------------------------------------------------------------------------------------
def _run(name: str, mode: str) -> dict[str, Any]:
    env = {**os.environ, **ENV}
    out = subprocess.run(
        [sys.executable, "-m", "bench.coldstart_bench", "--worker", name, "--mode", mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _tree_size(root: Path) -> tuple[int, int]:
    """(files, bytes) of a source tree as SAM copies it (no bytecode caches)."""
    files = [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return len(files), sum(p.stat().st_size for p in files)


def layer_size() -> str:
    """The layer's own code now, against what it shipped before issue 8, when the local tooling
    (emulator, local stack, demo, bench helpers: today's ``local/classlink_local``) lived inside
    ``classlink_sync``. Third-party requirements are the same on both sides and not counted."""
    files, size = _tree_size(ROOT / "layers" / "shared")
    local_files, local_size = _tree_size(ROOT / "local" / "classlink_local")
    return (
        f"layer code (layers/shared, without its requirements): {files} files, {size / 1024:.0f} KiB; "
        f"before, with the local tooling inside: {files + local_files} files, {(size + local_size) / 1024:.0f} KiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", choices=HANDLERS)
    parser.add_argument("--mode", choices=("ours", "baseline"), default="ours")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.mode)))
        return 0
    runs = env_int("BENCH_COLDSTART_RUNS", 5)
    bare = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append((time.perf_counter() - started) * 1000)
    print(layer_size())
    print(f"load average {load()}; {runs} fresh processes per line; bare interpreter {statistics.median(bare):.0f} ms")
    for name in HANDLERS:
        measured: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
        for _ in range(runs):  # interleaved, so load drifts hit both alike
            for mode in measured:
                measured[mode].append(_run(name, mode))
        ours, base = measured["ours"], measured["baseline"]
        at_import = max(r["import_sessions"] for r in ours)
        print(
            f"{name}: handler import {_median(ours, 'import_ms'):.0f} ms; first Store and clients "
            f"{_median(ours, 'first_use_ms'):.0f} ms with one botocore session "
            f"({max(r['sessions'] for r in ours)} created) vs {_median(base, 'first_use_ms'):.0f} ms with a "
            f"session per client ({max(r['sessions'] for r in base)} created): "
            f"{_median(base, 'first_use_ms') / _median(ours, 'first_use_ms'):.1f}x; "
            f"import + first use {_median(ours, 'total_ms'):.0f} ms vs {_median(base, 'total_ms'):.0f} ms"
            + (f"; the handler's import itself created {at_import} botocore session(s)" if at_import else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
