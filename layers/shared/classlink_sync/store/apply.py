"""Apply a plan: write exactly what ``rules.plan.Plan`` says (DESIGN.md "Flow").

Order (each phase is split into chunks of ``chunk_size`` items; a chunk's items are written in
parallel, chunks one after another):

0. orphan reservations (when the caller gives ``find_orphans`` and the fetch was complete):
   reservations of this district whose account was never written (an apply killed between a
   reservation and its account) and that no account of the plan adopts are released, each in
   a TransactWriteItems: a ConditionCheck that the account item does not exist and a Delete
   only if the reservation still names this account and this district (R5). Not a chunk: the
   checkpoint says whether it was done. Housekeeping: if it fails, the error is logged and kept
   in ``ApplyResult.orphan_error``, and the plan is applied all the same;
1. schools (BatchWriteItem puts);
2. reservation releases (conditional DeleteItem: only if we hold it);
3. reservation moves (one TransactWriteItems each: delete the old reservation if ours, put the
   new one if free or ours, put the account with its new username; R5);
4. reservation adds of accounts the plan has no state for (conditional PutItem);
5. accounts, chunk by chunk, each chunk with its own reservation adds: the chunk's account items
   are built and checked, then the reservations of those that can be written are added
   (conditional PutItem: free, or already ours), then the accounts are written (BatchWriteItem),
   except accounts whose reservation failed ("blocked") and accounts already written by their
   move. If anything fails between a chunk's reservations and its accounts, the reservations it
   added whose account was not written are given back (the same transaction as in 0) before the
   error surfaces: a failed apply leaves no reservation without its account (R5);
6. classes; 7. enrolments, except the enrolments of blocked accounts and blocked classes.

Record-level isolation (issue 9): every item is checked against DynamoDB's limits before it is
sent (``store.items.check_*``, ``store.limits``); an item that breaks one is not written, and an
account that cannot be written gets no reservation either. If DynamoDB still refuses a batch with
a ``ValidationException``, its items are written again one by one and the ones refused are
isolated the same way. Either way the record is an R4 ``Issue`` naming its sourcedId and field,
and the rest of the plan is applied. A reservation that fails its condition is an R5 ``Issue`` in
the result, never an exception (SPEC R5).

BatchWriteItem's ``UnprocessedItems`` are sent again with bounded exponential backoff and jitter
(``store.dynamo``); throttling is retried by botocore (standard mode), and a request still failing
after that raises. After every chunk the ``ApplyCheckpoint`` (chunks done, blocked accounts and
classes, issues) is handed to ``on_checkpoint``; ``apply_plan`` called again with it skips the
chunks done, so a failed, killed or time-boxed apply resumes and ends in the same state, and
re-applying a finished plan with its checkpoint writes nothing. Every write is idempotent, so a
chunk cut in the middle is simply written again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from classlink_sync.rules.holdings import Reservation
from classlink_sync.rules.plan import AccountState, Issue, Plan, ReservationChange
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.dynamo import TransactionCancelled, error_code
from classlink_sync.store.items import (
    NOUNS,
    Item,
    ItemProblem,
    account_item,
    account_key,
    check_account,
    check_class,
    check_enrollment,
    check_reservation,
    check_school,
    class_item,
    enrollment_item,
    reservation_item,
    school_item,
)

logger = logging.getLogger(__name__)

ENTITIES = ("schools", "reservations", "accounts", "classes", "enrollments")
DEFAULT_CHUNK = 1000
# The chunk layout of this version (reservation adds written with their account's chunk). A
# checkpoint of another layout is not resumed but started afresh: every write is idempotent.
LAYOUT = 3  # 3: the streamed plan digest (a checkpoint of layout 2 names the plan another way)
INVALID = "ValidationException"
R5_ADVICE = (
    "Use school email addresses as usernames, or add a district prefix to usernames "
    "(e.g. ExampleISD-12345), in ClassLink."
)


def plan_digest(plan: Plan) -> str:
    """Stable digest of a plan: ties a checkpoint to its plan (blake2b).

    Streamed (issue 10, memory): the plan's small parts as canonical JSON, then every state of
    every action list, one at a time, as the ``repr`` of its field values (str, bool, None, int
    and tuples of str: deterministic across processes). Nothing the size of the plan is built: a
    ``to_dict`` and one JSON text of a million-user plan would need gigabytes; this needs a state.
    """
    head = plan.to_dict_head()
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(json.dumps(head, sort_keys=True, separators=(",", ":"), default=str).encode())
    for name, names in plan.state_fields().items():
        getters = operator.attrgetter(*names)
        for action, items in getattr(plan, name).items():
            hasher.update(f"\x1e{name}\x1f{action}\x1f{len(items)}".encode())
            for item in items:
                hasher.update(repr(getters(item)).encode())
                hasher.update(b"\x1d")
    return hasher.hexdigest()


@dataclass
class ApplyCheckpoint:
    """What a resumed apply needs: plain data, JSON-serialisable (``to_dict``/``from_dict``)."""

    plan_digest: str
    done: list[int] = field(default_factory=list)  # chunk indexes fully written
    blocked_accounts: list[str] = field(default_factory=list)  # reservation failed (R5) or refused (R4)
    issues: list[dict[str, Any]] = field(default_factory=list)
    blocked_classes: list[str] = field(default_factory=list)  # refused (R4): their enrolments wait
    orphans_done: bool = False  # phase 0 ran (or had nothing to do)
    layout: int = LAYOUT
    # Roster writes per entity of every call that worked from this checkpoint (R20 progress: a
    # sync continued over several invocations counts its writes across them).
    written: dict[str, int] = field(default_factory=dict)
    chunks_total: int = 0  # how many chunks the plan makes (R20 progress); set by apply_plan

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApplyCheckpoint:
        return cls(
            plan_digest=data["plan_digest"],
            done=list(data.get("done", [])),
            blocked_accounts=list(data.get("blocked_accounts", [])),
            issues=list(data.get("issues", [])),
            blocked_classes=list(data.get("blocked_classes", [])),
            orphans_done=bool(data.get("orphans_done", False)),
            layout=int(data.get("layout", 1)),
            written={str(k): int(v) for k, v in (data.get("written") or {}).items()},
            chunks_total=int(data.get("chunks_total", 0)),
        )


@dataclass
class ApplyResult:
    """The outcome of one ``apply_plan`` call (this invocation's writes)."""

    complete: bool
    checkpoint: ApplyCheckpoint
    issues: list[Issue]  # R5 conflicts and R4 refused items found at apply time (resumes included)
    roster_writes: dict[str, int]  # items written per entity (SPEC §3 roster writes)
    # accounts/enrollments not written because a reservation failed or an item was refused (R4);
    # "classes" and "schools" appear when one of theirs was refused
    skipped: dict[str, int]
    chunks_total: int
    throttled_retries: int = 0  # requests botocore retried (throttling, 5xx): its RetryAttempts
    unprocessed_retries: int = 0
    bookkeeping_writes: int = 0  # apply itself makes none; the caller persists the checkpoint
    released_orphans: int = 0  # phase 0: reservations of the district left without their account
    orphan_error: str | None = None  # phase 0 failed (logged; the plan was still applied)

    @property
    def total_roster_writes(self) -> int:
        return sum(self.roster_writes.values())


@dataclass
class _Chunk:
    """One chunk of a phase: slices ``(source, start, stop)`` of the plan's action lists, turned
    into states only when the chunk is written (issue 10: enrolments are ``StateRows``, and a list
    of a whole phase's states up front would hold millions of objects for the whole apply)."""

    phase: str
    parts: tuple[tuple[Sequence[Any], int, int], ...]

    @property
    def items(self) -> list[Any]:
        return [item for source, start, stop in self.parts for item in source[start:stop]]


class _Applier:
    def __init__(
        self,
        plan: Plan,
        store: Store,
        checkpoint: ApplyCheckpoint,
        chunk_size: int,
        threads: int,
        find_orphans: Callable[[str], Iterable[Reservation]] | None = None,
    ) -> None:
        self.plan = plan
        self.store = store
        self.settings = store.settings
        self.checkpoint = checkpoint
        self.threads = threads
        self.find_orphans = find_orphans
        self.lock = threading.Lock()
        self.blocked = set(checkpoint.blocked_accounts)
        self.blocked_classes = set(checkpoint.blocked_classes)
        self.reported = {_issue_key(i) for i in checkpoint.issues}
        self.written = dict.fromkeys(ENTITIES, 0)
        self.written_before = dict(checkpoint.written)  # by the calls this one resumes
        self.skipped = {"accounts": 0, "enrollments": 0}
        self.released_orphans = 0
        self.orphan_error: str | None = None
        self.states: dict[str, AccountState] = {}
        for items in plan.accounts.values():
            for state in items:
                self.states[state.account_id] = state
        self.moved_with_state = {
            r.account_id
            for r in plan.reservations.get("move", [])
            if r.account_id in self.states and r.previous_norm and r.previous_norm != r.username_norm
        }
        # A reservation add is written with its account's chunk; one without an account state in
        # the plan (nothing follows it) is written on its own (phase 4).
        self.adds: dict[str, ReservationChange] = {}
        self.lone_adds: list[ReservationChange] = []
        for change in plan.reservations.get("add", []):
            if change.account_id in self.states and change.account_id not in self.adds:
                self.adds[change.account_id] = change
            else:
                self.lone_adds.append(change)
        self.chunks = self._chunks(chunk_size)

    # -- chunking -------------------------------------------------------------------------------
    def _chunks(self, size: int) -> list[_Chunk]:
        """Each phase's action lists, in order, cut into chunks of ``size`` items (a chunk may span
        two lists of a phase); only slice bounds are kept."""
        plan = self.plan
        phases: list[tuple[str, list[Sequence[Any]]]] = [
            ("schools", list(plan.schools.values())),
            ("release", [plan.reservations.get("release", [])]),
            ("move", [plan.reservations.get("move", [])]),
            ("add", [self.lone_adds]),
            ("accounts", list(plan.accounts.values())),
            ("classes", list(plan.classes.values())),
            ("enrollments", list(plan.enrollments.values())),
        ]
        chunks: list[_Chunk] = []
        for phase, sources in phases:
            parts: list[tuple[Sequence[Any], int, int]] = []
            room = size
            for source in sources:
                start = 0
                while start < len(source):
                    stop = min(len(source), start + room)
                    parts.append((source, start, stop))
                    room -= stop - start
                    start = stop
                    if room == 0:
                        chunks.append(_Chunk(phase, tuple(parts)))
                        parts, room = [], size
            if parts:
                chunks.append(_Chunk(phase, tuple(parts)))
        return chunks

    # -- running --------------------------------------------------------------------------------
    def run(
        self, on_checkpoint: Callable[[ApplyCheckpoint], None] | None, should_stop: Callable[[], bool] | None
    ) -> bool:
        if not self.checkpoint.orphans_done:
            if self.find_orphans is not None and self.plan.fetch_complete:
                if should_stop is not None and should_stop():
                    return False
                try:
                    self._orphans()
                except Exception as exc:  # housekeeping: the roster is still applied, and retried next time
                    self.orphan_error = _error_text(exc)
                    logger.warning(
                        "R5: orphan reservations not released this time; the next sync tries again",
                        extra={"district_id": self.plan.district_id, "error": self.orphan_error},
                        exc_info=True,
                    )
                else:
                    self.checkpoint.orphans_done = True
                    with self.lock:
                        self._count_into_checkpoint()
                    if on_checkpoint is not None:
                        on_checkpoint(ApplyCheckpoint.from_dict(self.checkpoint.to_dict()))
            else:
                self.checkpoint.orphans_done = True
        done = set(self.checkpoint.done)
        for index, chunk in enumerate(self.chunks):
            if index in done:
                continue
            if should_stop is not None and should_stop():
                return False
            getattr(self, "_" + chunk.phase)(chunk.items)
            with self.lock:
                done.add(index)
                self.checkpoint.done = sorted(done)
                self.checkpoint.blocked_accounts = sorted(self.blocked)
                self.checkpoint.blocked_classes = sorted(self.blocked_classes)
                self._count_into_checkpoint()
            if on_checkpoint is not None:
                on_checkpoint(ApplyCheckpoint.from_dict(self.checkpoint.to_dict()))
        return True

    def _count_into_checkpoint(self) -> None:
        """The checkpoint's ``written``: this call's writes added to those it resumes (under the lock)."""
        totals = {e: self.written_before.get(e, 0) + self.written[e] for e in ENTITIES}
        self.checkpoint.written = {e: n for e, n in totals.items() if n}

    def _parallel(self, fn: Callable[[Any], None], args: Sequence[Any]) -> None:
        if len(args) <= 1 or self.threads <= 1:
            for arg in args:
                fn(arg)
            return
        with ThreadPoolExecutor(max_workers=min(self.threads, len(args))) as pool:
            for _ in pool.map(fn, args):
                pass

    def _count(self, entity: str, n: int) -> None:
        with self.lock:
            self.written[entity] += n

    def _skip(self, entity: str, n: int = 1) -> None:
        with self.lock:
            self.skipped[entity] = self.skipped.get(entity, 0) + n

    def _batch_put(self, table: str, entity: str, pairs: Sequence[tuple[Any, Item]]) -> list[tuple[Any, Exception]]:
        """Write (state, item) pairs, 25 a BatchWriteItem, in parallel. A batch DynamoDB refuses
        with a ValidationException (one bad item refuses all 25) is written again item by item;
        the (state, error) pairs it still refuses are returned, everything else is written."""
        batches = [pairs[i : i + 25] for i in range(0, len(pairs), 25)]
        refused: list[tuple[Any, Exception]] = []

        def put(batch: Sequence[tuple[Any, Item]]) -> None:
            self._count(entity, self.store.calls.batch_write(table, [{"PutRequest": {"Item": i}} for _, i in batch]))

        def write(batch: Sequence[tuple[Any, Item]]) -> None:
            try:
                put(batch)
                return
            except Exception as exc:
                if error_code(exc) != INVALID:
                    raise
                if len(batch) == 1:
                    with self.lock:
                        refused.append((batch[0][0], exc))
                    return
            for pair in batch:  # isolate the item DynamoDB refuses
                try:
                    put([pair])
                except Exception as exc:
                    if error_code(exc) != INVALID:
                        raise
                    with self.lock:
                        refused.append((pair[0], exc))

        self._parallel(write, batches)
        return refused

    def _report(self, issue: Issue) -> None:
        data = asdict(issue)
        key = _issue_key(data)
        with self.lock:
            if key not in self.reported:
                self.reported.add(key)
                self.checkpoint.issues.append(data)

    def _block(self, account_id: str, issue: Issue) -> None:
        with self.lock:
            self.blocked.add(account_id)
        self._report(issue)

    def _issue(self, change: ReservationChange, message: str) -> Issue:
        state = self.states.get(change.account_id)
        return Issue(
            rule="R5",
            entity="user",
            sourced_id=state.sourced_id if state else None,
            message=message,
            field="username",
        )

    def _refused(self, entity: str, sourced_id: str | None, problem: ItemProblem | Exception) -> Issue:
        """The R4 issue of an item that cannot be written (our check, or DynamoDB's refusal)."""
        if isinstance(problem, ItemProblem):
            return Issue(rule="R4", entity=entity, sourced_id=sourced_id, message=problem.message, field=problem.field)
        noun = NOUNS.get(entity, entity)
        return Issue(
            rule="R4",
            entity=entity,
            sourced_id=sourced_id,
            message=(
                f"DynamoDB refused this {noun}'s record ({_error_text(problem)}), so this {noun} was not "
                f"created or updated; the rest of the sync was applied. Look in ClassLink for an unusually "
                f"long or malformed value in this record."
            ),
            field=None,
        )

    # -- phase 0: orphan reservations ----------------------------------------------------------
    def _orphans(self) -> None:
        if self.find_orphans is None:  # run() calls this only with a finder
            raise RuntimeError("apply: the orphan reservation scan has no finder")
        district = self.plan.district_id
        found = [
            r
            for r in self.find_orphans(district)
            # Another district's reservation is never ours to release, whatever the finder says;
            # an orphan whose user came back is adopted: the plan writes its account now.
            if r.district_id == district and r.account_id not in self.states
        ]
        if not found:
            return
        released = self._give_back([ReservationChange(r.username_norm, r.account_id, district) for r in found])
        with self.lock:
            self.released_orphans += released
        logger.info("R5: released orphan reservations", extra={"district_id": district, "released": released})

    def _give_back(self, changes: Sequence[ReservationChange], *, quiet: bool = False) -> int:
        """Release reservations whose account item does not exist, each in one transaction: a
        ConditionCheck that the account item is absent and a Delete only if the reservation
        still names this account and district. Returns how many were released. ``quiet``: a
        compensation after a failure; its own errors are logged, the original error surfaces."""
        table = self.settings.reservations_table
        released = 0

        def release(change: ReservationChange) -> None:
            nonlocal released
            items: list[dict[str, Any]] = [
                {
                    "ConditionCheck": {
                        "TableName": self.settings.accounts_table,
                        "Key": account_key(change.district_id, change.account_id),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": "pk"},
                    }
                },
                {
                    "Delete": {
                        "TableName": table,
                        "Key": {"pk": {"S": change.username_norm}},
                        "ConditionExpression": "#a = :a AND #d = :d",
                        "ExpressionAttributeNames": {"#a": "a", "#d": "d"},
                        "ExpressionAttributeValues": {
                            ":a": {"S": change.account_id},
                            ":d": {"S": change.district_id},
                        },
                    }
                },
            ]
            try:
                self.store.calls.transact_write(items)
            except TransactionCancelled:
                return  # the account exists after all, or the name is no longer this account's
            except Exception:
                if not quiet:
                    raise
                logger.warning(
                    "R5: could not give back a reservation after a failed write; the next sync adopts or releases it",
                    extra={"district_id": change.district_id, "account_id": change.account_id},
                    exc_info=True,
                )
                return
            self._count("reservations", 1)
            with self.lock:
                released += 1

        self._parallel(release, changes)
        return released

    # -- phases ---------------------------------------------------------------------------------
    def _schools(self, states: Sequence[Any]) -> None:
        self._check_district(states)
        pairs = []
        for state in states:
            item = school_item(state)
            problem = check_school(state, item)
            if problem is not None:
                self._report(self._refused("org", state.sourced_id, problem))
                self._skip("schools")
            else:
                pairs.append((state, item))
        for state, exc in self._batch_put(self.settings.schools_table, "schools", pairs):
            self._report(self._refused("org", state.sourced_id, exc))
            self._skip("schools")

    def _release(self, changes: Sequence[ReservationChange]) -> None:
        self._check_district(changes)
        table = self.settings.reservations_table

        def release(change: ReservationChange) -> None:
            ok = self.store.calls.delete(
                table,
                {"pk": {"S": change.username_norm}},
                condition="attribute_not_exists(#pk) OR #a = :a",
                names={"#pk": "pk", "#a": "a"},
                values={":a": {"S": change.account_id}},
            )
            if ok:
                self._count("reservations", 1)

        self._parallel(release, changes)

    def _reserve(self, change: ReservationChange, added: list[ReservationChange] | None = None) -> None:
        """One reservation add (conditional PutItem: free, or already this account's). A
        failed condition blocks the account (R5); a refused item blocks it too (R4)."""
        state = self.states.get(change.account_id)
        problem = check_reservation(change.username_norm)
        if problem is not None:
            self._block(change.account_id, self._refused("user", state.sourced_id if state else None, problem))
            return
        try:
            ok = self.store.calls.put(
                self.settings.reservations_table,
                reservation_item(change.username_norm, change.account_id, change.district_id),
                condition="attribute_not_exists(#pk) OR (#a = :a AND #d = :d)",
                names={"#pk": "pk", "#a": "a", "#d": "d"},
                values={":a": {"S": change.account_id}, ":d": {"S": change.district_id}},
            )
        except Exception as exc:
            if error_code(exc) != INVALID:
                raise
            self._block(change.account_id, self._refused("user", state.sourced_id if state else None, exc))
            return
        if ok:
            self._count("reservations", 1)
            if added is not None:
                with self.lock:
                    added.append(change)
            return
        shown = state.username if state else change.username_norm
        self._block(
            change.account_id,
            self._issue(
                change,
                f"The username '{shown}' is already used by another account on This is School "
                f"(another district's, or one that cannot be linked to this user), so this user "
                f"was not created or updated. {R5_ADVICE}",
            ),
        )

    def _add(self, changes: Sequence[ReservationChange]) -> None:
        self._check_district(changes)
        self._parallel(self._reserve, changes)

    def _move(self, changes: Sequence[ReservationChange]) -> None:
        self._check_district(changes)
        self._parallel(self._move_one, changes)

    def _move_one(self, change: ReservationChange) -> None:
        table = self.settings.reservations_table
        previous = change.previous_norm
        state = self.states.get(change.account_id)
        if not previous or previous == change.username_norm:
            return  # nothing moves; the account's own write (accounts phase) carries the change
        sourced_id = state.sourced_id if state else None
        account = account_item(state) if state is not None else None
        problem = check_account(state, account) if state is not None else check_reservation(change.username_norm)
        if problem is not None:  # R4: neither the account nor its reservation moves
            self._block(change.account_id, self._refused("user", sourced_id, problem))
            return
        owned = {
            "ConditionExpression": "attribute_not_exists(#pk) OR #a = :a",
            "ExpressionAttributeNames": {"#pk": "pk", "#a": "a"},
            "ExpressionAttributeValues": {":a": {"S": change.account_id}},
        }
        items: list[dict[str, Any]] = [
            {"Delete": {"TableName": table, "Key": {"pk": {"S": previous}}, **owned}},
            {
                "Put": {
                    "TableName": table,
                    "Item": reservation_item(change.username_norm, change.account_id, change.district_id),
                    **owned,
                }
            },
        ]
        if account is not None:
            items.append({"Put": {"TableName": self.settings.accounts_table, "Item": account}})
        else:  # no account state in the plan: only the reservation key the account holds changes
            items.append(
                {
                    "Update": {
                        "TableName": self.settings.accounts_table,
                        "Key": account_key(change.district_id, change.account_id),
                        "UpdateExpression": "SET #unn = :n",
                        "ConditionExpression": "attribute_exists(#pk)",
                        "ExpressionAttributeNames": {"#unn": "unn", "#pk": "pk"},
                        "ExpressionAttributeValues": {":n": {"S": change.username_norm}},
                    }
                }
            )
        token = hashlib.blake2b(
            f"{self.checkpoint.plan_digest}|{change.account_id}".encode(), digest_size=16
        ).hexdigest()
        try:
            self.store.calls.transact_write(items, token=token)
        except TransactionCancelled as exc:
            lost_old = bool(exc.reasons) and exc.reasons[0] == "ConditionalCheckFailed"
            shown = state.username if state else change.username_norm
            if lost_old:
                message = (
                    f"The username this account held ('{previous}') is now reserved by another "
                    f"account, so its change to '{shown}' was not applied. {R5_ADVICE}"
                )
            else:
                message = (
                    f"The new username '{shown}' is already used by another account on This is "
                    f"School, so this account keeps its previous username '{previous}'. "
                    f"{R5_ADVICE}"
                )
            self._block(change.account_id, self._issue(change, message))
            return
        except Exception as exc:
            if error_code(exc) != INVALID:
                raise
            self._block(change.account_id, self._refused("user", sourced_id, exc))
            return
        self._count("reservations", 2)
        self._count("accounts", 1)

    def _accounts(self, states: Sequence[AccountState]) -> None:
        """A chunk of accounts with their reservation adds: check, reserve, write; on a failure
        in between, give back what this chunk reserved and whose account was not written."""
        self._check_district(states)
        ready: list[tuple[AccountState, Item]] = []
        for state in states:
            if state.account_id in self.blocked:
                self._skip("accounts")
            elif state.account_id not in self.moved_with_state:
                item = account_item(state)
                problem = check_account(state, item)
                if problem is not None:  # R4: no account, hence no reservation either
                    self._block(state.account_id, self._refused("user", state.sourced_id, problem))
                    self._skip("accounts")
                else:
                    ready.append((state, item))
        adds = [self.adds[s.account_id] for s, _ in ready if s.account_id in self.adds]
        self._check_district(adds)
        added: list[ReservationChange] = []
        try:
            self._parallel(lambda change: self._reserve(change, added), adds)
            todo = []
            for state, item in ready:
                if state.account_id in self.blocked:  # its reservation failed (R5) or was refused
                    self._skip("accounts")
                else:
                    todo.append((state, item))
            refused = self._batch_put(self.settings.accounts_table, "accounts", todo)
        except BaseException:
            if added:
                given = self._give_back(added, quiet=True)
                logger.warning(
                    "apply failed between reservations and their accounts; reservations given back",
                    extra={"district_id": self.plan.district_id, "given_back": given, "added": len(added)},
                )
            raise
        if refused:
            for state, exc in refused:
                self._block(state.account_id, self._refused("user", state.sourced_id, exc))
                self._skip("accounts")
            ids = {state.account_id for state, _ in refused}
            self._give_back([c for c in added if c.account_id in ids])

    def _classes(self, states: Sequence[Any]) -> None:
        self._check_district(states)
        pairs = []
        for state in states:
            item = class_item(state)
            problem = check_class(state, item)
            if problem is not None:
                self._block_class(state, problem)
            else:
                pairs.append((state, item))
        for state, exc in self._batch_put(self.settings.classes_table, "classes", pairs):
            self._block_class(state, exc)

    def _block_class(self, state: Any, problem: ItemProblem | Exception) -> None:
        with self.lock:
            self.blocked_classes.add(state.class_id)
        self._report(self._refused("class", state.sourced_id, problem))
        self._skip("classes")

    def _enrollments(self, states: Sequence[Any]) -> None:
        self._check_district(states)
        pairs = []
        for state in states:
            if state.account_id in self.blocked or state.class_id in self.blocked_classes:
                self._skip("enrollments")
                continue
            item = enrollment_item(state)
            problem = check_enrollment(state, item)
            if problem is not None:
                self._report(self._refused("enrollment", state.sourced_id, problem))
                self._skip("enrollments")
            else:
                pairs.append((state, item))
        for state, exc in self._batch_put(self.settings.enrollments_table, "enrollments", pairs):
            self._report(self._refused("enrollment", state.sourced_id, exc))
            self._skip("enrollments")

    def _check_district(self, states: Sequence[Any]) -> None:
        for state in states:
            if state.district_id != self.plan.district_id:
                raise ValueError(
                    f"plan for district {self.plan.district_id!r} holds an item of district "
                    f"{state.district_id!r}: refusing to write across districts"
                )


def _issue_key(issue: dict[str, Any]) -> tuple[Any, ...]:
    return (issue.get("rule"), issue.get("entity"), issue.get("sourced_id"), issue.get("field"), issue.get("message"))


def _error_text(exc: BaseException) -> str:
    """DynamoDB's code and message of an error (they name the limit, never the item's values)."""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ClientError):
            error = current.response.get("Error", {})
            return f"{error.get('Code', 'error')}: {str(error.get('Message', ''))[:200]}"
        current = current.__cause__
    return type(exc).__name__


