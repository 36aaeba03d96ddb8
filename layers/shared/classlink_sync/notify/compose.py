"""R19: the email of a notice, as plain text and simple HTML. Pure.

Both bodies are rendered from one list of blocks (``notify.render``), whose HTML renderer escapes
every string it is given: issue messages, sourcedIds, field names and errors come from ClassLink
and may hold markup. At most ``MAX_LISTED`` issues are listed (new and resolved shared, grouped by
rule, each with its message: what to change in ClassLink); the rest are in the portal.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from urllib.parse import quote

from classlink_sync.notify import decide as d
from classlink_sync.notify.render import Block, render_html, render_text
from classlink_sync.report import RULE_TITLES
from classlink_sync.rules.plan import Issue

MAX_LISTED = 20
PORTAL_PATH = "/portal/"
PREVIOUS_LABELS = {d.OK: "succeeded", d.HELD: "held for review", d.FAILED: "failed", d.PAUSED: "paused"}
STATUS_LABELS = {
    "succeeded": "succeeded",
    "held": "held for review: nothing was written (R10)",
    "failed": "failed",
    "paused": "paused: no sync runs while paused (R16)",
}


def portal_links(portal_url: str | None, district_id: str, run_id: str) -> tuple[str, str] | None:
    """(the portal, this run's page in it) under ``PORTAL_URL``; None without one."""
    if not portal_url:
        return None
    base = portal_url.rstrip("/")
    run = f"{base}/portal/districts/{quote(district_id, safe='')}/runs/{quote(run_id, safe='')}"
    return base + PORTAL_PATH, run


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _issue_news(new: int, resolved: int) -> str:
    if new and resolved:
        return f"{_n(new, 'new issue')}, {resolved} resolved"
    return _n(new, "new issue") if new else _n(resolved, "issue") + " resolved"


def _days(since: dt.datetime, now: dt.datetime) -> str:
    hours = int((now - since).total_seconds() // 3600)
    return f"{hours // 24} days" if hours >= 48 else f"{hours} hours"


def _when(moment: dt.datetime | None) -> str:
    return "none recorded" if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def headline(notice: d.Notice) -> str:
    """What is news, in a few words (the subject says it after the district)."""
    report = notice.report
    new, resolved = len(notice.new_issues), len(notice.resolved_issues)
    since, now = notice.unsuccessful_since, notice.now
    if notice.kind in (d.KIND_FAILED, d.KIND_HELD) and notice.stale and since is not None and now is not None:
        what = "failed" if notice.kind == d.KIND_FAILED else "held for review"
        news = f"no successful sync for {_days(since, now)} (last run {what})"
    elif notice.kind == d.FIRST:
        news = f"first sync done, {_n(new, 'issue')} to fix in ClassLink" if new else "first sync done, no issues"
    elif notice.kind == d.RECOVERED:
        news = "held sync approved and applied" if report.trigger == "approve" else "syncing successfully again"
    else:
        news = {
            d.ISSUES: _issue_news(new, resolved),
            d.RESUMED: "syncing again after the pause",
            d.KIND_FAILED: "sync failed",
            d.KIND_HELD: "sync held for review",
            d.KIND_PAUSED: "sync paused",
        }[notice.kind]
    return news


def subject(notice: d.Notice) -> str:
    return f"ClassLink sync of {notice.report.district_id}: {headline(notice)}"


def pick(new: Sequence[Issue], resolved: Sequence[Issue], limit: int = MAX_LISTED) -> tuple[list[Issue], list[Issue]]:
    """At most ``limit`` issues in all: half each when both sides have more, else the leftover
    goes to the other side."""
    n = min(len(new), max(limit // 2, limit - len(resolved)))
    return list(new[:n]), list(resolved[: limit - n])


def _rule_order(rule: str) -> tuple[int, str]:
    digits = "".join(ch for ch in rule if ch.isdigit())
    return (int(digits) if digits else 999, rule)


def issue_blocks(heading: str, issues: Sequence[Issue], every: Sequence[Issue], more: str) -> list[Block]:
    """The listed ``issues`` grouped by rule, each rule with its count among ``every``."""
    if not issues:
        return []
    blocks = [Block("h", heading)]
    by_rule: dict[str, list[Issue]] = defaultdict(list)
    for issue in issues:
        by_rule[issue.rule].append(issue)
    totals = Counter(i.rule for i in every)
    for rule in sorted(by_rule, key=_rule_order):
        title = f"{rule} {RULE_TITLES.get(rule, '')}".strip()
        shown, total = len(by_rule[rule]), totals[rule]
        blocks.append(Block("p", f"{title} ({total})" if shown == total else f"{title} ({total}, {shown} listed)"))
        lines = []
        for i in by_rule[rule]:
            where = f"{i.entity} {i.sourced_id or '(no sourcedId)'}" + (f", field {i.field}" if i.field else "")
            lines.append(f"{where}: {i.message}" + (" (stale: the last good version is kept, R9)" if i.stale else ""))
        blocks.append(Block("list", items=tuple(lines)))
    if len(every) > len(issues):
        blocks.append(Block("p", f"... and {len(every) - len(issues)} more {more} in the portal."))
    return blocks


def blocks(notice: d.Notice, portal_url: str | None = None) -> list[Block]:
    report = notice.report
    status = STATUS_LABELS.get(report.status, report.status)
    news = f"This is School's ClassLink sync of {report.district_id}: {headline(notice)}."
    out = [Block("p", "Hello,"), Block("p", news)]
    rows = [
        ("Status", status),
        ("Run", f"{report.run_id} ({report.trigger}), started {_when(d.parse_time(report.started_at))}"),
    ]
    if report.status == "succeeded":
        rows.append(("Previous run", PREVIOUS_LABELS.get(notice.previous_class or "", "none: this is the first sync")))
    else:
        rows.append(("Last successful sync", _when(notice.last_success)))
    if notice.stale and notice.unsuccessful_since is not None and notice.now is not None:
        rows.append(("Not synced successfully for", _days(notice.unsuccessful_since, notice.now)))
    if report.error:
        rows.append(("Error", report.error))
    out.append(Block("rows", rows=tuple(rows)))
    if report.guard_reasons:
        out.append(Block("p", "Why it was held (R10): approve or discard it in the portal, or ask This is School."))
        out.append(Block("list", items=tuple(report.guard_reasons)))
    counts = [
        (entity, ", ".join(f"{k} {v}" for k, v in outcomes.items() if v))
        for entity, outcomes in report.counts.items()
        if any(outcomes.values())
    ]
    if counts:
        out.append(Block("h", "Counts"))
        out.append(Block("rows", rows=tuple(counts)))
    if report.status in ("succeeded", "held"):
        out.append(
            Block(
                "p",
                f"Data-quality issues in this run: {len(report.issues)} ({len(notice.new_issues)} new, "
                f"{len(notice.resolved_issues)} resolved since the previous sync).",
            )
        )
    new, resolved = pick(notice.new_issues, notice.resolved_issues)
    out += issue_blocks("New issues: what to change in ClassLink", new, notice.new_issues, "new issues")
    out += issue_blocks("Resolved issues", resolved, notice.resolved_issues, "resolved issues")
    links = portal_links(portal_url, report.district_id, report.run_id)
    if links is None:
        out.append(Block("p", "Every issue and every run are in This is School's portal for district administrators."))
    else:
        out.append(Block("link", "Every issue and every run, in the portal", url=links[0]))
        out.append(Block("link", "This run", url=links[1]))
    out.append(
        Block("p", f"You receive this email as a contact of {report.district_id} for This is School's ClassLink sync.")
    )
    return out


def compose(notice: d.Notice, *, portal_url: str | None = None) -> tuple[str, str, str]:
    """(subject, text, html) of the notice's email."""
    parts = blocks(notice, portal_url)
    return subject(notice), render_text(parts), render_html(parts)
