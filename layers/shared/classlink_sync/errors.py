"""Every error a caller of the core may catch, under one base class (DESIGN.md "Layout").

This module imports only the standard library, so a Lambda handler, the CLI or the portal can
``from classlink_sync.errors import ...`` without loading the store, pynamodb, httpx or the
OneRoster client. The modules that raise these errors re-export them under their old names
(``classlink_sync.sync.service.SyncFailed`` is ``classlink_sync.errors.SyncFailed``). Each error
also keeps the built-in base it always had (``RuntimeError``, ``ValueError``...), so an older
``except`` clause still catches it.

Messages name the record and the rule (SPEC numbers) and never carry a credential, a token or a
secret's value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from classlink_sync.redact import redact_userinfo  # standard library only, like this module

if TYPE_CHECKING:  # for the annotation only: never imported at run time
    from classlink_sync.report import RunReport

__all__ = [
    "ClassLinkSyncError",
    "ClassLinkUnavailable",
    "CodeRejected",
    "CredentialsRejected",
    "DeltaAbandoned",
    "DispatchIncompleteError",
    "DistrictBusy",
    "DistrictNotFound",
    "MessageInvalid",
    "OnboardingError",
    "OneRosterError",
    "SettingsError",
    "SsoConfigError",
    "StoreRetryExhausted",
    "SyncFailed",
    "TokenInvalid",
    "TransactionCancelled",
]


class ClassLinkSyncError(Exception):
    """Base of every error the ClassLink integration raises on purpose. A caller that catches it
    (a handler logging one line, the CLI printing the message) still lets programming errors
    (``TypeError``, ``KeyError``...) through."""


# --- settings --------------------------------------------------------------------------------


class SettingsError(ClassLinkSyncError, RuntimeError):
    """A required setting is missing or invalid; the message names the environment variable.

    Raised by ``classlink_sync.settings`` when the core's settings are read (once per cold start)
    or when a caller ``require``s an optional one. Nothing was read or written: fix the
    function's environment (template.yaml) or the local shell; retrying does not help."""


# --- store -----------------------------------------------------------------------------------


class DistrictNotFound(ClassLinkSyncError, LookupError):
    """No district has this id (R1). Raised by ``classlink_sync.store.districts`` lookups.

    The CLI reports it to staff; a sync message naming an unknown district fails and, after its
    retries, lands in the dead-letter queue. Check the district id, or onboard the district."""


class OnboardingError(ClassLinkSyncError, ValueError):
    """A district cannot be onboarded or changed as asked; the message names the R1 rule (tenant
    already taken, enable date inside the two weeks' notice, bad URL or school list...).

    Raised by ``classlink_sync.store.districts``; nothing was written. The caller shows the
    message to staff, who correct the request (or override the notice explicitly, R1)."""


class StoreRetryExhausted(ClassLinkSyncError, RuntimeError):
    """DynamoDB kept throttling, or left items unprocessed, past the store's retry bound.

    Raised by ``classlink_sync.store.dynamo``. Nothing is lost: the apply's checkpoint shows which
    chunks are done and a later run writes only what is still missing (apply is idempotent), so
    the caller lets the sync fail and be retried."""


class TransactionCancelled(ClassLinkSyncError, RuntimeError):
    """A DynamoDB TransactWriteItems was cancelled; nothing of it was written.

    Raised by ``classlink_sync.store.dynamo``; ``reasons`` holds one cancellation code per item
    ("None" = that item was fine). Store code catches it to tell a lost race (a username already
    reserved, R5) from a real failure; anything else lets it propagate."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"transaction cancelled: {reasons}")
        self.reasons = reasons


# --- sync --------------------------------------------------------------------------------------


class DistrictBusy(ClassLinkSyncError, RuntimeError):
    """Another sync of this district holds the lease (R14); this one started nothing.

    Raised by ``classlink_sync.sync.service.run_sync`` before any run record is written. Not a
    failure of the sync: the district-sync worker logs a warning and lets SQS redeliver the
    message later; the CLI tells staff to try again when the running sync has finished."""


class SyncFailed(ClassLinkSyncError, RuntimeError):
    """The sync ran and its run record says ``failed``; ``report`` (the run record) says why.

    Raised by ``classlink_sync.sync.service.run_sync`` after the failure was recorded (and by the
    district-sync worker when a run comes back ``failed`` without raising). The failure is already
    in the run record, so the caller counts it from ``report`` once and re-raises, so that SQS
    retries the message and, after its last retry, moves it to the dead-letter queue (alarm)."""

    def __init__(self, report: RunReport) -> None:
        super().__init__(f"sync {report.run_id} of district {report.district_id} failed: {report.error}")
        self.report = report


class MessageInvalid(ClassLinkSyncError, ValueError):
    """A sync-queue message body is not a valid ``SyncRequest`` (a missing or misspelt field, a bad
    date); the message names the SQS message id and the field. Nothing ran.

    Raised by ``classlink_sync.sync.worker``. Retrying cannot fix it: the message fails on every
    delivery and ends in the dead-letter queue, whose alarm tells staff to fix the sender."""


class DispatchIncompleteError(ClassLinkSyncError, RuntimeError):
    """Some districts due today were claimed but got no sync message (SQS refused it), R14.

    Raised by the dispatcher handler so that the invocation fails, its alarm fires and the
    schedule's retry sends the missing messages (claimed slots that were sent are skipped)."""


