"""Test support for the portal (S6-S8): the real handler (functions/portal/app.py) driven with API
Gateway v2 events, the real store on moto in-process, ClassLink's SSO side from the emulator's app
(in-process through ``httpx.MockTransport``, or over HTTP), and a "browser" with a cookie jar.

Each test takes districts of its own (``World.district()``): own district id, tenant and users.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "sso"))

from classlink_local.lambda_runtime import LambdaContext  # noqa: E402
from classlink_local.serve import event_from_http  # noqa: E402
from classlink_sync.rules.plan import AccountState, ClassState, EnrollmentState, Issue, Plan  # noqa: E402
from classlink_sync.store import runs  # noqa: E402
from classlink_sync.store.districts import add_district  # noqa: E402
from classlink_sync.store.models import partition  # noqa: E402

CLIENT_ID = "tis-portal-client"
CLIENT_SECRET = "portal-client-secret-0123456789-abcdef"
PORTAL_KEY = "portal-key-0123456789-abcdefghijklmnopqrstuvwxyz"
ISSUER = "https://launchpad.classlink.test"
HOST = "portal.thisisschool.test"
QUEUE_NAME = "t-portal-sync"
QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{QUEUE_NAME}"

PORTAL_ENV = {
    "CLASSLINK_LAUNCHPAD_URL": ISSUER,
    "CLASSLINK_NODEAPI_URL": "https://nodeapi.classlink.test",
    "CLASSLINK_CLIENT_ID": CLIENT_ID,
    "CLASSLINK_CLIENT_SECRET": CLIENT_SECRET,
    "PORTAL_KEY": PORTAL_KEY,
    "SCHEDULE_EXPRESSION": "cron(0 6 * * ? *)",
    "SCHEDULE_TIMEZONE": "UTC",
    "SYNC_QUEUE_URL": QUEUE_URL,
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}

XSS_TITLE = "<script>alert(1)</script>"
XSS_NAME = '"><img src=x onerror=alert(1)>'
_counter = itertools.count(1)


class Clock:
    """The portal's clock (``configure(clock=...)``): real time plus an offset tests can move."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        import time

        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Tenant:
    """One onboarded district: its tenant, and ClassLink users of that tenant (sourcedIds)."""

    district_id: str
    tenant_id: str
    admin: str
    teacher: str
    student: str
    users: dict[str, dict[str, Any]] = field(default_factory=dict)


