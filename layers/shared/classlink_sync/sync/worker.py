"""The district-sync worker: one sync-queue message, one district's sync (R14), run once.

The district-sync Lambda (``functions/district_sync/app.py``) hands each SQS record of a batch to
``process_record``; one record failing never fails another (the handler's partial batch response).

* Idempotency is keyed on the SQS message id (``key_prefix`` ``district-sync``): a message delivered
  twice runs the sync once and the duplicate gets the first result.
* Failures are not cached: when the sync raises, or its run record says ``failed``, this raises,
  Powertools deletes the in-progress record, and SQS's redelivery really runs again (after the
  queue's visibility timeout; after the last receive the message goes to the DLQ and an alarm fires).
* A run held for review (R10) or a dry run (R12) is a success: it is cached and not retried.
* Another sync of the district holding the lease (``DistrictBusy``, R14) is no failure: a warning,
  and SQS retries the message later.
* R20: the sync runs inside ``continuation.delivered`` (the message id and receive count), so a
  run that reaches its time budget continues in a follow-up message to this same queue and this
  message succeeds with status ``running``; a follow-up continues its run. A continued run's hop
  that fails before its last receive (``ContinuationRetry``) is retried by SQS from its checkpoint
  and is not counted as a failed sync; a copy of a message whose run another invocation owns, or
  that already ended, succeeds doing nothing.

Metrics go to the caller's ``Metrics`` (flushed by its ``log_metrics``): each recorded run is counted
by ``emit_run_metrics`` (``SyncRuns``, ``SyncFailed``, ``SyncHeld``...); ``SyncFailed`` is added here
only for a failure no run record holds (an unreadable message, a crash before the run record), so
nothing is counted twice. A hop that leaves its run in progress adds ``SyncContinued`` and
``SyncInProgressSeconds`` (the run's age, also before a follow-up runs). template.yaml's alarms
watch ``SyncFailed``, ``SyncHeld`` and ``SyncInProgressSeconds`` (a sync in progress for 2 hours).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.typing import LambdaContext

from classlink_sync.errors import DistrictBusy, MessageInvalid, SettingsError, SyncFailed
from classlink_sync.report import FAILED
from classlink_sync.sync import continuation
from classlink_sync.sync.messages import SyncRequest
from classlink_sync.sync.service import SyncOutcome, emit_run_metrics, run_sync

logger = Logger()

# Idempotency keys are "<prefix>#<hash of the message id>": fixed, so they do not depend on which
# module or function name does the work.
IDEMPOTENCY_KEY_PREFIX = "district-sync"
IDEMPOTENCY_TABLE_VARIABLE = "IDEMPOTENCY_TABLE"
FAILED_METRIC = "SyncFailed"
_RUN_KEYS = ["district_id", "sync_date", "trigger", "run_id"]


class Runner(Protocol):
    """``classlink_sync.sync.service.run_sync``'s shape, as the worker calls it."""

    def __call__(self, request: SyncRequest, *, deadline: float | None = None) -> SyncOutcome: ...


def idempotency_persistence_layer() -> BasePersistenceLayer:
    """The idempotency table (template.yaml IdempotencyTable, named by ``IDEMPOTENCY_TABLE``); its
    boto3 client honours ``AWS_ENDPOINT_URL`` and comes from the process's one botocore session
    (``classlink_sync.aws``). Raises ``SettingsError`` naming the variable."""
    table_name = os.environ.get(IDEMPOTENCY_TABLE_VARIABLE, "").strip()
    if not table_name:
        raise SettingsError(f"missing required environment variable: {IDEMPOTENCY_TABLE_VARIABLE}")
    from classlink_sync.aws import boto3_session

    return DynamoDBPersistenceLayer(table_name=table_name, boto3_session=boto3_session())


def invocation_deadline(context: LambdaContext | None) -> float | None:
    """The ``time.monotonic()`` at which the invocation times out (None without a Lambda context)."""
    if context is None:
        return None
    return time.monotonic() + context.get_remaining_time_in_millis() / 1000


def process_record(
    record: SQSRecord,
    context: LambdaContext | None,
    *,
    metrics: Metrics,
    persistence: Callable[[], BasePersistenceLayer],
    config: IdempotencyConfig,
    run: Runner = run_sync,
) -> dict[str, Any]:
    """One SQS record, synced once per message id (see the module doc); raises on any failure, so
    that the batch reports the message and SQS retries it. ``persistence`` is called on each record
    (the caller caches it), so a missing table fails the message, not the cold start."""
    try:
        once = idempotent_function(
            process_message,
            data_keyword_argument="record",
            persistence_store=persistence(),
            config=config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )
        result: dict[str, Any] = once(record=record, deadline=invocation_deadline(context), metrics=metrics, run=run)
        return result
    except Exception as exc:
        _report_failure(exc, record.message_id, metrics)
        raise
    finally:
        logger.remove_keys(_RUN_KEYS)


