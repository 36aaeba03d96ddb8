"""``make bench``: every benchmark in turn. Each prints its own numbers and ratios against a
baseline measured in the same run; none of them decides pass/fail (DESIGN.md "Conventions").

Each module runs as ``python -m bench.NAME_bench`` in a process of its own.
Pick some with ``python -m bench NAME ...`` (names: client, plan, sync, sso, portal, coldstart, delta, undo)."""

from __future__ import annotations

import subprocess
import sys
import time

BENCHES = {
    "client": "bench.client_bench",
    "plan": "bench.plan_bench",
    "sync": "bench.sync_bench",
    "sso": "bench.sso_bench",
    "portal": "bench.portal_bench",
    "coldstart": "bench.coldstart_bench",
    "delta": "bench.delta_bench",  # R18: a delta sync against a full sync of the same district
    "undo": "bench.undo_bench",  # R17: the undo of a run that changed 10,000 records
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
        return 2
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        started = time.perf_counter()
        # Each benchmark runs in its own process, so its peak RSS and start-up are its own.
        code = subprocess.call([sys.executable, "-m", BENCHES[name]])
        if code:
            print(f"bench {name} exited with {code}")
        print(f"=== bench {name} done in {time.perf_counter() - started:.1f} s ===", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
