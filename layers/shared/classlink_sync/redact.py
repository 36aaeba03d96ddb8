"""Never print a credential that hides in a URL: ``https://user:password@host/...`` (issue 9).

R1 keeps a district's Roster Server credentials in Secrets Manager, and onboarding refuses a URL
with userinfo (``rules.onboarding.check_no_url_credentials``). Every place that prints or stores a
URL or a message that may quote one (``districts show``, a run's error, the S3 report, the CLI's
error line) still passes it through ``redact_userinfo``, for URLs that predate the rule or come
from elsewhere (an exception message quoting a request URL). Standard library only.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

REDACTED = "***"

# scheme://userinfo@ : the userinfo runs to the last "@" before the host's end (a "/", "?", "#" or
# whitespace), so an unencoded "@" inside a password is hidden too.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s?#\"'<>]*@")


def redact_userinfo(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***``
    (``https://u:p@host/x`` -> ``https://***@host/x``); text without one is returned unchanged."""
    if "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)


def url_has_userinfo(url: str) -> bool:
    """Whether ``url`` carries credentials before its host (``user@``, ``user:password@``), also
    when a raw "@" or "/" in the password confuses a URL parser."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "@" in url
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return True
    # "https://user:pa/ss@host": a parser sees the host "user:pa"; no Roster Server URL has an "@".
    return "@" in url.split("?", 1)[0]
