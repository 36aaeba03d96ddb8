"""End-to-end fixtures: the whole local stack (moto's server, the tables from template.yaml, the sync
queue and its DLQ) and ClassLink emulators serving generated districts, driven through the real
Lambda handlers (``local.lambda_runtime.invoke``) wherever the scenario allows.

Costs: one moto server and one set of the stack's resources for the whole session
(``local_server``, a few seconds), shared by every module (``stack``); districts are small (60-200
users) and each test uses districts, tenants and username prefixes of its own (``start_district``
refuses one already used in the session), so no two tests share roster data. Each module starts
with empty queues and cold handlers (the cached settings, clients and loaded handlers forgotten).
A module that must be alone on its stack (the dispatcher fans out to every enabled district) takes
``own_stack``: its own tables, bucket and queues on the same server, under another name prefix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from classlink_local.emulator.datagen import generate
from classlink_local.emulator.dataset import Dataset
from classlink_local.emulator.faults import Faults
from classlink_local.emulator.server import EmulatorHandle, start_emulator
from classlink_local.lambda_runtime import invoke
from classlink_local.queue_runner import DrainResult, drain_queue, sqs_event
from classlink_local.stack import LOCAL_PREFIX, LocalStack, local_stack, reset_cached_settings, start_local_stack
from classlink_sync.rules.normalise import normalise
from classlink_sync.store import runs
from classlink_sync.store.accounts import export_district
from classlink_sync.store.districts import add_district
from classlink_sync.sync.messages import SyncRequest

TODAY = dt.datetime.now(dt.UTC).date()

# Actions a run can take per entity (rules.plan *_ACTIONS): everything that changes roster data.
CHANGE_ACTIONS = ("create", "link", "relink", "reactivate", "restore", "update", "deactivate", "archive")

QUIET_ENV = {
    # The functions' JSON logs and EMF metrics go to stdout in Lambda; keep the test output readable.
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def day(offset: int = 0) -> str:
    """A sync date slot ``offset`` days from today (ISO)."""
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalStack]:
    """moto's server and the stack's resources, once for the session (moto's backends are
    process-wide: one server per process). The environment points at it only while an e2e module
    runs (``stack``), never for the rest of the session; so does moto's partition Query adapter,
    which a local stack installs process-wide (``_partition_query``)."""
    from classlink_local import moto_query

    saved = dict(os.environ)
    adapter = moto_query.installed()
    running = start_local_stack()
    _restore({key: saved.get(key) for key in [*running.env, "SYNC_QUEUE_URL", "SYNC_DLQ_URL"]})
    if not adapter:
        moto_query.uninstall()
    reset_cached_settings()
    _servers.append(running)
    try:
        yield running
    finally:
        _servers.remove(running)
        running.stop()


_servers: list[LocalStack] = []


@contextlib.contextmanager
def _partition_query() -> Iterator[None]:
    """moto's partition Query adapter (``classlink_local.moto_query``) on, as a local stack runs
    moto; afterwards as it was, so that the tests after the e2e ones (in-process moto) run moto as
    they would alone."""
    from classlink_local import moto_query

    installed_here = not moto_query.installed() and moto_query.install()
    try:
        yield
    finally:
        if installed_here:
            moto_query.uninstall()


@pytest.fixture(autouse=True)
def _adapter_as_found() -> Iterator[None]:
    """A test that starts a local stack of its own (``make run``) leaves the adapter as it found it."""
    from classlink_local import moto_query

    before = moto_query.installed()
    yield
    if not before and moto_query.installed():
        moto_query.uninstall()


@pytest.fixture(autouse=True)
def _moto_of_its_own(request: pytest.FixtureRequest) -> None:
    """A test that does not use the session's stack and starts moto itself (``make run``'s stack, a
    second moto server) finds moto empty, as when every module's stack reset moto at its end:
    moto's backends are process-wide, so the session stack's data would show on its server too.
    The next module on the session's stack finds its resources gone and creates them again."""
    if _servers and "local_server" not in request.fixturenames:
        import httpx

        httpx.post(f"{_servers[0].endpoint_url}/moto-api/reset", timeout=30)


