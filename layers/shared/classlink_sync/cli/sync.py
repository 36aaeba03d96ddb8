"""Sync commands (SPEC R10, R12, R14): sync one district now, list and review runs (approve /
discard a held run), export what a district has synced."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from classlink_sync.cli import CLIError, district_id_arg, positive_int, prepare_environment


def register(subparsers: argparse._SubParsersAction) -> None:
    sync = subparsers.add_parser("sync", help="sync one district now (the Lambda's code path)")
    sync.add_argument("district_id", type=district_id_arg)
    sync.add_argument("--dry-run", action="store_true", help="R12: fetch, validate and plan; write no roster data")
    sync.add_argument(
        "--json", action="store_true", help="print the run record as JSON (an error too: stdout is only JSON)"
    )
    sync.add_argument("--date", help="the sync date (YYYY-MM-DD), default today (UTC)")
    sync.add_argument(
        "--delta",
        action="store_true",
        help="R18: read only ClassLink's changes since the last successful sync (less 15 min); removes nothing",
    )
    sync.set_defaults(func=_sync)

    runs = subparsers.add_parser("runs", help="a district's sync runs, newest first")
    runs.add_argument("district_id", type=district_id_arg)
    runs.add_argument("--limit", type=positive_int, default=20)
    runs.set_defaults(func=_runs)

    approve = subparsers.add_parser("approve", help="R10: re-fetch, re-plan and apply a held run, guard waived once")
    approve.add_argument("district_id", type=district_id_arg)
    approve.add_argument("run_id")
    approve.add_argument("--json", action="store_true")
    approve.set_defaults(func=_approve)

    discard = subparsers.add_parser("discard", help="R10: drop a held run; the next sync evaluates again")
    discard.add_argument("district_id", type=district_id_arg)
    discard.add_argument("run_id")
    discard.set_defaults(func=_discard)

    export = subparsers.add_parser("export", help="the district's synced accounts, classes and enrolments")
    export.add_argument("district_id", type=district_id_arg)
    export.add_argument("--json", action="store_true", help="JSON (the default prints counts)")
    export.set_defaults(func=_export)


def _prepare() -> None:
    prepare_environment()


def sync_date(value: str | None, district_id: str | None = None) -> str:
    """``--date``, else today: in the district's time zone when ``district_id`` is given and known
    (R16: its pause and blackout ranges are its dates), else UTC."""
    if value is None:
        now = dt.datetime.now(dt.UTC)
        if district_id is not None:
            from classlink_sync.errors import DistrictNotFound
            from classlink_sync.rules.calendar import local_day
            from classlink_sync.store.districts import get_district

            try:
                return local_day(now, get_district(district_id).timezone).isoformat()
            except DistrictNotFound:
                pass  # the sync names the unknown district itself
        return now.date().isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise CLIError(f"--date must be YYYY-MM-DD: {exc}") from exc


def run_record_json(report: Any) -> dict[str, Any]:
    """The run record as `--json` prints it: status, counts, issues (rule, sourcedId, message)."""
    from classlink_sync.redact import redact_userinfo

    data = report.to_dict()
    if data.get("error"):
        data["error"] = redact_userinfo(str(data["error"]))
    data["issues"] = [
        {
            "rule": i.rule,
            "entity": i.entity,
            "sourcedId": i.sourced_id,
            "field": i.field,
            "message": i.message,
            "stale": i.stale,
        }
        for i in report.issues
    ]
    return data


def _run(request: Any, as_json: bool) -> int:
    from classlink_sync.errors import DistrictBusy, DistrictNotFound
    from classlink_sync.report import FAILED, render_text
    from classlink_sync.sync.service import run_sync

    try:
        outcome = run_sync(request, raise_on_failure=False)
    except DistrictNotFound as exc:
        raise CLIError(f"no district {request.district_id!r}; onboard it with `districts add`") from exc
    except DistrictBusy as exc:
        raise CLIError(str(exc)) from exc
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    if as_json:
        print(json.dumps(run_record_json(outcome.report), indent=2, default=str))
    else:
        print(render_text(outcome.report))
    return 1 if outcome.report.status == FAILED else 0


def _sync(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.sync.messages import SyncRequest

    request = SyncRequest(
        district_id=args.district_id,
        date=sync_date(args.date, args.district_id),
        trigger="manual",
        dry_run=args.dry_run,
        mode="delta" if args.delta else "full",  # R18
    )
    return _run(request, args.json)


def _approve(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.sync.messages import SyncRequest

    request = SyncRequest(
        district_id=args.district_id,
        date=sync_date(None, args.district_id),
        trigger="approve",
        approve_run_id=args.run_id,
    )
    return _run(request, args.json)


def _discard(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store import runs

    record = runs.get_run(args.district_id, args.run_id)
    if record is None:
        raise CLIError(f"district {args.district_id} has no run {args.run_id}")
    if record.status != "held":
        raise CLIError(f"R10: run {args.run_id} is {record.status}; only a held run can be discarded")
    runs.set_status(args.district_id, args.run_id, "discarded")
    print(f"R10: discarded held run {args.run_id}; nothing was written, the next scheduled sync evaluates again")
    return 0


def _runs(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store import runs
    from classlink_sync.sync.service import LEASE_SECONDS

    # A run killed mid-way shows as abandoned once its lease expired (R14), before the next sync.
    records = runs.list_runs_seen(args.district_id, limit=args.limit, max_run_seconds=LEASE_SECONDS)
    if not records:
        print(f"no runs for district {args.district_id}")
    for r in records:
        writes = "-" if r.roster_writes is None else r.roster_writes
        line = f"{r.run_id}\t{r.status}\t{r.trigger}\tissues {r.issue_count}\twrites {writes}\t{r.started}"
        shown = progress_text(r.progress, running=r.status == "running")
        if r.mode != "full":  # R18 delta, R17 undo
            line += f"\tmode {r.mode}"
        if r.deferred:  # R16/R18: removals left for the next normal full sync
            line += f"\tdeferred {r.deferred}"
        if r.reason:  # R16: a paused slot and why
            line += f"\t{r.reason}"
        if r.undoes or r.undone_by:  # R17
            line += f"\tundoes {r.undoes}" if r.undoes else f"\tundone by {r.undone_by}"
        print(f"{line}\t{shown}" if shown else line)
    return 0


def progress_text(progress: dict[str, Any] | None, *, running: bool) -> str:
    """R20: how far a run has got, as `runs` prints it: while it runs, the records fetched, the
    roster writes done of those planned, the chunks and the invocation; once ended, the number of
    invocations of a run that continued."""
    if not progress:
        return ""
    invocations = int(progress.get("invocations") or 1)
    if not running:
        return f"invocations {invocations}" if invocations > 1 else ""
    parts = [str(progress.get("stage") or "running")]
    if "fetched" in progress:
        parts.append(f"fetched {progress['fetched']}/{progress.get('fetch_total', progress['fetched'])}")
    if "planned" in progress:
        parts.append(f"written {progress.get('written', 0)}/{progress['planned']} planned")
    if progress.get("chunks_total"):
        parts.append(f"chunks {progress.get('chunks_done', 0)}/{progress['chunks_total']}")
    parts.append(f"invocation {invocations}")
    if progress.get("updated"):
        parts.append(f"at {progress['updated']}")
    return "progress: " + ", ".join(parts)


def _export(args: argparse.Namespace) -> int:
    _prepare()
    from classlink_sync.store.accounts import export_district

    data = export_district(args.district_id)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        for kind, items in data.items():
            print(f"{kind}: {len(items)}")
    return 0
