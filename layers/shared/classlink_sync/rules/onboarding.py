"""R1 onboarding as pure rules: what a request to onboard a district must satisfy before anything is
written. No I/O: ``store.districts.add_district`` calls ``check_onboarding`` first, then checks
what needs the store (the district id is new, the tenant belongs to no other district) and writes.

Every refusal is an ``OnboardingError`` whose message starts with "R1:" and names the district.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from classlink_sync.errors import OnboardingError
from classlink_sync.redact import url_has_userinfo
from classlink_sync.rules.district import ALL_SCHOOLS

NOTICE_DAYS = 14
"""R1: the article asks for at least two weeks' notice before the daily sync is enabled."""

DISTRICT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""A district id: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (it is
part of partition keys, secret names and report paths)."""


@dataclass(frozen=True, slots=True)
class Onboarding:
    """An onboarding request that passed R1's rules, normalised as the store keeps it."""

    district_id: str
    tenant_id: str  # always a string (R1)
    oneroster_url: str
    schools: tuple[str, ...]  # sorted licensed school sourcedIds; empty when ``all_schools``
    all_schools: bool
    enable_from: dt.date
    notice_overridden: bool  # enabled before ``today + NOTICE_DAYS`` by an explicit staff override


def check_district_id(district_id: str) -> str:
    """R1: the district id's format (``DISTRICT_ID_RE``)."""
    if not DISTRICT_ID_RE.match(district_id):
        raise OnboardingError(f"R1: district id {district_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return district_id


MAX_TENANT_ID_LENGTH = 64  # ClassLink's ids are small numbers; a key part must stay far below 1 KB


def tenant_key(tenant_id: str | int) -> str:
    """R1: tenant ids are stored and compared as strings (ClassLink sends them as JSON numbers);
    ``7``, ``"7"`` and ``" 7 "`` are the same tenant. An empty or over-long tenant id is refused
    (it is part of DynamoDB keys: the tenant item and the sign-in index)."""
    text = str(tenant_id).strip()
    if not text:
        raise OnboardingError("R1: the ClassLink tenant id is empty")
    if len(text) > MAX_TENANT_ID_LENGTH:
        raise OnboardingError(f"R1: the ClassLink tenant id is longer than {MAX_TENANT_ID_LENGTH} characters")
    return text


def check_oneroster_url(district_id: str, url: str) -> str:
    """R1: the district's Roster Server (or ClassLink's proxy) URL is an http(s) URL."""
    if not url.startswith(("https://", "http://")):
        raise OnboardingError(f"R1: the OneRoster URL of {district_id} must be an http(s) URL")
    return url


def check_no_url_credentials(district_id: str, url: str) -> str:
    """R1: the Roster Server URL carries no credentials (``https://user:password@host/...``): they
    belong in Secrets Manager (the client id and secret), never in a setting that is printed,
    logged and written to run reports. The message never quotes the URL."""
    if url_has_userinfo(url):
        raise OnboardingError(
            f"R1: the OneRoster URL of {district_id} must not contain credentials (user:password@); "
            "credentials belong in Secrets Manager: give them as the client id and secret"
        )
    return url


def check_credentials(district_id: str, client_id: str, client_secret: str) -> None:
    """R1: the Roster Server credentials are both given (they go to Secrets Manager, never into an
    item or a message: this one names the district only)."""
    if not client_id or not client_secret:
        raise OnboardingError(f"R1: the ClassLink client id and secret of {district_id} are required")


def licensed_schools(district_id: str, schools: Iterable[str] | Literal["all"]) -> tuple[str, ...] | None:
    """R1: the licensed schools, an explicit list of OneRoster school sourcedIds (trimmed,
    deduplicated, sorted) or explicitly ``"all"`` (returned as None). An empty list is refused:
    "no school" is never read as "all"."""
    if isinstance(schools, str):
        if schools == ALL_SCHOOLS:
            return None
        raise OnboardingError(
            f"R1: the schools of {district_id} are school sourcedIds or explicitly 'all', not {schools!r}"
        )
    listed = tuple(sorted({str(s).strip() for s in schools if str(s).strip()}))
    if not listed:
        raise OnboardingError(f"R1: {district_id} licenses no school; give school sourcedIds or explicitly 'all'")
    return listed


def earliest_enable_date(today: dt.date) -> dt.date:
    """R1: the first date the daily sync may run without a staff override (14 days' notice)."""
    return today + dt.timedelta(days=NOTICE_DAYS)


def enable_date(
    district_id: str, requested: dt.date | None, today: dt.date, *, override_notice: bool = False
) -> tuple[dt.date, bool]:
    """R1: the date the daily sync is enabled from, and whether the notice was overridden.
    No date asked: the earliest one. A date less than 14 days after ``today`` is refused unless
    staff override the notice explicitly."""
    earliest = earliest_enable_date(today)
    enable = requested or earliest
    if enable < earliest and not override_notice:
        raise OnboardingError(
            f"R1: the daily sync of {district_id} can be enabled from {earliest.isoformat()} at the "
            f"earliest ({NOTICE_DAYS} days' notice); {enable.isoformat()} needs an explicit staff override"
        )
    return enable, enable < earliest


def check_onboarding(
    district_id: str,
    *,
    tenant_id: str | int,
    oneroster_url: str,
    client_id: str,
    client_secret: str,
    schools: Iterable[str] | Literal["all"],
    enable_from: dt.date | None,
    today: dt.date,
    override_notice: bool = False,
) -> Onboarding:
    """Every R1 rule an onboarding request must pass before the store is touched, in the order a
    person filling the request would fix them; the first failure raises ``OnboardingError``."""
    check_district_id(district_id)
    tenant = tenant_key(tenant_id)
    check_oneroster_url(district_id, oneroster_url)
    check_no_url_credentials(district_id, oneroster_url)
    check_credentials(district_id, client_id, client_secret)
    listed = licensed_schools(district_id, schools)
    enable, overridden = enable_date(district_id, enable_from, today, override_notice=override_notice)
    return Onboarding(
        district_id=district_id,
        tenant_id=tenant,
        oneroster_url=oneroster_url,
        schools=listed or (),
        all_schools=listed is None,
        enable_from=enable,
        notice_overridden=overridden,
    )
