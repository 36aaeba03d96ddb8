"""Staff links to one district's portal (S6): made by ``classlink-sync portal-link``, signed with
the portal key (HMAC-SHA256, a purpose of its own), naming exactly one district, valid at most
7 days. The link is ``{base}/portal/districts/{district}/staff?t={token}``; the portal accepts it
only on that district's path, before its expiry, and turns it into a portal session of at most
8 hours that records the actor as "staff link".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from classlink_sync.portal.session import PURPOSE_STAFF_LINK
from classlink_sync.sso.cookies import Signer, random_token

MAX_LINK_HOURS = 7 * 24
DEFAULT_LINK_HOURS = 24
CLOCK_SKEW_SECONDS = 300


@dataclass(frozen=True, slots=True)
class StaffLink:
    district_id: str
    issued_at: int
    expires_at: int
    link_id: str  # a random id, logged when the link is used (never the token)
    token: str

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}{staff_path(self.district_id)}?t={quote(self.token, safe='')}"


def staff_path(district_id: str) -> str:
    return f"/portal/districts/{district_id}/staff"


def make_staff_link(
    key: bytes, district_id: str, *, hours: float = DEFAULT_LINK_HOURS, now: float | None = None
) -> StaffLink:
    """A link for ``district_id`` valid ``hours`` (more than 0, at most 7 days)."""
    if not 0 < hours <= MAX_LINK_HOURS:
        raise ValueError(f"S6: a staff link lasts more than 0 and at most {MAX_LINK_HOURS} hours (7 days), not {hours}")
    issued = int(time.time() if now is None else now)
    expires = issued + int(hours * 3600)
    link_id = random_token(9)
    token = Signer(key, PURPOSE_STAFF_LINK).sign({"d": district_id, "iat": issued, "exp": expires, "l": link_id})
    return StaffLink(district_id, issued, expires, link_id, token)


def verify_staff_token(key: bytes, token: str | None, district_id: str, *, now: float) -> StaffLink | None:
    """The link if ``token`` is genuine, unexpired, at most 7 days long and names ``district_id``;
    else None (a forged, expired, too long or other district's link)."""
    payload: dict[str, Any] | None = Signer(key, PURPOSE_STAFF_LINK).verify(token, now)
    if payload is None:
        return None
    d, iat, exp, link_id = payload.get("d"), payload.get("iat"), payload.get("exp"), payload.get("l")
    if not isinstance(d, str) or not isinstance(iat, int) or not isinstance(exp, int) or not isinstance(link_id, str):
        return None
    if exp - iat > MAX_LINK_HOURS * 3600 or iat > now + CLOCK_SKEW_SECONDS:
        return None
    if d != district_id:
        return None
    return StaffLink(d, iat, exp, link_id, str(token))
