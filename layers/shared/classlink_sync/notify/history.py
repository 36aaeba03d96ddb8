"""R19 reads and bookkeeping: the runs before this one (``store.runs``), the baseline run's
issues (its full report in S3, ``store.reports``), and the once-a-day claim.

The claim is a conditional put on the locks table, ``notify#{district}#{kind}#{date}``, like the
daily sync slot (R14): whichever of two runs on the same day writes it first sends, the other
sends nothing. Its TTL only sweeps old claims; the date in the key is what counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from pynamodb.exceptions import DeleteError, PutError

from classlink_sync.notify.decide import PastRun, Previous, baseline_run, parse_time
from classlink_sync.report import RunReport
from classlink_sync.store import runs
from classlink_sync.store.context import Store
from classlink_sync.store.dynamo import error_code

HISTORY_RUNS = 50  # runs read to find the previous one, the baseline and the last success
CLAIM_RETENTION_DAYS = 7


def load_previous(report: RunReport, store: Store, *, limit: int = HISTORY_RUNS) -> Previous:
    """The district's runs that started before this one (newest first; one query, one batch get),
    and the issues of the baseline among them (one S3 read; None when it has no report)."""
    started = parse_time(report.started_at)
    records = [
        r
        for r in runs.list_runs(report.district_id, store, limit=limit + 1)
        if r.run_id != report.run_id and r.mode == "full"  # delta (R18) and undo (R17) runs say nothing here
    ]
    if started is not None:
        records = [r for r in records if (parse_time(r.started) or started) <= started]
    past = tuple(PastRun(r.run_id, r.status, r.started) for r in records[:limit])
    base = baseline_run(past)
    if base is None:
        return Previous(past)
    record = next(r for r in records if r.run_id == base.run_id)
    try:
        issues = RunReport.from_stored(runs.load_report(record, store)).issues
    except LookupError:
        return Previous(past)
    return Previous(past, tuple(issues))


def claim_key(district_id: str, kind: str, day: dt.date) -> str:
    return f"notify#{district_id}#{kind}#{day.isoformat()}"


def claim_day(district_id: str, kind: str, now: dt.datetime, store: Store) -> bool:
    """Claim today's (UTC) ``kind`` email of the district: True once per (district, kind, date)."""
    Lock = store.models.Lock
    item = Lock(
        pk=claim_key(district_id, kind, now.astimezone(dt.UTC).date()),
        at=now.isoformat(timespec="seconds"),
        ttl=int(now.timestamp()) + CLAIM_RETENTION_DAYS * 86400,
    )
    try:
        item.save(condition=Lock.pk.does_not_exist())
    except PutError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release_day(district_id: str, kind: str, now: dt.datetime, store: Store) -> None:
    """Give the day's claim back (no email of it went out), so the next run may try again."""
    Lock = store.models.Lock
    with contextlib.suppress(DeleteError):  # best effort: the claim then holds for the day
        Lock(pk=claim_key(district_id, kind, now.astimezone(dt.UTC).date())).delete()