def _ready(running: LocalStack) -> None:
    """The stack's tables and queues are there, and its queues are empty, as in a new stack: moto
    was reset meanwhile (``_moto_of_its_own``), or a module left messages behind (a queue with
    messages is deleted, since PurgeQueue is allowed once a minute); then they are created again."""
    from classlink_local.stack import create_local_resources

    tables = {v for k, v in running.env.items() if k.endswith("_TABLE")}
    listed = running.client("dynamodb").get_paginator("list_tables").paginate()
    missing = not tables <= {name for page in listed for name in page["TableNames"]}
    sqs = running.client("sqs")
    depth = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    for url in (running.env["SYNC_QUEUE_URL"], running.env["SYNC_DLQ_URL"]):
        try:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=depth)["Attributes"]
        except sqs.exceptions.QueueDoesNotExist:
            missing = True
            continue
        if any(int(n) for n in attributes.values()):
            sqs.delete_queue(QueueUrl=url)
            missing = True
    if missing:
        create_local_resources(running.endpoint_url, prefix=LOCAL_PREFIX)


@pytest.fixture(scope="module")
def stack(local_server: LocalStack) -> Iterator[LocalStack]:
    """The session's local stack for this module: its environment (and QUIET_ENV) set, its queues
    empty, the handlers cold; the districts of earlier modules stay (each test has its own)."""
    saved = {k: os.environ.get(k) for k in [*QUIET_ENV, *local_server.env, "SYNC_QUEUE_URL", "SYNC_DLQ_URL"]}
    os.environ.update(QUIET_ENV)
    os.environ.update(local_server.env)
    reset_cached_settings()
    try:
        with _partition_query():
            _ready(local_server)
            yield local_server
    finally:
        _restore(saved)
        reset_cached_settings()


_own_stacks = iter(range(1, 1000))


@pytest.fixture(scope="module")
def own_stack(local_server: LocalStack) -> Iterator[LocalStack]:
    """A stack of the module's own on the session's server: its own tables, bucket and queues
    (another name prefix), for a module that must be alone on its stack. Override ``stack`` with
    it in the module."""
    saved = {k: os.environ.get(k) for k in QUIET_ENV}
    os.environ.update(QUIET_ENV)
    try:
        with (
            _partition_query(),
            local_stack(
                endpoint_url=local_server.endpoint_url, prefix=f"{LOCAL_PREFIX}-own{next(_own_stacks)}"
            ) as running,
        ):
            yield running
    finally:
        _restore(saved)


# -- districts -------------------------------------------------------------------------------------


@dataclasses.dataclass
class District:
    """One onboarded district and the emulator serving its ClassLink data."""

    district_id: str
    tenant_id: str
    prefix: str
    dataset: Dataset
    emulator: EmulatorHandle

    def export(self) -> dict[str, list[dict[str, Any]]]:
        return export_district(self.district_id)

    def runs(self) -> list[runs.RunRecord]:
        return runs.list_runs(self.district_id, limit=100)

    def last_run(self) -> runs.RunRecord:
        records = self.runs()
        assert records, f"district {self.district_id} has no run"
        return records[0]

    def report(self, record: runs.RunRecord | None = None) -> dict[str, Any]:
        return runs.load_report(record or self.last_run())

    @property
    def faults(self) -> Faults:
        assert self.emulator.faults is not None
        return self.emulator.faults


# District ids, tenant ids and username prefixes taken by start_district in this session: the
# modules share one stack, where a second district with the same prefix would only find its
# usernames reserved (R5) and a second tenant would be refused.
_taken: dict[tuple[str, str], str] = {}


def _take(district_id: str, tenant_id: str, prefix: str) -> None:
    wanted = {("district", district_id), ("tenant", str(tenant_id)), ("username prefix", prefix)}
    used = sorted(
        f"{kind} {value!r} (district {_taken[kind, value]!r})" for kind, value in wanted if (kind, value) in _taken
    )
    assert not used, (
        f"district {district_id!r}: {', '.join(used)} already used in this session; e2e modules share one "
        "stack: give each test a district, tenant and username prefix of its own"
    )
    _taken.update(dict.fromkeys(wanted, district_id))


