"""Page data for the portal (S7), pure: no I/O, no HTML. The templates only lay it out.

Every string that came from ClassLink stays a plain ``str`` here; the templates escape it
(autoescape, S8).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from classlink_sync.report import PLAN_ENTITIES, RULE_TITLES, schools_of_change

STATUS_LABELS = {
    "running": "Running",
    "succeeded": "Succeeded",
    "held": "Held for review",
    "failed": "Failed",
    "dry_run": "Dry run (nothing written)",
    "discarded": "Discarded",
    "approved": "Approved",
    "paused": "Paused",
}
SUCCESS_STATUSES = frozenset({"succeeded"})

# What the district changes in ClassLink for each rule (the message of each issue names the record).
RULE_ADVICE = {
    "R3": "Only teachers and students of licensed schools are synced, and a student needs at least one "
    "synced class. If a record should be synced, give the user the teacher or student role, enrol them "
    "in a licensed school, or enrol the student in a synced class.",
    "R4": "Fill in the field named in each issue in ClassLink's standard fields (username, given and "
    "family name, role, school). Values kept only in metadata are not read.",
    "R5": "The username is already used by another account on This is School. Use school email addresses "
    "as usernames, or give your usernames a district prefix (for example ExampleISD-12345).",
    "R6": "More than one existing account matches this user, or linking would change a teacher into a "
    "student (or back). Make the username and email unique, or tell This is School which account it is.",
    "R7": "Put the subject's name (French, Spanish, German, Italian, Mandarin...) in the class title or "
    "its course title, once. Classes without a subject, or with two, are not synced.",
    "R8": "Enrol an active teacher in the class, and make sure each teacher's schools (orgs) include the "
    "school of every class they teach. An enrolment's role must match its user's role.",
    "R9": "This record still comes from ClassLink but now breaks a rule, so its last good version is kept. "
    "Fix the record in ClassLink as its message says.",
    "R10": "A mass change was held for review: check what the sync would remove before approving it.",
    "R11": "Records whose sourcedId changed were matched to the same person or class.",
}
DEFAULT_ADVICE = "Change the record in ClassLink as the message says; the next sync picks it up."

OUTCOME_ORDER = (
    "fetched", "create", "link", "relink", "reactivate", "restore", "update", "deactivate", "archive",
    "unchanged", "skipped", "stale", "ignored", "withheld", "deferred", "referenced",
    "recommended_for_removal", "absent",
)  # fmt: skip
ENTITY_ORDER = ("org", "user", "class", "enrollment", "course", "academicSession")
MAX_FILTER_LENGTH = 100


def rule_key(rule: str) -> tuple[int, str]:
    digits = "".join(ch for ch in rule if ch.isdigit())
    return (int(digits) if digits else 999, rule)


def rule_title(rule: str) -> str:
    return RULE_TITLES.get(rule, "Other")


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


# -- time ------------------------------------------------------------------------------------------


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def show_time(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def ago(then: dt.datetime | None, now: dt.datetime) -> str:
    """``3 hours ago``, ``2 days ago``..."""
    if then is None:
        return "never"
    seconds = int((now - then).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"  # pragma: no cover


def duration(started: str | None, ended: str | None) -> str:
    a, b = parse_time(started), parse_time(ended)
    if a is None or b is None:
        return "-"
    seconds = max(0, int((b - a).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


_CRON = re.compile(r"^cron\(\s*(\d{1,2})\s+(\d{1,2})\s+\*\s+\*\s+\?\s+\*\s*\)$")


def next_scheduled_sync(
    expression: str | None, timezone: str, now: dt.datetime, enable_from: dt.date
) -> tuple[dt.datetime | None, str]:
    """The next daily slot of the schedule (R14) on or after the go-live date, and how it is
    described. Only the daily ``cron(M H * * ? *)`` form is computed; other expressions are shown."""
    if not expression:
        return None, "not known here (SCHEDULE_EXPRESSION is not set)"
    match = _CRON.match(expression.strip())
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    if match is None:
        return None, f"schedule {expression} ({timezone})"
    minute, hour = int(match.group(1)), int(match.group(2))
    local_now = now.astimezone(zone)
    day = max(local_now.date(), enable_from)
    candidate = dt.datetime.combine(day, dt.time(hour, minute), zone)
    if candidate <= local_now:
        candidate += dt.timedelta(days=1)
    return candidate, f"daily at {hour:02d}:{minute:02d} {timezone}"


# -- counts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountsTable:
    columns: list[str]
    rows: list[tuple[str, list[int]]]


def counts_table(counts: Mapping[str, Mapping[str, int]]) -> CountsTable:
    """Counts per entity and action, with only the actions that happened as columns."""
    used = {o for per in counts.values() for o, n in per.items() if n}
    columns = [o for o in OUTCOME_ORDER if o in used] + sorted(used - set(OUTCOME_ORDER))
    entities = [e for e in ENTITY_ORDER if e in counts] + sorted(set(counts) - set(ENTITY_ORDER))
    rows = [(e, [int(counts[e].get(c, 0)) for c in columns]) for e in entities if any(counts[e].values())]
    return CountsTable(columns, rows)


def total_changes(counts: Mapping[str, Mapping[str, int]]) -> int:
    changes = ("create", "link", "relink", "reactivate", "restore", "update", "deactivate", "archive")
    return sum(int(per.get(a, 0)) for per in counts.values() for a in changes)


# -- issues ----------------------------------------------------------------------------------------


def issue_school(issue: Mapping[str, Any]) -> str:
    """The school of a stored issue: ``school_id`` (``rules.plan.Issue``, the sourcedId of the
    record's school), or ``school``; "" when the issue names none (reports older than the field)."""
    return str(issue.get("school_id") or issue.get("school") or "")


class IssueRow(NamedTuple):
    rule: str
    entity: str
    sourced_id: str
    school: str
    field: str
    message: str
    stale: bool

    @classmethod
    def of(cls, issue: Mapping[str, Any]) -> IssueRow:
        return cls(
            str(issue.get("rule") or ""),
            str(issue.get("entity") or ""),
            str(issue.get("sourced_id") or ""),
            issue_school(issue),
            str(issue.get("field") or ""),
            str(issue.get("message") or ""),
            bool(issue.get("stale")),
        )


@dataclass(frozen=True)
class IssueFilter:
    """S7 filters, from the GET query: rule, entity, school, and text in the sourcedId, field or
    message (case-insensitive)."""

    rule: str = ""
    entity: str = ""
    school: str = ""
    text: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> IssueFilter:
        def one(name: str) -> str:
            return str(query.get(name) or "").strip()[:MAX_FILTER_LENGTH]

        return cls(one("rule"), one("entity"), one("school"), one("q"))

    @property
    def active(self) -> bool:
        return bool(self.rule or self.entity or self.school or self.text)

    def matches(self, issue: Mapping[str, Any]) -> bool:
        """Whether an issue (as the stored report keeps it) passes these filters."""
        if self.rule and (issue.get("rule") or "") != self.rule:
            return False
        if self.entity and (issue.get("entity") or "") != self.entity:
            return False
        if self.school and issue_school(issue) != self.school:
            return False
        if self.text:
            needle = self.text.casefold()
            return any(needle in str(issue.get(k) or "").casefold() for k in ("message", "sourced_id", "field"))
        return True

    def query(self, **extra: Any) -> str:
        """The query string of these filters (for links: pages, the CSV download)."""
        pairs = [("rule", self.rule), ("entity", self.entity), ("school", self.school), ("q", self.text)]
        pairs += [(k, str(v)) for k, v in extra.items() if v not in (None, "")]
        return urlencode([(k, v) for k, v in pairs if v])


@dataclass
class IssueSelection:
    """The issues of a run matching a filter (as stored, grouped by rule in rule order), plus the
    choices for the filter form."""

    total: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    by_entity: Counter[str] = field(default_factory=Counter)
    by_school: Counter[str] = field(default_factory=Counter)
    matched: list[Mapping[str, Any]] = field(default_factory=list)
    matched_by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def rules(self) -> list[tuple[str, int]]:
        return sorted(self.by_rule.items(), key=lambda kv: rule_key(kv[0]))

    @property
    def entities(self) -> list[tuple[str, int]]:
        return sorted(self.by_entity.items())

    @property
    def schools(self) -> list[tuple[str, int]]:
        return sorted((s, n) for s, n in self.by_school.items() if s)


def select_issues(issues: Iterable[Mapping[str, Any]], flt: IssueFilter) -> IssueSelection:
    """One pass over the issues: count the facets, keep the matching ones grouped by rule (the
    report's order within a rule). Rows for display are built only for the page shown."""
    sel = IssueSelection()
    groups: dict[str, list[Mapping[str, Any]]] = {}
    by_rule, by_entity, by_school = sel.by_rule, sel.by_entity, sel.by_school
    active = flt.active
    total = 0
    for issue in issues:
        rule = issue.get("rule") or ""
        total += 1
        by_rule[rule] += 1
        by_entity[issue.get("entity") or ""] += 1
        by_school[issue.get("school_id") or issue.get("school") or ""] += 1  # issue_school, inlined
        if not active or flt.matches(issue):
            group = groups.get(rule)
            if group is None:
                group = groups[rule] = []
            group.append(issue)
    sel.total = total
    for rule in sorted(groups, key=rule_key):
        sel.matched.extend(groups[rule])
        sel.matched_by_rule[rule] = len(groups[rule])
    return sel


@dataclass(frozen=True)
class IssueGroup:
    rule: str
    title: str
    advice: str
    count: int  # matching issues of this rule (all pages)
    rows: list[IssueRow]


@dataclass(frozen=True)
class IssuePage:
    groups: list[IssueGroup]
    page: int
    pages: int
    first: int  # 1-based index of the first issue shown
    last: int
    matched: int


def page_of(selection: IssueSelection, page: int, size: int) -> IssuePage:
    """One page of the matching issues, grouped by rule (each group says what to change)."""
    matched = len(selection.matched)
    pages = max(1, -(-matched // size))
    page = min(max(1, page), pages)
    start = (page - 1) * size
    rows = [IssueRow.of(i) for i in selection.matched[start : start + size]]
    groups: list[IssueGroup] = []
    for row in rows:
        if not groups or groups[-1].rule != row.rule:
            advice = RULE_ADVICE.get(row.rule, DEFAULT_ADVICE)
            count = selection.matched_by_rule.get(row.rule, 0)
            groups.append(IssueGroup(row.rule, rule_title(row.rule), advice, count, []))
        groups[-1].rows.append(row)
    return IssuePage(groups, page, pages, start + 1 if rows else 0, start + len(rows), matched)


# -- run history -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    run_id: str
    started: str
    trigger: str
    status: str
    status_label: str
    duration: str
    changes: int
    issue_count: int
    roster_writes: int | None
    reason: str | None = None  # R16: why a run is paused


def history_rows(records: Sequence[Any], now: dt.datetime, days: int) -> list[HistoryRow]:
    """Runs of the last ``days`` days, newest first (S7: at least 30 days)."""
    cutoff = now - dt.timedelta(days=days)
    rows = []
    for r in records:
        started = parse_time(r.started)
        if started is not None and started < cutoff:
            continue
        row = HistoryRow(
            r.run_id, show_time(started), trigger_label(r.trigger, r.status, getattr(r, "mode", "full")), r.status,
            status_label(r.status),
            duration(r.started, r.ended), total_changes(r.counts or {}), int(r.issue_count or 0), r.roster_writes,
            getattr(r, "reason", None),
        )  # fmt: skip
        rows.append(row)
    return rows


def trigger_label(trigger: str, status: str = "", mode: str = "full") -> str:
    labels = {"schedule": "daily schedule", "manual": "started by staff", "approve": "approval of a held run",
              "undo": "undo of a run (R17)"}  # fmt: skip
    if mode == "delta":  # R18: changes only, between the daily full syncs; removes nothing
        return "changes since the last sync (R18)" if trigger == "schedule" else "changes only, started by staff (R18)"
    label = labels.get(trigger, trigger)
    return "readiness check (dry run)" if status == "dry_run" and trigger != "approve" else label


# -- a held run (R10) ------------------------------------------------------------------------------

REMOVALS = frozenset({"deactivate", "archive"})


def unplanned_class_ids(plan: Any) -> set[str]:
    """Classes of the plan's enrolments that the plan itself does not carry (their school is read
    from the store)."""
    planned = {c.class_id for items in plan.classes.values() for c in items}
    return {e.class_id for items in plan.enrollments.values() for e in items} - planned


@dataclass
class HeldChanges:
    """What a held run would change, by school and entity (S7), and some examples of removals."""

    rows: list[tuple[str, str, str, int]] = field(default_factory=list)  # school, entity, action, count
    totals: dict[tuple[str, str], int] = field(default_factory=dict)  # (entity, action) -> count
    examples: dict[str, list[str]] = field(default_factory=dict)  # entity -> removal examples


def held_changes(
    plan: Any,
    *,
    school_names: Mapping[str, str] | None = None,
    class_schools: Mapping[str, str] | None = None,
    examples: int = 20,
) -> HeldChanges:
    """Updates and removals of a held plan per school, entity and action (creations counted too).
    An enrolment's school is its class's: from the plan, else ``class_schools`` (what the store
    holds for classes the plan leaves unchanged)."""
    names = dict(school_names or {})
    class_school = {
        **dict(class_schools or {}),
        **{c.class_id: c.school_id for items in plan.classes.values() for c in items},
    }
    tally: Counter[tuple[str, str, str]] = Counter()
    totals: Counter[tuple[str, str]] = Counter()
    shown: dict[str, list[str]] = defaultdict(list)
    for attr, entity in PLAN_ENTITIES:
        for action, items in getattr(plan, attr).items():
            for item in items:
                totals[(entity, action)] += 1
                for school in schools_of_change(entity, item, class_school):
                    tally[(names.get(school, school), entity, action)] += 1
                if action in REMOVALS and len(shown[entity]) < examples:
                    shown[entity].append(_describe(entity, item))
    rows = sorted(((s, e, a, n) for (s, e, a), n in tally.items()), key=lambda r: (r[0], r[1], r[2]))
    return HeldChanges(rows, dict(totals), dict(shown))


def _describe(entity: str, item: Any) -> str:
    if entity == "user":
        return f"{item.username} ({item.given_name} {item.family_name}, {item.role})"
    if entity == "class":
        return f"{item.title} ({item.sourced_id})"
    if entity == "enrollment":
        return f"{item.role} {item.user_sourced_id} in class {item.class_sourced_id}"
    return f"{item.name or item.sourced_id}"
