"""Helpers of the staff-command tests (the fixtures are in conftest.py): the type of the ``cli``
fixture and the arguments that onboard a test district."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Cli = Callable[..., tuple[int, str, str]]


def onboarding(district: str, tenant: str) -> list[str]:
    """``districts add`` of a district with every school, enabled today (staff override of R1's notice)."""
    return [
        "districts", "add", district, "--tenant-id", tenant,
        "--oneroster-url", f"https://{district}.invalid/ims/oneroster/v1p1",
        "--client-id", "k", "--client-secret", "s", "--schools", "all",
        "--override-notice", "--enable-from", dt.date.today().isoformat(),
    ]  # fmt: skip
