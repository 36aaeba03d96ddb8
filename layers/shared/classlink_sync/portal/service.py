"""The portal's routes as one service (S6-S8): each public method takes a :class:`PortalRequest`
(built by the handler from the API Gateway v2 event) and returns a :class:`PortalResult`.

Every answer, errors and redirects included, carries the security headers (strict CSP, no
framing, no-store) and the correlation id. District pages live under
``/portal/districts/{district}/``; a session (ClassLink administrator or staff link) names one
district, and any other district's path gets the same 403 page whether that district exists or
not. Every POST needs the session's CSRF token, and is logged with who sent it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from classlink_sync.errors import SettingsError
from classlink_sync.portal import render, review, views
from classlink_sync.portal.auth import PortalAuth, Refused, SignedIn
from classlink_sync.portal.backend import PortalBackend
from classlink_sync.portal.session import (
    CALLBACK_PATH,
    CSRF_COOKIE,
    CSRF_FIELD,
    KIND_STAFF,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    STAFF_NAME,
    PortalCookie,
    PortalSession,
    SessionCodec,
    clear_session_cookies,
    new_session,
)
from classlink_sync.portal.settings import PortalSecretResolver, PortalSecrets, PortalSettings
from classlink_sync.portal.stafflink import verify_staff_token
from classlink_sync.rules.onboarding import DISTRICT_ID_RE

log = logging.getLogger("classlink_sync.portal")
RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,80}$")


@dataclass(slots=True)
class PortalRequest:
    method: str
    path: str
    query: Mapping[str, str]
    cookies: Mapping[str, str]
    correlation_id: str
    form: Mapping[str, str] = field(default_factory=dict)
    origin: str | None = None  # https://<the API's domain>
    source_ip: str | None = None


@dataclass(slots=True)
class PortalResult:
    status: int
    outcome: str
    body: str | bytes = ""  # bytes: sent base64-encoded (the CSV)
    content_type: str = render.HTML
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[PortalCookie] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Message:
    status: int
    title: str
    text: str
    sign_in: bool = False


MESSAGES = {
    "sign_in": Message(200, "District portal", "Sign in with the ClassLink account of your district's "
                       "administrator to see your ClassLink sync with This is School.", sign_in=True),
    "signed_out": Message(200, "Signed out", "You are signed out of the district portal.", sign_in=True),
    "denied": Message(403, "Sign-in cancelled", "ClassLink did not sign you in (the request was declined).",
                      sign_in=True),
    "bad_state": Message(400, "This sign-in has expired", "This sign-in is not valid any more (it was already "
                         "used, took too long, or belongs to another browser window). Please sign in again.",
                         sign_in=True),
    "code_rejected": Message(400, "This sign-in has expired", "The sign-in took too long or was already "
                             "used. Please sign in again.", sign_in=True),
    "token_invalid": Message(403, "We could not verify your sign-in", "We could not verify the answer from "
                             "ClassLink, so we did not sign you in. Please sign in again.", sign_in=True),
    "not_admin": Message(403, "This portal is for district administrators", "Only your district's ClassLink "
                         "administrators (ClassLink role Tenant Administrator) can use the district portal. "
                         "Teachers and students sign in to This is School itself."),
    "tenant_unknown": Message(403, "Your district is not set up yet", "Your ClassLink district is not "
                              "connected to This is School yet. Please contact This is School."),
    "classlink_unavailable": Message(502, "ClassLink is not answering", "ClassLink did not answer in time. "
                                     "Please try again in a few minutes.", sign_in=True),
    "misconfigured": Message(503, "The portal is not available right now", "The district portal is not "
                             "available right now. Please try again later; if it keeps happening, contact "
                             "This is School support."),
    "unavailable": Message(500, "Something went wrong", "Something went wrong on our side. Please try again in "
                           "a few minutes; if it keeps happening, contact This is School support and give "
                           "them the reference below."),
    "forbidden": Message(403, "You do not have access to this page", "Your sign-in does not give access to "
                         "this page. If you think it should, sign in again with your district's ClassLink "
                         "administrator account.", sign_in=True),
    "bad_link": Message(403, "This link is not valid", "This portal link is not valid or has expired. Ask "
                        "This is School for a new link."),
    "csrf": Message(403, "This form has expired", "This form could not be accepted (it has expired or did not "
                    "come from this page). Go back, reload the page and try again."),
    "not_found": Message(404, "Page not found", "There is no such page in the district portal."),
    "run_not_found": Message(404, "Run not found", "Your district has no run with this id."),
    "no_report": Message(404, "No report yet", "This run has no report yet (it may still be running)."),
}  # fmt: skip


class PortalService:
    """One per cold start: settings, and factories so that the store, httpx and PyJWT load on first use."""

    def __init__(
        self,
        settings: PortalSettings,
        backend: Callable[[], PortalBackend],
        *,
        secrets: Callable[[], PortalSecrets] | None = None,
        oidc: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._backend_factory = backend
        self._backend: PortalBackend | None = None
        self._secrets_factory = secrets or PortalSecretResolver(settings).get
        self._secrets: PortalSecrets | None = None
        self._clock = clock
        self.auth = PortalAuth(
            settings,
            oidc or self._default_oidc,
            lambda name, seconds, now: self.backend.take_lock(name, "used", max(seconds, 1.0), now=now),
            lambda tenant: self.backend.district_for_tenant(tenant),
        )

    def _default_oidc(self) -> Any:
        from classlink_sync.sso.oidc import ClassLinkOidc

        return ClassLinkOidc(self.settings.oidc_settings())

    @property
    def backend(self) -> PortalBackend:
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    def secrets(self) -> PortalSecrets:
        if self._secrets is None:
            self._secrets = self._secrets_factory()
        return self._secrets

    def codec(self) -> SessionCodec:
        return SessionCodec(self.secrets().key)

    # -- the frame around every route ------------------------------------------------------------
    def handle(self, req: PortalRequest, route: Callable[..., PortalResult], *args: str) -> PortalResult:
        """Run one route: settings errors give the "misconfigured" page, anything unexpected the
        friendly error page (S8), both with the correlation id and the security headers."""
        try:
            result = route(req, *args)
        except SettingsError as exc:
            log.error("portal is misconfigured: %s", exc, extra=_extra(req, "portal.misconfigured"))
            result = self.message(req, "misconfigured")
        except Exception as exc:
            log.error(
                "portal route failed unexpectedly",
                extra=_extra(req, "portal.unexpected_error", error_type=type(exc).__name__),
                exc_info=True,
            )
            result = self.message(req, "unavailable")
        return finish(result, req)

    def message(self, req: PortalRequest, kind: str, session: PortalSession | None = None) -> PortalResult:
        return message_page(req, kind, session, self._csrf(session))

    def not_found(self, req: PortalRequest) -> PortalResult:
        return finish(self.message(req, "not_found", self._session_or_none(req)), req)

    def _page(self, req: PortalRequest, template: str, session: PortalSession, **context: Any) -> PortalResult:
        body = render.render(template, req=req, session=session, csrf=self._csrf(session), **context)
        return PortalResult(200, template.removesuffix(".html"), body)

    def _csrf(self, session: PortalSession | None) -> str:
        return self.codec().csrf_token(session) if session is not None else ""

    def _session_or_none(self, req: PortalRequest) -> PortalSession | None:
        try:
            return self.codec().decode(req.cookies.get(SESSION_COOKIE), self._clock())
        except SettingsError:
            return None

    def _guard(self, req: PortalRequest, district_id: str, *, post: bool = False) -> PortalSession | PortalResult:
        """S6/S8: a session for exactly this district; for a POST, also its CSRF token."""
        session = self.codec().decode(req.cookies.get(SESSION_COOKIE), self._clock())
        if session is None:
            if post:
                return self.message(req, "forbidden")
            return _redirect(f"/portal/login?return_to={quote(req.path, safe='/')}", "sign_in_needed", status=302)
        if session.district_id != district_id:
            _warn(req, "portal.other_district", "access to another district's page refused (S8)", session=session)
            return self.message(req, "forbidden", session)
        if post and not self.codec().csrf_ok(session, req.form.get(CSRF_FIELD), req.cookies.get(CSRF_COOKIE)):
            _warn(req, "portal.csrf_refused", "POST without a valid CSRF token refused (S8)", session=session)
            return self.message(req, "csrf", session)
        return session

    # -- sign-in (S6) -------------------------------------------------------------------------------
    def index(self, req: PortalRequest) -> PortalResult:
        session = self._session_or_none(req)
        if session is not None:
            return _redirect(district_path(session.district_id), "to_overview")
        return self.message(req, "sign_in")

    def login(self, req: PortalRequest) -> PortalResult:
        redirect = self.auth.login(self.secrets(), self.codec(), req.origin, req.query.get("return_to"), self._clock())
        _info(req, "portal.login_redirect", "portal sign-in started; redirecting to ClassLink")
        cookie = PortalCookie(LOGIN_COOKIE, redirect.login_cookie, CALLBACK_PATH, self.settings.login_lifetime_seconds)
        return PortalResult(302, "redirect", headers={"Location": redirect.location}, cookies=[cookie])

    def callback(self, req: PortalRequest) -> PortalResult:
        now = self._clock()
        clear_login = PortalCookie(LOGIN_COOKIE, "", CALLBACK_PATH)
        try:
            signed: SignedIn = self.auth.callback(
                self.secrets(), self.codec(), req.query, req.cookies.get(LOGIN_COOKIE), req.origin, now
            )
        except Refused as refused:
            fields = dict(refused.fields)
            security = bool(fields.pop("security", False))
            _warn(req, "portal.signin_refused", f"portal sign-in refused: {refused.kind} (S6)", security=security,
                  kind=refused.kind, **fields)  # fmt: skip
            result = self.message(req, refused.kind)
            result.cookies.append(clear_login)
            return result
        session = signed.session
        _info(req, "portal.signed_in", "district administrator signed in to the portal (S6)", session=session)
        home = district_path(session.district_id)
        target = signed.return_path if signed.return_path and signed.return_path.startswith(home) else home
        cookies = [*self.codec().session_cookies(session, int(now)), clear_login]
        return PortalResult(302, "signed_in", headers={"Location": target}, cookies=cookies)

    def staff(self, req: PortalRequest, district_id: str) -> PortalResult:
        """S6: a staff link opens one district's portal as "staff link"."""
        now = self._clock()
        link = verify_staff_token(self.secrets().key, req.query.get("t"), district_id, now=now)
        if link is None:
            _warn(req, "portal.staff_link_refused", "forged, expired or other district's staff link (S6)",
                  security=True, district_id=district_id[:64])  # fmt: skip
            return self.message(req, "bad_link")
        session = new_session(
            district_id, KIND_STAFF, STAFF_NAME, now=int(now), lifetime=self.settings.session_lifetime_seconds,
            user_id=link.link_id, not_after=link.expires_at,
        )  # fmt: skip
        _info(req, "portal.staff_signed_in", "staff link used (S6)", session=session)
        return PortalResult(
            303, "signed_in", headers={"Location": district_path(district_id)},
            cookies=self.codec().session_cookies(session, int(now)),
        )  # fmt: skip

    def logout(self, req: PortalRequest) -> PortalResult:
        session = self._session_or_none(req)
        if session is not None:
            if not self.codec().csrf_ok(session, req.form.get(CSRF_FIELD), req.cookies.get(CSRF_COOKIE)):
                _warn(req, "portal.csrf_refused", "sign-out without a valid CSRF token refused (S8)", session=session)
                return self.message(req, "csrf", session)
            _info(req, "portal.audit", "signed out", session=session, action="sign_out")
        result = self.message(req, "signed_out")
        result.cookies.extend(clear_session_cookies())
        return result

    def stylesheet(self, req: PortalRequest) -> PortalResult:
        return PortalResult(200, "css", render.stylesheet(), "text/css; charset=utf-8")

    # -- pages (S7) ---------------------------------------------------------------------------------
    def overview(self, req: PortalRequest, district_id: str) -> PortalResult:
        session = self._guard(req, district_id)
        if isinstance(session, PortalResult):
            return session
        district = self.backend.district(district_id)
        if district is None:
            return self.message(req, "not_found", session)
        now = _utc(self._clock())
        records = self.backend.runs(district_id, limit=self.settings.history_limit)
        last = records[0] if records else None
        success = next((r for r in records if r.status in views.SUCCESS_STATUSES), None)
        held = [r for r in records if r.status == "held"]
        next_at, schedule = views.next_scheduled_sync(
            self.settings.schedule_expression, self.settings.schedule_timezone, now, district.enable_from
        )
        names = self.backend.school_names(district_id)
        licensed = None
        if district.licensed_schools is not None:
            licensed = sorted((names.get(s, s), s) for s in district.licensed_schools)
        success_at = views.parse_time(success.started) if success else None  # its data is as of its start
        return self._page(
            req, "overview.html", session, district=district, last=last, success=success,
            success_at=views.show_time(success_at), success_ago=views.ago(success_at, now),
            next_at=views.show_time(next_at), schedule=schedule, held=held, licensed=licensed,
            live=district.enable_from <= now.date(), days_to_live=(district.enable_from - now.date()).days,
            title="Overview", views=views,
        )  # fmt: skip

    def history(self, req: PortalRequest, district_id: str) -> PortalResult:
        session = self._guard(req, district_id)
        if isinstance(session, PortalResult):
            return session
        now = _utc(self._clock())
        records = self.backend.runs(district_id, limit=self.settings.history_limit)
        rows = views.history_rows(records, now, self.settings.history_days)
        return self._page(
            req, "history.html", session, rows=rows, days=self.settings.history_days,
            truncated=len(records) >= self.settings.history_limit, title="Run history",
        )  # fmt: skip

    def run(self, req: PortalRequest, district_id: str, run_id: str) -> PortalResult:
        session = self._guard(req, district_id)
        if isinstance(session, PortalResult):
            return session
        record = self._record(district_id, run_id)
        if record is None:
            return self.message(req, "run_not_found", session)
        from classlink_sync.portal.reportstream import ReportStream

        flt = views.IssueFilter.from_query(req.query)
        # R16: a paused run has no report (nothing was read or written): an empty one
        stream = ReportStream(self.backend.report_chunks(record) if record.report_key else iter([b"{}"]))
        selection = views.select_issues(stream.issues(), flt)
        head = stream.head
        page = views.page_of(selection, _int(req.query.get("page"), 1), self.settings.page_size)
        held = None
        if record.status == "held" and record.plan_key:
            plan = self.backend.held_plan(record)
            held = views.held_changes(
                plan,
                school_names=self.backend.school_names(district_id),
                class_schools=self.backend.class_schools(district_id, views.unplanned_class_ids(plan)),
            )
        return self._page(
            req, "run.html", session, record=record, views=views, counts=views.counts_table(record.counts or {}),
            school_counts=head.get("counts_by_school"), head=head, selection=selection, flt=flt, page=page,
            held=held, review=getattr(record, "review", None), done=review_notice(req.query.get("done")),
            duration=views.duration(record.started, record.ended), title=f"Run {record.run_id}",
            undo_possible=record.status in ("succeeded", "approved") and not record.undone_by and record.mode != "undo",
        )  # fmt: skip

    def run_csv(self, req: PortalRequest, district_id: str, run_id: str) -> PortalResult:
        """S7: the issues (filtered as the page is) as CSV, streamed; past the inline limit the stream
        goes to the report bucket and the browser to a short-lived download URL."""
        session = self._guard(req, district_id)
        if isinstance(session, PortalResult):
            return session
        record = self._record(district_id, run_id)
        if record is None:
            return self.message(req, "run_not_found", session)
        if not record.report_key:
            return self.message(req, "no_report", session)
        from classlink_sync.portal.csvexport import CSV_CONTENT_TYPE, csv_chunks
        from classlink_sync.portal.reportstream import ReportStream

        flt = views.IssueFilter.from_query(req.query)
        issues = (i for i in ReportStream(self.backend.report_chunks(record)).issues() if flt.matches(i))
        filename = f"issues-{district_id}-{run_id}.csv"
        chunks: Iterator[bytes] = csv_chunks(issues)
        buffered: list[bytes] = []
        size = 0
        for chunk in chunks:
            buffered.append(chunk)
            size += len(chunk)
            if size > self.settings.inline_csv_bytes:
                key = f"{district_id}/{run_id}/{int(self._clock())}-{session.sid[:8]}.csv"
                url = self.backend.export(key, itertools.chain(_drain(buffered), chunks), filename)
                _info(req, "portal.csv_export", "large CSV exported to the report bucket", session=session)
                return _redirect(url, "csv_export")
        return PortalResult(
            200, "csv", b"".join(buffered), CSV_CONTENT_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )  # fmt: skip

    def approve(self, req: PortalRequest, district_id: str, run_id: str) -> PortalResult:
        return self._decide(req, district_id, run_id, "approve")

    def discard(self, req: PortalRequest, district_id: str, run_id: str) -> PortalResult:
        return self._decide(req, district_id, run_id, "discard")

    def _decide(self, req: PortalRequest, district_id: str, run_id: str, action: str) -> PortalResult:
        session = self._guard(req, district_id, post=True)
        if isinstance(session, PortalResult):
            return session
        if not RUN_ID_RE.match(run_id):
            return self.message(req, "run_not_found", session)
        now = self._clock()
        if action == "approve":
            outcome = review.approve_held_run(
                self.backend,
                district_id,
                run_id,
                session.actor(),
                now=now,
                lock_seconds=self.settings.approval_lock_seconds,
            )
        else:
            outcome = review.discard_held_run(self.backend, district_id, run_id, session.actor(), now=now)
        _info(req, "portal.audit", f"{action} of a held run: {outcome.kind}", session=session, action=action,
              run_id=run_id, outcome=outcome.kind)  # fmt: skip
        if outcome.kind == "not_found":
            return self.message(req, "run_not_found", session)
        if not outcome.ok:
            return self._notice(req, session, run_path(district_id, run_id), outcome.message, 409)
        return _redirect(f"{run_path(district_id, run_id)}?done={outcome.kind}", outcome.kind)

    def undo(self, req: PortalRequest, district_id: str, run_id: str) -> PortalResult:
        """R17: GET shows whether the run can be undone and the confirmation form; POST (CSRF, the
        confirmation box) queues the undo (``portal.undo``), the same core as ``classlink-sync undo``."""
        from classlink_sync.portal import undo

        session = self._guard(req, district_id, post=req.method == "POST")
        if isinstance(session, PortalResult):
            return session
        record = self._record(district_id, run_id)
        if record is None:
            return self.message(req, "run_not_found", session)
        if req.method == "POST":
            outcome = undo.request_undo(self.backend, district_id, run_id, req.form, session.actor(), now=self._clock(),
                                        lock_seconds=self.settings.approval_lock_seconds)  # fmt: skip
            _info(req, "portal.audit", f"undo of a run: {outcome.kind} (R17)", session=session, action="undo",
                  run_id=run_id, outcome=outcome.kind)  # fmt: skip
            if not outcome.ok:
                return self._notice(req, session, run_path(district_id, run_id) + "/undo", outcome.message, 409)
            return _redirect(f"{run_path(district_id, outcome.target or run_id)}?done={outcome.kind}", outcome.kind)
        found = undo.check(self.backend, district_id, run_id)
        return self._page(req, "undo.html", session, record=record, check=found, title="Undo a run",
                          confirm_field=undo.CONFIRM_FIELD, confirm_value=undo.CONFIRM_VALUE)  # fmt: skip

    def readiness(self, req: PortalRequest, district_id: str) -> PortalResult:
        session = self._guard(req, district_id)
        if isinstance(session, PortalResult):
            return session
        district = self.backend.district(district_id)
        if district is None:
            return self.message(req, "not_found", session)
        now = _utc(self._clock())
        records = self.backend.runs(district_id, limit=self.settings.history_limit)
        latest = next((r for r in records if r.status == "dry_run"), None)
        lock = self.backend.lock(review.dry_run_lock(district_id), now=self._clock())
        return self._page(
            req, "readiness.html", session, district=district, latest=latest, views=views,
            next_allowed=views.show_time(_utc(lock.expires)) if lock else None,
            live=district.enable_from <= now.date(), days_to_live=(district.enable_from - now.date()).days,
            done=review_notice(req.query.get("done")), title="Readiness check",
        )  # fmt: skip

    def dry_run(self, req: PortalRequest, district_id: str) -> PortalResult:
        session = self._guard(req, district_id, post=True)
        if isinstance(session, PortalResult):
            return session
        if self.backend.district(district_id) is None:
            return self.message(req, "not_found", session)
        outcome = review.start_dry_run(
            self.backend,
            district_id,
            session.actor(),
            now=self._clock(),
            interval=self.settings.dry_run_interval_seconds,
        )
        _info(req, "portal.audit", f"readiness dry run: {outcome.kind}", session=session, action="dry_run",
              outcome=outcome.kind)  # fmt: skip
        path = district_path(district_id) + "readiness"
        if not outcome.ok:
            when = views.show_time(_utc(outcome.retry_at)) if outcome.retry_at else "later"
            return self._notice(req, session, path, f"{outcome.message} You can start the next one after {when}.", 429)
        return _redirect(f"{path}?done={outcome.kind}", outcome.kind)

    # -- helpers ------------------------------------------------------------------------------------
    def _record(self, district_id: str, run_id: str) -> Any:
        if not RUN_ID_RE.match(run_id):
            return None
        return self.backend.run(district_id, run_id)

    def _notice(self, req: PortalRequest, session: PortalSession, back: str, text: str, status: int) -> PortalResult:
        body = render.render("notice.html", req=req, session=session, csrf=self._csrf(session), text=text, back=back,
                             title="Not done")  # fmt: skip
        return PortalResult(status, "notice", body)