def start_district(
    district_id: str,
    *,
    tenant_id: str,
    seed: int,
    users: int = 150,
    prefix: str | None = None,
    problem_share: float = 0.01,
    dataset: Dataset | None = None,
    emulator_options: dict[str, Any] | None = None,
    enable_from: dt.date = TODAY,
) -> District:
    """Generate a district, serve it from an emulator and onboard it (R1: staff override of the
    14 days' notice so the schedule syncs it today)."""
    prefix = prefix or district_id.replace("-", "").capitalize() + "ISD"
    _take(district_id, tenant_id, prefix)
    ds = dataset or generate(seed=seed, users=users, username_prefix=prefix, problem_share=problem_share)
    emulator = start_emulator(ds, **(emulator_options or {}))
    add_district(
        district_id,
        tenant_id=tenant_id,
        oneroster_url=emulator.base_url,
        client_id=emulator.client_id or "",
        client_secret=emulator.client_secret or "",
        schools=list(ds.licensed_school_ids),
        enable_from=enable_from,
        override_notice=True,
    )
    return District(district_id, tenant_id, prefix, ds, emulator)


@pytest.fixture
def make_district(stack: LocalStack) -> Iterator[Callable[..., District]]:
    """``make_district(district_id, tenant_id=..., seed=..., ...)``; emulators stop after the test."""
    made: list[District] = []

    def make(district_id: str, **kwargs: Any) -> District:
        district = start_district(district_id, **kwargs)
        made.append(district)
        return district

    yield make
    for district in made:
        district.emulator.stop()


# -- driving the handlers --------------------------------------------------------------------------


def send_sync(stack: LocalStack, request: SyncRequest) -> str:
    """Put one sync message on the sync queue (what the dispatcher or "sync now" does)."""
    return str(stack.client("sqs").send_message(QueueUrl=stack.queue_url, MessageBody=request.to_json())["MessageId"])


def sync_via_queue(stack: LocalStack, district: District, date: str, *, trigger: str = "manual") -> runs.RunRecord:
    """One sync message for ``district`` delivered to the real district-sync handler through SQS.
    Returns the district's newest run record."""
    before = {r.run_id for r in district.runs()}
    send_sync(stack, SyncRequest(district_id=district.district_id, date=date, trigger=trigger))  # type: ignore[arg-type]
    drained = drain_queue(stack.client("sqs"), stack.queue_url)
    assert drained.invocations == 1, drained
    new = [r for r in district.runs() if r.run_id not in before]
    assert len(new) == 1, f"expected one new run of {district.district_id}, got {new}"
    return new[0]


def fire_schedule(stack: LocalStack, date: str) -> tuple[dict[str, Any], DrainResult]:
    """The daily schedule as EventBridge Scheduler fires it (its explicit Input), then the queue
    drained through the district-sync handler (``classlink_local.cli.daily.fire_daily`` with both results)."""
    summary = invoke("dispatcher", {"trigger": "schedule", "date": date}, timeout_seconds=60)
    return summary, drain_queue(stack.client("sqs"), stack.queue_url)


def receive_one(stack: LocalStack) -> dict[str, Any]:
    received = (
        stack.client("sqs")
        .receive_message(QueueUrl=stack.queue_url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=0)
        .get("Messages", [])
    )
    assert len(received) == 1, received
    return dict(received[0])


def deliver(stack: LocalStack, message: dict[str, Any]) -> dict[str, Any]:
    """Deliver one received SQS message to the district-sync handler in Lambda's SQS event shape."""
    sqs = stack.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return dict(invoke("district_sync", sqs_event([message], arn, sqs.meta.region_name)) or {})


def queue_depth(stack: LocalStack) -> int:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


# -- reading results -------------------------------------------------------------------------------