class Browser:
    """Cookie jar + API Gateway v2 events into the handler; follows nothing by itself."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
        self.handler = handler
        self.jar: dict[str, str] = {}
        self.request_ids: list[str] = []
        self.sensitive: set[str] = set()
        self._n = 0

    def request(self, method: str, target: str, form: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        self._n += 1
        request_id = f"preq-{id(self) % 10_000}-{self._n}="
        self.request_ids.append(request_id)
        headers = {"host": HOST, **kw.get("headers", {})}
        jar = kw.get("cookies", self.jar)
        if jar:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        event = event_from_http(method, target, headers, body, request_id=request_id)
        result = self.handler(event, LambdaContext(aws_request_id=f"lambda-{self._n}"))
        for raw in result.get("cookies") or []:
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.sensitive.add(value)
            if "Max-Age=0" in raw or not value:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return result

    def get(self, target: str, **kw: Any) -> dict[str, Any]:
        return self.request("GET", target, **kw)

    def post(self, target: str, form: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
        return self.request("POST", target, form or {}, **kw)

    def csrf(self) -> str:
        return self.jar.get("tis_portal_csrf", "")


@dataclass
class World:
    handler: ModuleType
    store: Any
    sso: Any
    sqs: Any
    clock: Clock
    oidc_client: httpx.Client

    def browser(self) -> Browser:
        return Browser(self.handler.lambda_handler)

    def district(self, *, enable_in_days: int = -30, schools: list[str] | str = "all") -> Tenant:
        n = next(_counter)
        district_id, tenant = f"pd{n}-isd", str(7000 + n)
        today = dt.date.today()
        add_district(
            district_id,
            tenant_id=tenant,
            oneroster_url="https://example.invalid/ims/oneroster/v1p1",
            client_id="k",
            client_secret="s",
            schools=schools,  # type: ignore[arg-type]
            enable_from=today + dt.timedelta(days=enable_in_days),
            override_notice=True,
            today=today,
            store=self.store,
        )
        t = Tenant(district_id, tenant, f"adm-{n}", f"tch-{n}", f"stu-{n}")
        for sid, role, launchpad in (
            (t.admin, "administrator", "Tenant Administrator"),
            (t.teacher, "teacher", None),
            (t.student, "student", None),
        ):
            family = f"Admin{n}" if role == "administrator" else "User"
            user = {"sourcedId": sid, "username": f"{sid}@d{n}.example", "email": f"{sid}@d{n}.example",
                    "givenName": "Pat", "familyName": family, "role": role}  # fmt: skip
            t.users[sid] = user
            self.sso.add_user(int(tenant), user, launchpad_role=launchpad)
        return t

    def school(self, district_id: str, sourced_id: str, name: str) -> None:
        School = self.store.models.School
        School(pk=partition(district_id, "school", sourced_id), sourced_id=sourced_id, name=name).save()

    # -- runs ----------------------------------------------------------------------------------------
    def run(
        self,
        district_id: str,
        *,
        status: str = "succeeded",
        trigger: str = "schedule",
        issues: Iterable[Issue] = (),
        counts: dict[str, dict[str, int]] | None = None,
        plan: Plan | None = None,
        days_ago: float = 0,
        extra: dict[str, Any] | None = None,
    ) -> str:
        started = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
        run_id = runs.new_run_id(started)
        runs.create_run(district_id, trigger, self.store, run_id=run_id)
        issues = list(issues)
        default_counts = plan.counts if plan else {"user": {"create": 3, "unchanged": 40}}
        runs.finish_run(
            district_id, run_id, status, self.store,
            counts=counts if counts is not None else default_counts,
            issues=issues, plan=plan, roster_writes=0 if status != "succeeded" else 7, extra=extra or {},
        )  # fmt: skip
        if days_ago:  # a run that started then and took 95 s
            Run = self.store.models.Run
            ended = started + dt.timedelta(seconds=95)
            Run(district_id=district_id, run_id=run_id).update(
                actions=[
                    Run.started.set(started.isoformat(timespec="milliseconds")),
                    Run.ended.set(ended.isoformat(timespec="milliseconds")),
                ]
            )
        return run_id

    def held_run(self, district_id: str, *, title: str = "French 1", removals: int = 30) -> str:
        plan = Plan(district_id=district_id, tenant_id="x", today=dt.date.today().isoformat(), fetch_complete=True)
        plan.accounts["deactivate"] = [account(district_id, i) for i in range(removals)]
        plan.classes["archive"] = [klass(district_id, 0, title)]
        plan.enrollments["archive"] = [
            enrolment(district_id, plan.classes["archive"][0], a) for a in plan.accounts["deactivate"][:5]
        ]
        plan.counts = {"user": {"deactivate": removals, "unchanged": 10}, "class": {"archive": 1}}
        plan.guard.tripped = True
        plan.guard.reasons = [f"R10: {removals} of {removals + 10} accounts would be deactivated (more than 10%)"]
        return self.run(district_id, status="held", plan=plan, extra={"guard_reasons": plan.guard.reasons})

    def rewrite_report(self, district_id: str, run_id: str, **changes: Any) -> dict[str, Any]:
        """Change a stored report (e.g. issues that name their school, counts per school)."""
        from classlink_sync.store.reports import put_json

        record = runs.get_run(district_id, run_id, self.store)
        assert record is not None and record.report_key
        doc = runs.load_report(record, self.store)
        doc.update(changes)
        put_json(self.store.settings, record.report_key, doc)
        return doc

    def messages(self) -> list[dict[str, Any]]:
        """Every message on the sync queue (received and deleted)."""
        import json

        out = []
        while True:
            got = self.sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle=m["ReceiptHandle"])

    # -- sign-in -------------------------------------------------------------------------------------
    def sign_in(
        self, browser: Browser, tenant: Tenant | None, sourced_id: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Sign ``sourced_id`` of ``tenant`` in through ClassLink; returns the callback's answer."""
        if tenant is not None:
            self.sso.sign_in_as(sourced_id or tenant.admin, int(tenant.tenant_id))
        login = browser.get("/portal/login" + kw.get("query", ""))
        assert login["statusCode"] == 302, login.get("body", "")[:300]
        location = login["headers"]["Location"]
        back = self.oidc_client.get(location)
        assert back.status_code == 302, back.text[:300]
        callback = urlsplit(back.headers["location"])
        return browser.get(f"{callback.path}?{callback.query}")

    def signed_in(self, tenant: Tenant) -> Browser:
        browser = self.browser()
        result = self.sign_in(browser, tenant)
        assert result["statusCode"] == 302, result.get("body", "")[:500]
        return browser


def account(district: str, n: int, *, name: str = "Student") -> AccountState:
    username = f"{district}-u{n}"
    return AccountState(
        account_id=f"{district}-acc{n}", district_id=district, tenant_id="x", sourced_id=f"u{n}", username=username,
        username_norm=username.lower(), email=None, email_norm=None, given_name="Given", family_name=f"{name}{n}",
        role="student", active=False, enabled=True, school_ids=("sch-1",), grades=("07",), managed=True, digest="d",
    )  # fmt: skip


def klass(district: str, n: int, title: str) -> ClassState:
    return ClassState(
        class_id=f"{district}-cls{n}", district_id=district, sourced_id=f"c{n}", title=title, class_code=None,
        school_id="sch-1", course_id=None, subject="French", term_ids=(), grades=(), archived=True, managed=True,
        digest="d",
    )  # fmt: skip


def enrolment(district: str, cls: ClassState, acc: AccountState) -> EnrollmentState:
    return EnrollmentState(
        class_id=cls.class_id, account_id=acc.account_id, district_id=district,
        sourced_id=f"e-{cls.sourced_id}-{acc.sourced_id}", class_sourced_id=cls.sourced_id,
        user_sourced_id=acc.sourced_id or "", role="student", primary=False, begin_date=None, end_date=None,
        archived=True, managed=True, digest="d",
    )  # fmt: skip


def issues(n: int, *, rules: tuple[str, ...] = ("R4", "R7", "R8", "R5")) -> list[Issue]:
    out = []
    for i in range(n):
        rule = rules[i % len(rules)]
        entity = {"R4": "user", "R7": "class", "R8": "enrollment", "R5": "user"}.get(rule, "user")
        out.append(Issue(rule, entity, f"{entity[0]}-{i}", f"{rule} problem number {i} of {entity} ({rule})", "title"))
    return out


def body_of(result: dict[str, Any]) -> str:
    """The body as text (a bytes body, the CSV, comes base64-encoded as API Gateway expects)."""
    import base64

    body = result.get("body") or ""
    return base64.b64decode(body).decode("utf-8") if result.get("isBase64Encoded") else body


def text_of(result: dict[str, Any]) -> str:
    """The visible text of an HTML body (tags dropped), for assertions about what a person reads."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", result.get("body") or ""))