NOTICES = {
    "approval_requested": "Approved. The sync fetches and plans again and applies with the guard waived for this "
    "one run; this run shows as approved when it has finished.",
    "discarded": "Discarded. Nothing of this run was written; the next scheduled sync evaluates again.",
    "undo_requested": "Undo started (R17). Everything this run changed is put back as it was just before it; the "
    "undo appears in the run history as a run of its own when it has finished.",
    "dry_run_started": "Readiness check started. It reads your ClassLink data and writes nothing; its result "
    "appears here and in the run history in a few minutes.",
}


def message_page(req: PortalRequest, kind: str, session: PortalSession | None = None, csrf: str = "") -> PortalResult:
    """A friendly page (S8): what happened, what to do, and the correlation id; never a detail of
    another district or of the error."""
    spec = MESSAGES[kind]
    body = render.render("message.html", req=req, session=session, csrf=csrf, message=spec, title=spec.title)
    return PortalResult(spec.status, kind, body)


def review_notice(kind: str | None) -> str | None:
    return NOTICES.get(kind or "")


def district_path(district_id: str) -> str:
    return f"/portal/districts/{district_id}/"


def run_path(district_id: str, run_id: str) -> str:
    return f"/portal/districts/{district_id}/runs/{run_id}"


def valid_district_id(value: str) -> bool:
    return bool(DISTRICT_ID_RE.match(value))