def changes(counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Only the non-zero change actions of a run's counts (entity -> action -> n)."""
    out: dict[str, dict[str, int]] = {}
    for entity, outcomes in counts.items():
        changed = {a: n for a, n in outcomes.items() if a in CHANGE_ACTIONS and n}
        if changed:
            out[entity] = changed
    return out


def issues_by_id(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for issue in report["issues"]:
        out[issue["sourced_id"]].append(issue)
    return out


def roster_state(export: dict[str, list[dict[str, Any]]], prefix: str = "") -> dict[str, Any]:
    """The comparable roster of an export: by sourcedId, username (district prefix stripped),
    role, active and subject; never the internal ids (they differ between districts)."""

    def user(name: str) -> str:
        return name[len(prefix) :] if prefix and name.startswith(prefix) else name

    return {
        "accounts": sorted(
            (a["sourcedId"], user(a["username"]), a["role"], a["active"], tuple(sorted(a["schools"])))
            for a in export["accounts"]
        ),
        "classes": sorted(
            (c["sourcedId"], c["title"], c["subject"], c["school"], c["active"]) for c in export["classes"]
        ),
        "enrollments": sorted(
            (e["sourcedId"], e["classSourcedId"], e["userSourcedId"], e["role"], e["primary"], e["active"])
            for e in export["enrollments"]
        ),
    }


def active_ids(export: dict[str, list[dict[str, Any]]], kind: str) -> set[str]:
    return {r["sourcedId"] for r in export[kind] if r["active"]}


# -- what the rules allow, computed from the emulator's data independently of the planner ----------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _enabled(user: dict[str, Any]) -> bool:
    return str(user.get("enabledUser", "true")).strip().lower() == "true"


def _orgs(user: dict[str, Any]) -> set[str]:
    return {o.get("sourcedId") for o in user.get("orgs") or [] if isinstance(o, dict)}


@dataclasses.dataclass
class ExpectedRoster:
    teachers: dict[str, dict[str, Any]]  # sourcedId -> user, R3/R4-valid teachers of licensed schools
    accounts: set[str]  # sourcedIds of every account a first sync creates
    active_accounts: set[str]
    classes: set[str]
    enrollments: set[str]


def expected_roster(ds: Dataset, exported_classes: set[str], not_synced: set[str]) -> ExpectedRoster:
    """What a first sync may create, from the rules applied to the raw OneRoster records.

    ``exported_classes`` are the classes the sync created (R7/R8 decide; checked separately against
    the planted class problems); ``not_synced`` are users the rules exclude for reasons this
    function does not model (the losers of planted R5 collisions)."""
    licensed = set(ds.licensed_school_ids)
    today = TODAY.isoformat()
    users = {sid: dict(u) for sid, u in ds.users.iter_records()}

    def valid(u: dict[str, Any]) -> bool:
        return (
            u.get("role") in ("teacher", "student")
            and u.get("status", "active") == "active"
            and bool(_text(u.get("username")))
            and bool(_text(u.get("givenName")))
            and bool(_text(u.get("familyName")))
            and bool(_orgs(u) & licensed)
            and u["sourcedId"] not in not_synced
        )

    teachers = {sid: u for sid, u in users.items() if u.get("role") == "teacher" and valid(u)}
    enrollments: set[str] = set()
    students: set[str] = set()
    classes = {sid: dict(c) for sid, c in ds.classes.iter_records()}
    for sid, e in ds.enrollments.iter_records():
        user = users.get((e.get("user") or {}).get("sourcedId"))
        klass = (e.get("class") or {}).get("sourcedId")
        if user is None or klass not in exported_classes or e.get("status", "active") != "active":
            continue
        end = _text(e.get("endDate"))
        if end and end < today:
            continue
        if not valid(user) or e.get("role") != user.get("role"):
            continue
        if user["role"] == "teacher" and (classes[klass].get("school") or {}).get("sourcedId") not in _orgs(user):
            continue
        enrollments.add(sid)
        if user["role"] == "student":
            students.add(user["sourcedId"])
    accounts = set(teachers) | students
    return ExpectedRoster(
        teachers=teachers,
        accounts=accounts,
        active_accounts={s for s in accounts if _enabled(users[s])},
        classes=set(exported_classes),
        enrollments=enrollments,
    )


def norm(name: str) -> str:
    return normalise(name) or ""


def dump(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, default=str)