# --- OneRoster client --------------------------------------------------------------------------


class OneRosterError(ClassLinkSyncError):
    """A request to the Roster Server failed for good, after retries where retrying makes sense
    (SPEC §1: 429 and 5xx with backoff and jitter).

    Raised by ``classlink_sync.oneroster.client``. The message names the URL (which carries no
    credentials), the HTTP status, the number of attempts and the server's imsx status when the
    body had one (``classlink_sync.oneroster.errors.parse_imsx``). A sync lets it fail the run,
    which removes nothing (R9) and is retried."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        attempts: int = 1,
        imsx: str | None = None,
    ) -> None:
        self.url = url
        self.status = status
        self.attempts = attempts
        self.imsx = imsx
        parts = [message]
        if url is not None:
            parts.append(f"url={redact_userinfo(url)}")  # R1: never a password in a message
        parts.append(f"status={status if status is not None else 'none'}")
        parts.append(f"attempts={attempts}")
        if imsx:
            parts.append(f"server said: {imsx}")
        super().__init__("; ".join(parts))


class CredentialsRejected(OneRosterError):
    """401/403: the district's client id/secret or bearer token is wrong or lacks access (R1).

    Raised by ``classlink_sync.oneroster.client`` at once, never retried (retrying only locks the
    credentials out). The caller reports it to staff, who fix the district's secret."""


class DeltaAbandoned(OneRosterError):
    """R18: ClassLink signalled that its data changed while a delta sync was reading it (the
    ``X-Total-Count`` or the ``x-perm-rev`` header of one collection changed between its pages).

    Raised by ``classlink_sync.oneroster.client.OneRosterClient.fetch_delta`` before anything is
    planned or written. The sync records the run as failed with this message and re-raises, so SQS
    delivers the message again and the delta is retried; the next full sync stays the source of
    truth either way. ``collection`` names the collection, ``header`` the header that changed and
    ``values`` what it said, in page order."""

    def __init__(self, collection: str, header: str, values: list[str]) -> None:
        message = (
            f"R18: delta sync abandoned: {header} of {collection} changed during the pull"
            f" ({' -> '.join(values)}); it is retried"
        )
        ClassLinkSyncError.__init__(self, message)  # no URL, status or attempts to add
        self.url, self.status, self.attempts, self.imsx = None, None, 1, None
        self.collection = collection
        self.header = header
        self.values = values


# --- SSO -----------------------------------------------------------------------------------------


class SsoConfigError(ClassLinkSyncError):
    """A required SSO setting is missing or invalid; the message names the setting, never its value.

    Raised by ``classlink_sync.sso.settings`` while the SSO service is built or its secrets are
    read. The SSO handler answers with the friendly "misconfigured" page (S5) rather than a 500;
    staff fix the function's environment or the SSO secret."""

    def __init__(self, setting: str, problem: str = "is not set") -> None:
        super().__init__(f"SSO setting {setting} {problem}")
        self.setting = setting


class ClassLinkUnavailable(ClassLinkSyncError):
    """ClassLink's OpenID provider answered 5xx, timed out, could not be reached, or answered
    something unusable.

    Raised by ``classlink_sync.sso.oidc``. The sign-in flow shows the friendly "try again later"
    page with a correlation id (S5); the user may simply retry."""


class CodeRejected(ClassLinkSyncError):
    """ClassLink's token endpoint refused the authorization code: replayed, expired or unknown (S2).

    Raised by ``classlink_sync.sso.oidc``. The sign-in flow shows the friendly page (S5) and the
    user starts the sign-in again; the code is never logged."""


class TokenInvalid(ClassLinkSyncError):
    """The id_token failed verification (signature, issuer, audience, expiry or nonce, S2).

    Raised by ``classlink_sync.sso.oidc``; ``reason`` is safe to log (never the token). The
    sign-in flow refuses the sign-in with the friendly page (S5)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
