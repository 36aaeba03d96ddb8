"""What every benchmark measures the same way: sizes from the environment, peak RSS, CPU time,
and the machine's load (printed beside wall-clock numbers, which load distorts)."""

from __future__ import annotations

import os
import resource
import sys


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value.replace("_", "")) if value else default


def peak_rss_mb() -> float:
    """Whole-process peak resident set size in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
