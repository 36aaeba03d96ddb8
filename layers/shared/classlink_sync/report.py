"""The run record (SPEC §3): what one sync did, for the district administrator and the on-call
engineer. ``RunReport`` is plain data; the store keeps its counts in DynamoDB and the whole of it
(every issue, each with its school's sourcedId as ``school_id`` when the planner knows it: the portal
filters and exports by it, S7) in S3. ``render_text`` is the readable summary the CLI and ``make run``
print. Counts per school are not kept: the plan counts per entity and outcome only (unchanged records
are not itemised), and a held run's changes per school are read from its plan (``portal.views``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from classlink_sync.redact import redact_userinfo
from classlink_sync.rules.plan import Issue

# Statuses a run ends in (SPEC §3, R10, R12).
SUCCEEDED = "succeeded"
HELD = "held"  # held for review (R10)
FAILED = "failed"
DRY_RUN = "dry_run"
STATUSES = (SUCCEEDED, HELD, FAILED, DRY_RUN)

RULE_TITLES = {
    "R3": "Scope (role, school, enrolment)",
    "R4": "Required fields",
    "R5": "Username not unique on This is School",
    "R6": "Linking existing accounts",
    "R7": "Class subject",
    "R8": "Teacher enrolments",
    "R9": "Removal and stale records",
    "R10": "Mass-change guard",
    "R11": "Source id replacement",
}


@dataclass
class RunReport:
    district_id: str
    run_id: str
    trigger: str  # schedule | manual | approve
    started_at: str
    status: str = ""
    ended_at: str | None = None
    dry_run: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    fetch_complete: bool = True
    incomplete_reasons: list[str] = field(default_factory=list)
    guard_reasons: list[str] = field(default_factory=list)
    recommended_for_removal: list[str] = field(default_factory=list)
    roster_writes: int = 0
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # R9 proven absence: what was looked up before removals and what it cost (``sync.service``).
    absence_checks: dict[str, Any] = field(default_factory=dict)
    mode: str = "full"  # full | delta (R18) | undo (R17)
    # R16 additions-only / R18 delta: removals not made, each {"entity", "sourced_id", "school_id", "why"}.
    deferred: list[dict[str, Any]] = field(default_factory=list)
    undoes: str | None = None  # R17: the run an undo run undoes
    reason: str | None = None  # R16: why a run is paused (its pause or blackout, and the slot)
    # R10's base after the run: the active accounts, classes, enrollments held once its plan is
    # applied (``Plan.totals_after``; what a targeted delta, R18, takes its guard's shares of).
    held_totals: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunReport:
        data = dict(data)
        data["issues"] = [Issue(**i) for i in data.get("issues", [])]
        return cls(**data)

    @classmethod
    def from_stored(cls, doc: dict[str, Any]) -> RunReport:
        """Rebuild the report from the full report JSON the store keeps in S3 (``runs.load_report``)."""
        run = doc.get("run", {})
        return cls(
            district_id=run.get("district_id", ""),
            run_id=run.get("run_id", ""),
            trigger=run.get("trigger", ""),
            started_at=run.get("started", ""),
            status=run.get("status", ""),
            ended_at=run.get("ended"),
            dry_run=bool(doc.get("dry_run", False)),
            counts=doc.get("counts", {}),
            issues=[Issue(**i) for i in doc.get("issues", [])],
            fetch_complete=bool(doc.get("fetch_complete", True)),
            incomplete_reasons=list(doc.get("incomplete_reasons", [])),
            guard_reasons=list(doc.get("guard_reasons", [])),
            recommended_for_removal=list(doc.get("recommended_for_removal", [])),
            roster_writes=int(run.get("roster_writes") or 0),
            error=run.get("error"),
            timings=dict(doc.get("timings", {})),
            absence_checks=dict(doc.get("absence_checks", {})),
            mode=str(run.get("mode") or "full"),
            deferred=list(doc.get("deferred", [])),
            undoes=run.get("undoes"),
            reason=run.get("reason"),
            held_totals=dict(doc.get("held_totals") or {}),
        )

    def issue_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(i.rule for i in self.issues).items(), key=lambda kv: _rule_key(kv[0])))


def _rule_key(rule: str) -> tuple[int, str]:
    digits = "".join(ch for ch in rule if ch.isdigit())
    return (int(digits) if digits else 999, rule)


def render_text(report: RunReport, *, examples_per_rule: int = 3) -> str:
    """A summary a district IT administrator can act on: what happened, then issues by rule."""
    lines = [
        f"Sync {report.run_id} of district {report.district_id}: {report.status.upper().replace('_', ' ')}"
        + (" (dry run: nothing written)" if report.dry_run else ""),
        f"  trigger {report.trigger}, started {report.started_at}, ended {report.ended_at or '-'}"
        + ("" if report.mode == "full" else f", mode {report.mode}")
        + (f", undoes run {report.undoes}" if report.undoes else ""),
    ]
    if report.error:
        lines.append(f"  error: {report.error}")
    if report.reason:
        lines.append(f"  paused, nothing fetched or written (R16): {report.reason}")
    if not report.fetch_complete:
        lines.append("  ClassLink's data could not be read completely, so nothing was removed (R9):")
        lines.extend(f"    - {reason}" for reason in report.incomplete_reasons)
    checks = report.absence_checks
    if checks.get("checked"):
        rereads = checks.get("rereads") or []
        lines.append(
            f"  Absence checked before removal (R9): {checks['checked']} held records not listed;"
            f" confirmed gone {checks.get('confirmed', 0)}, found still shared {checks.get('found', 0)} (kept),"
            f" unconfirmed {checks.get('unconfirmed', 0)} (not removed); {checks.get('requests', 0)} requests"
            + (f", re-read {', '.join(rereads)}" if rereads else "")
        )
    if report.guard_reasons:
        lines.append("  Held for review by the mass-change guard (R10): nothing was written.")
        lines.extend(f"    - {reason}" for reason in report.guard_reasons)
    if report.counts:
        lines.append("  Counts:")
        for entity, outcomes in report.counts.items():
            shown = ", ".join(f"{k} {v}" for k, v in outcomes.items() if v)
            lines.append(f"    {entity:<12} {shown or 'nothing'}")
    lines.append(f"  Roster writes: {report.roster_writes} (accounts, reservations, classes, enrolments, schools)")
    if report.deferred:
        whys = sorted({str(d.get("why")) for d in report.deferred if d.get("why")})
        lines.append(
            f"  Removals deferred to the next normal full sync (R16/R18): {len(report.deferred)}"
            + (f" ({'; '.join(whys)})" if whys else "")
        )
    if report.recommended_for_removal:
        lines.append(
            f"  Accounts recommended for removal (not in ClassLink, left unchanged, R6): "
            f"{len(report.recommended_for_removal)}"
        )
    if report.issues:
        lines.append(f"  Data-quality issues: {len(report.issues)}")
        by_rule: dict[str, list[Issue]] = defaultdict(list)
        for issue in report.issues:
            by_rule[issue.rule].append(issue)
        for rule in sorted(by_rule, key=_rule_key):
            group = by_rule[rule]
            title = RULE_TITLES.get(rule, "")
            lines.append(f"    {rule} {title}: {len(group)}")
            for issue in group[:examples_per_rule]:
                stale = " [stale: last good version kept]" if issue.stale else ""
                school = f" (school {issue.school_id})" if issue.school_id else ""
                lines.append(
                    f"      - {issue.entity} {issue.sourced_id or '(no sourcedId)'}{school}: {issue.message}{stale}"
                )
            if len(group) > examples_per_rule:
                lines.append(f"      ... and {len(group) - examples_per_rule} more in the full report")
    else:
        lines.append("  Data-quality issues: none")
    return redact_userinfo("\n".join(lines))  # a URL in an error or a reason: never its user:password@


# S7: a run's changes per school. The plan's action lists carry every changed item (unchanged
# items are only counted), so this is one pass over the changes, not over the district.
PLAN_ENTITIES = (("accounts", "user"), ("classes", "class"), ("enrollments", "enrollment"), ("schools", "org"))
UNKNOWN_SCHOOL = "(school not known)"


def schools_of_change(entity: str, item: Any, class_school: Mapping[str, str]) -> Sequence[str]:
    """The schools a planned change belongs to: an account's schools, a class's school, an
    enrolment's class's school (``class_school``: class id -> school sourcedId), a school itself."""
    if entity == "user":
        return list(item.school_ids) or [UNKNOWN_SCHOOL]
    if entity == "class":
        return [item.school_id or UNKNOWN_SCHOOL]
    if entity == "enrollment":
        return [class_school.get(item.class_id, UNKNOWN_SCHOOL)]
    return [item.sourced_id]


def counts_by_school(plan: Any, class_school: Mapping[str, str]) -> dict[str, dict[str, dict[str, int]]]:
    """school -> entity -> action -> changed records of ``plan`` (S7's per-school counts)."""
    known = {**class_school, **{c.class_id: c.school_id for items in plan.classes.values() for c in items}}
    tally: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for attr, entity in PLAN_ENTITIES:
        for action, items in getattr(plan, attr).items():
            for item in items:
                for school in schools_of_change(entity, item, known):
                    tally[school][entity][action] += 1
    return {school: {e: dict(a) for e, a in per.items()} for school, per in tally.items()}
