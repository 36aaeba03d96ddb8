"""S3/S5: the friendly HTML pages a person sees when a sign-in does not go through.

Every page says what happened and whom to ask, and shows the correlation id so support can find
the log lines. No page ever shows a token, code, state or cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

LOGIN_PATH = "/sso/classlink/login"


@dataclass(frozen=True, slots=True)
class PageSpec:
    status: int
    title: str
    message: str
    retry: bool = True  # offer "Sign in with ClassLink again"


PAGES: dict[str, PageSpec] = {
    "denied": PageSpec(
        403,
        "Sign-in cancelled",
        "ClassLink did not let This is School sign you in (the request was "
        "declined). If this was a mistake, sign in again.",
    ),
    "bad_state": PageSpec(
        400,
        "This sign-in link has expired",
        "This sign-in link is not valid any more (it was already "
        "used, or it belongs to another browser window). Please sign in again.",
    ),
    "cookies_blocked": PageSpec(
        400,
        "We could not finish signing you in",
        "Your browser did not keep the sign-in going. Please allow cookies for This is School and sign in again.",
    ),
    "code_rejected": PageSpec(
        400,
        "This sign-in has expired",
        "The sign-in took too long or was already used. Please sign in again.",
    ),
    "token_invalid": PageSpec(
        403,
        "We could not verify your sign-in",
        "We could not verify the answer from ClassLink, so we "
        "did not sign you in. Please sign in again; if it keeps happening, contact This is School support.",
    ),
    "tenant_unknown": PageSpec(
        403,
        "Your school is not set up yet",
        "Your school (ClassLink district) is not set up for This is "
        "School sign-in with ClassLink yet. Please ask your ClassLink administrator to contact This is "
        "School.",
        retry=False,
    ),
    "not_synced": PageSpec(
        403,
        "Your account has not been shared yet",
        "Your school has not shared your account with This is School yet; ask your ClassLink administrator.",
        retry=False,
    ),
    "deactivated": PageSpec(
        403,
        "Your account is deactivated",
        "Your This is School account is deactivated, so you cannot "
        "sign in. If you think this is wrong, please ask your ClassLink administrator.",
        retry=False,
    ),
    "not_allowed": PageSpec(
        403,
        "This account cannot sign in with ClassLink",
        "Only teacher and student accounts that your "
        "school shares with This is School can sign in with ClassLink. Please ask your ClassLink "
        "administrator.",
        retry=False,
    ),
    "mismatch": PageSpec(
        403,
        "Your account details do not match",
        "The account ClassLink signed you in as does not match "
        "the This is School account your school shared, so we did not sign you in. Please ask your "
        "ClassLink administrator to check your email address and login id.",
        retry=False,
    ),
    "bad_return_path": PageSpec(
        400,
        "This link cannot be used",
        "This sign-in link would take you to a page outside This is "
        "School, so we did not follow it. Please sign in from This is School or ClassLink LaunchPad.",
    ),
    "classlink_unavailable": PageSpec(
        502,
        "ClassLink is not answering",
        "ClassLink did not answer in time, so we could not sign you in. Please try again in a few minutes.",
    ),
    "misconfigured": PageSpec(
        503,
        "Sign-in is not available right now",
        "Signing in with ClassLink is not available right now. "
        "Please try again later; if it keeps happening, contact This is School support.",
        retry=False,
    ),
    "unavailable": PageSpec(
        503,
        "Sign-in is not available right now",
        "Something went wrong on our side while signing you "
        "in. Please try again in a few minutes; if it keeps happening, contact This is School support.",
    ),
    "bad_request": PageSpec(
        400, "We could not finish signing you in", "The sign-in request was incomplete. Please sign in again."
    ),
}


def render(kind: str, correlation_id: str) -> tuple[int, str]:
    """The HTTP status and HTML body of a page (S5)."""
    spec = PAGES[kind]
    retry = f'<p><a href="{LOGIN_PATH}">Sign in with ClassLink again</a></p>' if spec.retry else ""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{escape(spec.title)} - This is School</title></head>
<body><main><h1>{escape(spec.title)}</h1><p>{escape(spec.message)}</p>{retry}
<p><small>Reference: <code id="correlation-id">{escape(correlation_id)}</code></small></p>
</main></body></html>
"""
    return spec.status, body
