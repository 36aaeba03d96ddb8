"""R18 targeted reads: what a delta sync needs of what we hold, read by key, not the district.

A full sync reads every item of the district (``rules.holdings.gather``); a delta that carries 1%
of the district's records would pay the same (issue 11 measured 100% of a full sync's store reads).
``gather_changes`` reads instead only the items around the delta's records:

* **accounts** of the delta's users and of its enrolments' users, by key: an account's id is the
  deterministic uuid5 of district and sourcedId (``rules.planner.state.new_id``) unless it was
  relinked (R6, R11) or adopted (R5), so a BatchGetItem under that id finds nearly all; a sourcedId
  not found there is looked up in the ``signin`` index (``{tenant}#{sourcedId}``, one Query each:
  a new user costs one request that returns nothing);
* **reservations** of the delta's usernames (R5, as ``gather``); one held by an account of this
  district is that account, which is read by id (so R5/R6 judge it as on a full sync);
* the accounts the **last full sync left unlinked** (R2/R6 "recommended for removal", from its
  report), by id: a new user may link to one of them by username or email (R6);
* **classes** of the delta's classes and of its enrolments' classes, by their deterministic id;
* **enrolments** of the delta whose class and user we hold, by their key (class id, account id);
* every **school** (a few items, R3 scope).

The holdings are ``partial``: the planner then keeps a held live student in scope (R3) and a held
live class's teacher (R8) on the strength of the last full sync, which judged them on every
enrolment, and the guard (R10) takes its shares of the district's totals at that sync
(``held_totals`` in its report). Without a usable last full sync (none, its report unreadable,
or written before the totals were recorded), ``basis`` is None and the delta reads the whole
district as before (``rules.holdings.gather``).

What a targeted delta does not see, and the full sync does: a held enrolment of a changed record
under another key (a class or user that changed sourcedId keeps its old enrolment until the full
sync removes it), a student's or a class's scope lost through enrolments the delta did not carry
(a delta never removes anyway, R9), and an account created outside the sync since the last full
sync (the R6 link by email to it is not found).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from classlink_sync.oneroster.records import ACTIVE, EnrollmentRecord, RosterSnapshot
from classlink_sync.rules.holdings import HeldAccount, HeldClass, HeldEnrollment, Holdings, usernames_to_look_up
from classlink_sync.rules.planner import enrollment_digest
from classlink_sync.rules.planner.state import new_id
from classlink_sync.store.limits import MAX_PARTITION_KEY_BYTES as MAX_KEY

if TYPE_CHECKING:
    from classlink_sync.store.context import Store
    from classlink_sync.store.districts import District
    from classlink_sync.store.view import DynamoRosterView

logger = logging.getLogger(__name__)

# How far back the run history is searched for the last successful full sync.
RUNS_SEARCHED = 100
_TOTALS = ("accounts", "classes", "enrollments")


@dataclass(slots=True)
class Basis:
    """What the last successful full sync knew of the whole district, for a targeted delta."""

    run_id: str
    totals: dict[str, int]  # active accounts, classes, enrollments it held (R10's base)
    unlinked: list[str] = field(default_factory=list)  # account ids left unlinked (R2/R6)


def last_full_basis(district_id: str, store: Store) -> Basis | None:
    """The last successful full sync's totals and unlinked accounts (its report), or None when
    there is none or its report does not carry them (then the delta reads the whole district)."""
    from classlink_sync.report import SUCCEEDED
    from classlink_sync.store import runs

    run = runs.last_run(district_id, lambda r: r.status == SUCCEEDED and r.mode == "full", store, within=RUNS_SEARCHED)
    if run is None:
        return None
    try:
        doc = runs.load_report(run, store)
    except Exception as exc:  # a missing or unreadable report: read the whole district
        logger.warning("R18: the last full sync's report is unreadable", extra={"run": run.run_id, "error": str(exc)})
        return None
    return _basis(run.run_id, doc)


def _basis(run_id: str, doc: Any) -> Basis | None:
    held = doc.get("held_totals") if isinstance(doc, dict) else None
    if not isinstance(held, dict) or not all(isinstance(held.get(name), int) for name in _TOTALS):
        return None  # a report from before the totals were recorded
    unlinked = doc.get("recommended_for_removal") or []
    return Basis(run_id, {name: int(held[name]) for name in _TOTALS}, [str(i) for i in unlinked])


def gather_changes(
    view: DynamoRosterView, district: District, delta: RosterSnapshot, basis: Basis, *, today: str
) -> Holdings:
    """The held items around the delta's records (module docstring), as ``partial`` holdings.

    Two rounds: first the delta's users and classes, and its enrolments under the ids known by
    then (a held account's or class's id, else the deterministic one); an enrolment found held,
    live and with the very digest the delta's record gives (ClassLink re-stamped it without a
    change we keep) is ``settled``: it plans ``unchanged`` and its user and class are not read.
    Then the users and classes of the other enrolments, and those enrolments under their ids."""
    did = district.district_id
    holdings = Holdings(district_id=did, partial=True, totals=dict(basis.totals))
    holdings.schools = list(view.held_schools(did))
    enrollments = [e for e in delta.enrollments.values() if e.user_id and e.class_id]

    accounts = _accounts(view, district, _keys(delta.users))
    classes = _classes(view, did, _keys(delta.classes))
    known = (
        {c.sourced_id: c.class_id for c in classes},
        {a.sourced_id: a.account_id for a in accounts if a.sourced_id},
    )
    first = view.enrollments_by_key(did, {_pair(did, e, *known) for e in enrollments})
    found = {h.sourced_id: h for h in first}
    settled = {
        e.sourced_id
        for e in enrollments
        if e.user_id not in delta.users and e.class_id not in delta.classes and _settled(did, e, found, today)
    }
    rest = [e for e in enrollments if e.sourced_id not in settled]
    accounts.extend(_accounts(view, district, _keys(e.user_id for e in rest) - _sids(accounts)))
    classes.extend(_classes(view, did, _keys(e.class_id for e in rest) - {c.sourced_id for c in classes}))

    accounts = list({a.account_id: a for a in accounts}.values())  # one read twice (relinked, R11)
    classes = list({c.class_id: c for c in classes}.values())
    have = {a.account_id for a in accounts}
    accounts.extend(view.accounts_by_id(did, [i for i in basis.unlinked if i not in have]))
    have = {a.account_id for a in accounts}
    reservations = view.reservations(usernames_to_look_up(delta, {a.username_norm for a in accounts}))
    ours = [r.account_id for r in reservations.values() if r.district_id == did and r.account_id not in have]
    accounts.extend(view.accounts_by_id(did, ours))  # R5/R6: the district's account holding a username
    holdings.accounts = accounts
    own = {a.username_norm for a in accounts}
    holdings.reservations = {norm: r for norm, r in reservations.items() if norm not in own}
    holdings.classes = classes

    class_id = {c.sourced_id: c.class_id for c in classes}
    account_id = {a.sourced_id: a.account_id for a in accounts if a.sourced_id}
    pairs = {
        (class_id[e.class_id], account_id[e.user_id])
        for e in rest
        if e.class_id in class_id and e.user_id in account_id
    }
    pairs -= {(h.class_id, h.account_id) for h in first}
    holdings.enrollments = [h for h in first if h.sourced_id not in settled] + view.enrollments_by_key(did, pairs)
    holdings.settled = frozenset(settled)
    return holdings


def _pair(did: str, enr: EnrollmentRecord, class_ids: dict[str, str], account_ids: dict[str, str]) -> tuple[str, str]:
    """The key an enrolment is held under if its class and account have the ids known so far (a
    held one's, else the deterministic one)."""
    class_sid, user_sid = enr.class_id or "", enr.user_id or ""
    return (
        class_ids.get(class_sid) or new_id(did, "class", class_sid, set()),
        account_ids.get(user_sid) or new_id(did, "account", user_sid, set()),
    )


def _settled(did: str, enr: EnrollmentRecord, found: dict[str, HeldEnrollment], today: str) -> bool:
    """A live held enrolment whose digest is the one the delta's record gives: nothing to plan."""
    held = found.get(enr.sourced_id)
    return (
        held is not None
        and not held.archived
        and enr.status == ACTIVE
        and (enr.end_date is None or enr.end_date >= today)
        and held.digest == enrollment_digest(held.class_id, held.account_id, did, enr)
    )


def _classes(view: DynamoRosterView, did: str, sids: set[str]) -> list[HeldClass]:
    """The held classes under the deterministic ids of these sourcedIds; one that holds such an id
    for another sourcedId is kept too, so that the planner, which knows the id is taken, never
    gives it to a new class (``new_id`` salts a taken id)."""
    return view.classes_by_id(did, {new_id(did, "class", sid, set()) for sid in sids})


def _sids(accounts: list[HeldAccount]) -> set[str]:
    return {a.sourced_id for a in accounts if a.sourced_id}


def _accounts(view: DynamoRosterView, district: District, sids: set[str]) -> list[HeldAccount]:
    """The district's accounts linked to these sourcedIds: by deterministic id, then the rest
    through the sign-in index. An account found under one of those ids but linked to another
    sourcedId (relinked, R11) is kept too: the id is taken, and the planner must know it before it
    makes an account for a new user (``new_id`` salts a taken id)."""
    did = district.district_id
    ids = {sid: new_id(did, "account", sid, set()) for sid in sids}
    found = view.accounts_by_id(did, ids.values())
    missing = sids - {a.sourced_id for a in found if a.sourced_id and ids.get(a.sourced_id) == a.account_id}
    if missing:
        tenant = str(district.tenant_id)  # as the account items were written (settings.tenant_id)
        fits = {sid for sid in missing if len(f"{tenant}#{sid}".encode("utf-8", "surrogatepass")) <= MAX_KEY}
        elsewhere = view.account_ids_signed_in_as(did, tenant, fits)
        more = view.accounts_by_id(did, set(elsewhere.values()) - {a.account_id for a in found})
        found.extend(a for a in more if a.sourced_id in elsewhere)
    return found


def _keys(sids: Iterable[str | None]) -> set[str]:
    """The sourcedIds to look up (an empty one names nothing; the planner reports it, R4)."""
    return {sid for sid in sids if sid}
