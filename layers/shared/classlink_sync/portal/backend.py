"""What the portal reads and writes (S6, S7), behind one small interface so that the service is
tested against the real store on moto and benchmarked against memory.

``StoreBackend`` is the production one. It reads districts, schools and runs (``store``), streams
reports from the report bucket, writes the review of a held run into its run record, keeps the
portal's own bookkeeping items in the locks table (every key starts with ``portal#``, which is all
its IAM policy may touch there), sends sync requests to the sync queue (an approval, a readiness dry
run: the same messages the district-sync worker runs for the schedule and for staff), and puts large
CSV downloads in the report bucket under ``exports/`` behind a short-lived presigned URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from classlink_sync.rules.plan import Plan
    from classlink_sync.store.districts import District
    from classlink_sync.store.runs import RunRecord
    from classlink_sync.sync.messages import SyncRequest

LOCK_PREFIX = "portal#"
EXPORT_PREFIX = "exports/"
EXPORT_URL_SECONDS = 300
MULTIPART_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part (but the last): the least held at once
REPORT_CHUNK_BYTES = 64 * 1024
# sync.service.LEASE_SECONDS (a test keeps them equal): importing the sync service would load the
# planner into the portal's cold start.
MAX_RUN_SECONDS = 960


@dataclass(frozen=True, slots=True)
class LockInfo:
    holder: str
    expires: float
    at: str | None = None


class PortalBackend(Protocol):
    def district(self, district_id: str) -> District | None: ...
    def district_for_tenant(self, tenant_id: str) -> str | None: ...
    def school_names(self, district_id: str) -> dict[str, str]: ...
    def class_schools(self, district_id: str, class_ids: Iterable[str]) -> dict[str, str]: ...
    def runs(self, district_id: str, *, limit: int) -> list[RunRecord]: ...
    def run(self, district_id: str, run_id: str) -> RunRecord | None: ...
    def report_chunks(self, record: RunRecord) -> Iterator[bytes]: ...
    def held_plan(self, record: RunRecord) -> Plan: ...
    def review_run(
        self, district_id: str, run_id: str, review: Mapping[str, Any], *, status: str | None, expect_status: str = ...
    ) -> RunRecord | None: ...
    def undo_target(self, district_id: str, run_id: str) -> RunRecord: ...
    def take_lock(self, name: str, holder: str, seconds: float, *, now: float) -> bool: ...
    def lock(self, name: str, *, now: float) -> LockInfo | None: ...
    def release_lock(self, name: str, holder: str) -> None: ...
    def send_sync(self, request: SyncRequest) -> str: ...
    def export(self, key: str, chunks: Iterable[bytes], filename: str) -> str: ...


class StoreBackend:
    """The portal's access to the store, the report bucket and the sync queue (one per cold start;
    pynamodb and boto3 load with it)."""

    def __init__(self, store: Any = None) -> None:
        from classlink_sync.store.context import resolve

        self.store = resolve(store)

    # -- reads -------------------------------------------------------------------------------------
    def district(self, district_id: str) -> District | None:
        from classlink_sync.errors import DistrictNotFound
        from classlink_sync.store.districts import get_district

        try:
            return get_district(district_id, self.store)
        except DistrictNotFound:
            return None

    def district_for_tenant(self, tenant_id: str) -> str | None:
        from classlink_sync.store.districts import district_for_tenant

        return district_for_tenant(tenant_id, self.store)

    def school_names(self, district_id: str) -> dict[str, str]:
        from classlink_sync.store.models import partitions

        School = self.store.models.School
        names: dict[str, str] = {}
        for pk in partitions(district_id, "school"):
            for item in School.query(pk):
                names[item.sourced_id] = item.name or item.sourced_id
        return names

    def class_schools(self, district_id: str, class_ids: Iterable[str]) -> dict[str, str]:
        """The school sourcedId of each class we hold (one batch read per 100 classes)."""
        from classlink_sync.store.models import partition

        Class = self.store.models.Class
        keys = [(partition(district_id, "class", c), c) for c in sorted(set(class_ids))]
        if not keys:
            return {}
        return {item.class_id: item.school_id for item in Class.batch_get(keys) if item.school_id}

    def runs(self, district_id: str, *, limit: int) -> list[RunRecord]:
        """Newest first; a killed run shows as abandoned, as ``classlink-sync runs`` shows it."""
        from classlink_sync.store import runs

        return runs.list_runs_seen(district_id, self.store, limit=limit, max_run_seconds=MAX_RUN_SECONDS)

    def run(self, district_id: str, run_id: str) -> RunRecord | None:
        from classlink_sync.store import runs

        return runs.get_run(district_id, run_id, self.store)

    def report_chunks(self, record: RunRecord) -> Iterator[bytes]:
        from classlink_sync.store.reports import s3_client

        if not record.report_key:
            return iter(())
        body = s3_client(self.store.settings).get_object(
            Bucket=self.store.settings.report_bucket, Key=record.report_key
        )
        chunks: Iterator[bytes] = body["Body"].iter_chunks(REPORT_CHUNK_BYTES)
        return chunks

    def held_plan(self, record: RunRecord) -> Plan:
        from classlink_sync.store import runs

        return runs.load_held_plan(record, self.store)

    # -- writes ------------------------------------------------------------------------------------
    def review_run(
        self,
        district_id: str,
        run_id: str,
        review: Mapping[str, Any],
        *,
        status: str | None,
        expect_status: str = "held",
    ) -> RunRecord | None:
        from classlink_sync.store import runs

        return runs.review_run(
            district_id, run_id, dict(review), self.store, status=status, expect_status=expect_status
        )

    def undo_target(self, district_id: str, run_id: str) -> RunRecord:
        """R17: the run an undo of ``run_id`` would undo; ``sync.undo.UndoRefused`` saying why not
        (the runs that block it named). Loaded on first use: the planner is not in the cold start."""
        from classlink_sync.sync.undo import check_undoable

        return check_undoable(district_id, run_id, self.store)

    def take_lock(self, name: str, holder: str, seconds: float, *, now: float) -> bool:
        """A conditional write: the item is written only if absent or expired (store/locks.py's way)."""
        import datetime as dt

        from pynamodb.exceptions import PutError

        from classlink_sync.store.dynamo import error_code

        Lock = self.store.models.Lock
        item = Lock(
            pk=LOCK_PREFIX + name,
            holder=holder,
            expires=now + seconds,
            ttl=int(now + seconds + 86400),
            at=dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
        )
        try:
            item.save(condition=Lock.pk.does_not_exist() | (Lock.expires < now))
        except PutError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def lock(self, name: str, *, now: float) -> LockInfo | None:
        """The lock item if it is unexpired at ``now`` (expiry checked in code, not by TTL)."""
        Lock = self.store.models.Lock
        try:
            item = Lock.get(LOCK_PREFIX + name, consistent_read=True)
        except Lock.DoesNotExist:
            return None
        if item.expires is None or item.expires < now:
            return None
        return LockInfo(item.holder or "", float(item.expires), item.at)

    def release_lock(self, name: str, holder: str) -> None:
        from pynamodb.exceptions import DeleteError

        Lock = self.store.models.Lock
        with contextlib.suppress(DeleteError):  # not ours any more: leave it
            Lock(pk=LOCK_PREFIX + name).delete(condition=Lock.holder == holder)

    def send_sync(self, request: SyncRequest) -> str:
        from classlink_sync import aws

        settings = self.store.settings
        response = aws.client("sqs", settings).send_message(
            QueueUrl=settings.require("sync_queue_url"), MessageBody=request.to_json()
        )
        return str(response.get("MessageId", ""))

    def export(self, key: str, chunks: Iterable[bytes], filename: str) -> str:
        """Upload the chunks to ``exports/...`` (multipart: one part in memory at a time) and return a
        presigned GET URL valid ``EXPORT_URL_SECONDS`` that downloads it as ``filename``."""
        from classlink_sync.store.reports import s3_client

        s3 = s3_client(self.store.settings)
        bucket, key = self.store.settings.report_bucket, EXPORT_PREFIX + key
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/csv; charset=utf-8")
        parts: list[dict[str, Any]] = []
        try:
            for number, body in enumerate(_parts(chunks, MULTIPART_PART_BYTES), start=1):
                done = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=body)
                parts.append({"PartNumber": number, "ETag": done["ETag"]})
            s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
            )
        except Exception:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            raise
        url: str = _presigner(self.store.settings).generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": key,
                "ResponseContentType": "text/csv; charset=utf-8",
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=EXPORT_URL_SECONDS,
        )
        return url


@cache
def _presigner(settings: Any) -> Any:
    """An S3 client that signs URLs with SigV4 (botocore may presign with SigV2, which S3 refuses
    for KMS-encrypted objects and is deprecated), on the process's botocore session."""
    from botocore.config import Config

    from classlink_sync import aws

    return aws.boto3_session().client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(signature_version="s3v4"),
    )


def _parts(chunks: Iterable[bytes], size: int) -> Iterator[bytearray]:
    """The chunks regrouped into parts of at least ``size`` bytes (the last may be smaller). Each part
    is a fresh ``bytearray`` handed over, not copied: one part is in memory at a time."""
    buffer, yielded = bytearray(), False
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= size:
            yield buffer
            buffer, yielded = bytearray(), True
    if buffer or not yielded:
        yield buffer