def finish(result: PortalResult, req: PortalRequest) -> PortalResult:
    """S8: the security headers and the correlation id on every answer."""
    result.headers = {
        **render.SECURITY_HEADERS,
        "Content-Type": result.content_type,
        "X-Correlation-Id": req.correlation_id,
        **result.headers,
    }
    return result


def _drain(buffered: list[bytes]) -> Iterator[bytes]:
    """The buffered chunks, each let go once handed on (the upload never holds them all)."""
    buffered.reverse()
    while buffered:
        yield buffered.pop()


def _redirect(location: str, outcome: str, *, status: int = 303) -> PortalResult:
    return PortalResult(status, outcome, headers={"Location": location})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _extra(req: PortalRequest, event: str, *, session: PortalSession | None = None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"correlation_id": req.correlation_id, "portal_event": event, **fields}
    if session is not None:
        out["district_id"] = session.district_id
        out["actor"] = session.actor()
    return out


def _info(req: PortalRequest, event: str, message: str, **fields: Any) -> None:
    log.info(message, extra=_extra(req, event, **fields), stacklevel=2)


def _warn(req: PortalRequest, event: str, message: str, *, security: bool = True, **fields: Any) -> None:
    log.warning(message, extra=_extra(req, event, security_event=security, **fields), stacklevel=2)