def apply_plan(
    plan: Plan,
    store: Store | None = None,
    *,
    checkpoint: ApplyCheckpoint | dict[str, Any] | None = None,
    on_checkpoint: Callable[[ApplyCheckpoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    deadline: float | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    threads: int | None = None,
    find_orphans: Callable[[str], Iterable[Reservation]] | None = None,
    digest: str | None = None,
) -> ApplyResult:
    """Write what ``plan`` says (SPEC R4, R5, R9, §3 roster writes; DESIGN.md resumable apply).

    ``checkpoint`` resumes a previous call of the same plan; ``on_checkpoint`` receives a copy after
    every chunk; ``should_stop`` or ``deadline`` (a ``time.monotonic()`` value) end the call between
    chunks with ``complete=False``. Conditional reservation failures become R5 issues, items
    DynamoDB cannot hold R4 issues. ``find_orphans(district_id)`` (``DynamoRosterView.
    orphan_reservations``) lists the district's reservations whose account does not exist; after
    a complete fetch those the plan does not adopt are released (``released_orphans``).
    ``digest``: the plan's ``plan_digest`` when the caller has it (a continued sync keeps it with
    the plan, R20), so that it is not computed again."""
    store = resolve(store)
    digest = digest or plan_digest(plan)
    if isinstance(checkpoint, dict):
        checkpoint = ApplyCheckpoint.from_dict(checkpoint)
    if checkpoint is not None and checkpoint.layout == LAYOUT and checkpoint.plan_digest != digest:
        raise ValueError("the checkpoint belongs to a different plan; apply that plan or start afresh")
    if checkpoint is None or checkpoint.layout != LAYOUT:
        checkpoint = ApplyCheckpoint(plan_digest=digest)
    stop = should_stop
    if deadline is not None:

        def stop() -> bool:
            return time.monotonic() >= deadline or (should_stop is not None and should_stop())

    calls = store.calls
    retried0, unprocessed0 = calls.sdk_retries, calls.unprocessed_retries
    applier = _Applier(
        plan,
        store,
        checkpoint,
        max(1, chunk_size),
        threads or store.settings.store_concurrency,
        find_orphans,
    )
    checkpoint.chunks_total = len(applier.chunks)
    complete = applier.run(on_checkpoint, stop)
    return ApplyResult(
        complete=complete,
        checkpoint=checkpoint,
        issues=[Issue(**i) for i in checkpoint.issues],
        roster_writes=applier.written,
        skipped=applier.skipped,
        chunks_total=len(applier.chunks),
        throttled_retries=calls.sdk_retries - retried0,
        unprocessed_retries=calls.unprocessed_retries - unprocessed0,
        released_orphans=applier.released_orphans,
        orphan_error=applier.orphan_error,
    )