def process_message(
    record: SQSRecord, deadline: float | None = None, *, metrics: Metrics, run: Runner = run_sync
) -> dict[str, Any]:
    """Parse the message, run the sync, count the run, shape the result (what idempotency caches).
    Raises ``MessageInvalid`` for an unreadable body and ``SyncFailed`` for a run recorded as
    failed, whether ``run`` raised it or returned it."""
    try:
        request = SyncRequest.parse(record.body)
    except ValueError as exc:
        raise MessageInvalid(f"SQS message {record.message_id} is not a valid sync request: {exc}") from exc
    logger.append_keys(district_id=request.district_id, sync_date=request.date, trigger=request.trigger)
    if request.continuation is not None:
        pointer = continuation.Pointer.parse(request.continuation)
        continuation.emit_age(metrics, pointer.started)  # R20: the stuck-sync alarm, before the hop runs
    with continuation.delivered(delivery(record)):
        outcome = run(request, deadline=deadline)
    logger.append_keys(run_id=outcome.run_id)
    result: dict[str, Any] = {"district_id": request.district_id, "run_id": outcome.run_id, "status": outcome.status}
    if getattr(outcome, "ended", False) or getattr(outcome, "superseded", False):
        # R20: a late copy of a message: its run ended, or another invocation owns it. Nothing ran.
        logger.info("nothing to do for this message", extra=result)
        return {**result, "noop": True}
    if getattr(outcome, "refused", False):  # R17: a refused undo is on the record; no retry, no alarm
        logger.warning("undo refused; recorded as a failed undo run", extra={**result, "error": outcome.report.error})
        metrics.add_metric(name="UndoRefused", unit=MetricUnit.Count, value=1)
        return {**result, "refused": True}
    if outcome.status == FAILED:
        raise SyncFailed(outcome.report)  # counted once, by _report_failure
    if outcome.status == continuation.RUNNING:  # R20: continues in follow-up ``hop``
        continuation.emit_hop_metrics(metrics, outcome)
        result["hop"] = getattr(outcome, "hop", None)
        logger.info("district sync continues in a follow-up message", extra=result)
        return result
    emit_run_metrics(metrics, outcome.report)
    logger.info("district sync finished", extra=result)
    return result


def delivery(record: SQSRecord) -> continuation.Delivery:
    """What the service knows of the message it serves (R20): id, receive count, send time."""
    attributes = record.get("attributes") or {}
    try:
        receives = int(attributes.get("ApproximateReceiveCount") or 1)
    except ValueError:
        receives = 1
    sent_at = None
    with contextlib.suppress(KeyError, TypeError, ValueError):
        sent_at = dt.datetime.fromtimestamp(int(attributes["SentTimestamp"]) / 1000, dt.UTC)
    return continuation.Delivery(message_id=record.message_id, receive_count=receives, sent_at=sent_at)


def _report_failure(exc: Exception, message_id: str, metrics: Metrics) -> None:
    """Log a failed message once, and count it once unless its run record already counts it."""
    extra: dict[str, Any] = {"message_id": message_id}
    if isinstance(exc, IdempotencyAlreadyInProgressError):
        # The same message is being synced by another invocation right now: not a failure of the
        # sync; SQS redelivers this copy after the visibility timeout and it gets the stored result.
        logger.warning("message already in progress elsewhere", extra=extra)
    elif isinstance(exc, DistrictBusy):  # R14: another sync of the district holds the lease
        logger.warning("district busy, message will be retried", extra=extra)
    elif isinstance(exc, continuation.ContinuationRetry):  # R20: the run waits at its checkpoint
        logger.warning("continued sync interrupted, message will be retried", extra={**extra, "error": str(exc)})
    elif isinstance(exc, SyncFailed):  # the run record says failed: count it from the record
        emit_run_metrics(metrics, exc.report)
        logger.error("district sync failed", extra={**extra, "error": str(exc)})
    else:
        metrics.add_metric(name=FAILED_METRIC, unit=MetricUnit.Count, value=1)
        logger.exception("district sync raised", extra=extra)
