"""R17: run journals in the report bucket, beside the run's report.

``journals/{district}/{run}.json.gz``: gzip-compressed JSON lines. The first line is the header
(``{"v", "district_id", "run_id", "approves", "started", "fields"}``, ``fields`` naming each
entity's row columns); every other line is one record: ``[entity, key, before-row or null]``
(``rules.journal``: null = the run created it). Lines, so a journal of millions of records is
written and read as a stream. The bucket's lifecycle rule (template.yaml) expires ``journals/``
after ``RETENTION_DAYS``; ``sync.undo`` refuses an undo past it from the run's start, whatever S3
still holds.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from classlink_sync.rules.holdings import Holdings
from classlink_sync.rules.journal import (
    HELD_FIELDS,
    JOURNAL_VERSION,
    Held,
    Journal,
    held_from_row,
    held_row,
)
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.models import partition
from classlink_sync.store.reports import s3_client
from classlink_sync.store.view import (
    ACCOUNT_PROJECTION,
    CLASS_PROJECTION,
    ENROLLMENT_PROJECTION,
    SCHOOL_PROJECTION,
    decode_account,
    decode_class,
    decode_enrollment,
    decode_school,
)

PREFIX = "journals/"
RETENTION_DAYS = 30  # the lifecycle rule on ``journals/`` in template.yaml says the same
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class JournalMissing(LookupError):
    """The run has no journal: it changed nothing, ran before R17, or its journal expired."""


def journal_key(district_id: str, run_id: str) -> str:
    return f"{PREFIX}{district_id}/{run_id}.json.gz"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _lines(journal_header: dict[str, Any], entries: Iterable[tuple[str, str, Held | None]]) -> Iterator[bytes]:
    yield json.dumps(journal_header, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    for entity, key, held in entries:
        yield json.dumps([entity, key, held_row(held)], separators=(",", ":"), default=str).encode() + b"\n"


def write_journal(
    district_id: str,
    run_id: str,
    entries: Iterable[tuple[str, str, Held | None]],
    store: Store | None = None,
    *,
    approves: str | None = None,
) -> dict[str, Any]:
    """Write the journal of run ``run_id`` (``rules.journal.journal_entries``) before it applies.

    A run that plans again under the same run record (R20: a message delivered again after a
    crash) keeps the before-state journaled first and adds the records it did not have: the first
    journal saw the store before anything of the run was written. Returns ``{"key", "records"}``."""
    store = resolve(store)
    key = journal_key(district_id, run_id)
    try:
        earlier: Journal | None = read_journal(district_id, run_id, store)
    except JournalMissing:
        earlier = None
    if earlier is not None:
        merged = earlier
        for entity, record, held in entries:
            merged.add(entity, record, held)
        entries = ((e, k, h) for e in merged.before for k, h in merged.before[e].items())
        approves = approves or earlier.approves
    header = {
        "v": JOURNAL_VERSION,
        "district_id": district_id,
        "run_id": run_id,
        "approves": approves,
        "started": earlier.started if earlier is not None and earlier.started else _now(),
        "fields": {entity: list(names) for entity, names in HELD_FIELDS.items()},
    }
    buffer = io.BytesIO()
    records = -1
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as out:
        for line in _lines(header, entries):
            out.write(line)
            records += 1
    s3_client(store.settings).put_object(
        Bucket=store.settings.report_bucket,
        Key=key,
        Body=buffer.getvalue(),
        ContentType="application/gzip",
    )
    return {"key": key, "records": records, "bytes": buffer.tell()}


def read_journal(district_id: str, run_id: str, store: Store | None = None) -> Journal:
    """The journal of run ``run_id``; ``JournalMissing`` when there is none."""
    store = resolve(store)
    key = journal_key(district_id, run_id)
    try:
        response = s3_client(store.settings).get_object(Bucket=store.settings.report_bucket, Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
            raise JournalMissing(f"run {run_id} of district {district_id} has no journal ({key})") from None
        raise
    with gzip.GzipFile(fileobj=response["Body"], mode="rb") as stream:
        lines = iter(io.TextIOWrapper(stream, encoding="utf-8"))
        header = json.loads(next(lines))
        if header.get("v") != JOURNAL_VERSION:
            raise ValueError(f"R17: journal {key} has version {header.get('v')!r}, expected {JOURNAL_VERSION}")
        names = header.get("fields", {})
        journal = Journal(
            district_id=header["district_id"],
            run_id=header["run_id"],
            approves=header.get("approves"),
            started=header.get("started"),
        )
        for line in lines:
            if not line.strip():
                continue
            entity, record, row = json.loads(line)
            journal.add(entity, record, held_from_row(entity, row, names.get(entity)))
    return journal


def journal_exists(district_id: str, run_id: str, store: Store | None = None) -> bool:
    store = resolve(store)
    try:
        s3_client(store.settings).head_object(Bucket=store.settings.report_bucket, Key=journal_key(district_id, run_id))
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
            return False
        raise
    return True


# -- the journal's records as we hold them now (R17: what an undo plans against) -------------------
BATCH_KEYS = 100  # BatchGetItem's limit
# entity -> (the partition's kind, the settings field of its table, the projection, the decoder)
_READS: dict[str, tuple[str, str, tuple[str, ...], Callable[[Mapping[str, Any], str], Held]]] = {
    "accounts": ("account", "accounts_table", ACCOUNT_PROJECTION, decode_account),
    "classes": ("class", "classes_table", CLASS_PROJECTION, lambda item, _district: decode_class(item)),
    "enrollments": (
        "enrollment",
        "enrollments_table",
        ENROLLMENT_PROJECTION,
        lambda item, _district: decode_enrollment(item),
    ),
    "schools": ("school", "schools_table", SCHOOL_PROJECTION, lambda item, _district: decode_school(item)),
}


def held_now(journal: Journal, store: Store | None = None, *, threads: int | None = None) -> Holdings:
    """The records of ``journal`` as the store holds them now, and only those: BatchGetItem, 100
    keys a request, requests in parallel (``STORE_CONCURRENCY``). An undo of a run that changed a
    few records of a large district reads those records, not the district. Reservations are not
    read here (``rules.journal.names_to_restore`` says which the undo needs)."""
    store = resolve(store)
    district = journal.district_id
    jobs: list[tuple[str, list[dict[str, Any]]]] = []
    for entity, (kind, _table, _attributes, _decode) in _READS.items():
        keys = sorted(journal.before.get(entity, {}))
        for start in range(0, len(keys), BATCH_KEYS):
            batch = keys[start : start + BATCH_KEYS]
            jobs.append((entity, [{"pk": {"S": partition(district, kind, k)}, "sk": {"S": k}} for k in batch]))

    def read(job: tuple[str, list[dict[str, Any]]]) -> tuple[str, list[Held]]:
        entity, keys = job
        _kind, table, attributes, decode = _READS[entity]
        items = store.calls.batch_get(getattr(store.settings, table), keys, attributes)
        return entity, [decode(item, district) for item in items]

    holdings = Holdings(district_id=district)
    workers = max(1, min(threads or store.settings.store_concurrency, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for entity, held in pool.map(read, jobs):
            getattr(holdings, entity).extend(held)
    return holdings
