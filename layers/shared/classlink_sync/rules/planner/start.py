"""The planning state at the start: the inputs indexed for lookup (what is held by sourcedId and
by id), before the first stage runs. ``plan`` in ``__init__`` calls ``new_state`` once."""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

from classlink_sync.oneroster.records import RosterSnapshot
from classlink_sync.rules.district import DistrictSettings
from classlink_sync.rules.holdings import HeldEnrollment, Holdings
from classlink_sync.rules.plan import Plan
from classlink_sync.rules.planner.state import AccountBook, ClassBook, EnrollmentBook, PlanningState, Report
from classlink_sync.rules.planner.vocabulary import ENTITY_OF_COLLECTION
from classlink_sync.rules.subjects import SubjectCatalogue


def new_state(
    snapshot: RosterSnapshot,
    holdings: Holdings,
    settings: DistrictSettings,
    *,
    today: str,
    catalogue: SubjectCatalogue,
) -> PlanningState:
    district = settings.district_id
    complete = snapshot.complete
    rejected = _ids_by_entity((r.collection, r.sourced_id) for r in snapshot.rejected if r.sourced_id is not None)
    unconfirmed = _ids_by_entity((c, sid) for c, ids in snapshot.unconfirmed_absent.items() for sid in ids)
    not_gone = rejected.get("user", set()) | unconfirmed.get("user", set())
    return PlanningState(
        snapshot=snapshot,
        holdings=holdings,
        settings=settings,
        today=today,
        catalogue=catalogue,
        district=district,
        tenant=settings.tenant_id,
        complete=complete,
        bad={},
        rejected=rejected,
        unconfirmed=unconfirmed,
        plan=Plan(
            district_id=district,
            tenant_id=settings.tenant_id,
            today=today,
            fetch_complete=complete,
            incomplete_reasons=sorted(snapshot.incomplete_reasons),
        ),
        report=Report(),
        accounts=_index_accounts(holdings, snapshot, district, not_gone),
        classes=_index_classes(holdings),
        enrollments=_index_enrollments(holdings),
    )


def _ids_by_entity(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for collection, sid in pairs:
        found.setdefault(ENTITY_OF_COLLECTION.get(collection, collection), set()).add(sid)
    return found


def _index_accounts(holdings: Holdings, snapshot: RosterSnapshot, district: str, not_gone: set[str]) -> AccountBook:
    """``not_gone``: users listed but rejected, or absent unconfirmed: never R11 orphans."""
    book = AccountBook()
    complete = snapshot.complete
    for acct in sorted(holdings.accounts, key=attrgetter("account_id")):
        book.taken_ids.add(acct.account_id)
        if acct.username_norm:
            book.by_norm[acct.username_norm] = acct
        if acct.sourced_id is None:
            if acct.username_norm:
                book.unlinked_by_norm.setdefault(acct.username_norm, []).append(acct)
            if acct.email_norm:
                book.unlinked_by_email.setdefault(acct.email_norm, []).append(acct)
            continue
        book.by_sid[acct.sourced_id] = acct
        # R11: a linked account whose sourcedId a complete fetch no longer has may be relinked.
        if complete and acct.sourced_id not in snapshot.users and acct.sourced_id not in not_gone:
            if acct.username_norm:
                book.orphan_by_norm[acct.username_norm] = acct
            if acct.email_norm:
                book.orphan_by_email.setdefault(acct.email_norm, []).append(acct)
    # R5: a reservation of this district whose account was never written is what an apply
    # stopped between its reservation and account chunks leaves behind; the user who claims
    # that username adopts its account id, so the next run completes the create (the id is
    # the same deterministic one) instead of reporting a conflict with itself.
    held_ids = set(book.taken_ids)
    for reservation in holdings.reservations.values():
        book.taken_ids.add(reservation.account_id)
        if reservation.district_id == district and reservation.account_id not in held_ids:
            book.unwritten_reservations[reservation.username_norm] = reservation.account_id
    return book


def _index_classes(holdings: Holdings) -> ClassBook:
    book = ClassBook({}, set())
    for held_class in sorted(holdings.classes, key=attrgetter("class_id")):
        book.held[held_class.sourced_id] = held_class
        book.taken_ids.add(held_class.class_id)
    return book


def _index_enrollments(holdings: Holdings) -> EnrollmentBook:
    held_enr_index: dict[str, dict[str, HeldEnrollment]] = {}
    held_active = 0
    for held_enr in holdings.enrollments:
        per_class = held_enr_index.get(held_enr.class_id)
        if per_class is None:
            per_class = held_enr_index[held_enr.class_id] = {}
        per_class[held_enr.account_id] = held_enr
        if not held_enr.archived:
            held_active += 1
    return EnrollmentBook(held_enr_index, held_active)
