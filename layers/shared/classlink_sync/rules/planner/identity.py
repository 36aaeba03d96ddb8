"""Identity resolution: which account each in-scope user gets (R5 usernames, R6 linking of unlinked
accounts, R11 relinking after a sourcedId change, R2 new accounts).

Decisions worth knowing (where SPEC leaves room):

- Teachers are resolved before students, so a contested username goes to the teacher; among users of
  one role, to the smaller sourcedId. Every competing claim is reported under R5.
- A rename onto a taken username keeps the old one (R5) and is reported stale; other fields update.
  A username freed by a rename counts as taken until that plan is applied, so a user who wanted it is
  reported under R5 and gets it in the next sync. Hence the reservation changes of one plan never
  compete for a username, and the store may apply them in any order.
- An account involved in a refused match (R6 ambiguity or role change, R11 ambiguity) is linked to
  nobody in that plan, whoever comes first.
- R5 confusables: a username that is new to its account (a new account, a link by email, a rename)
  and whose TR39 skeleton (``rules.confusables``) equals that of another account's username of the
  district, or of a username claimed earlier in this plan, is refused like a taken one: a newcomer
  is not created or linked, a renamed account keeps its old username (R9 stale). Usernames accounts
  already hold are never re-judged. Other districts' usernames are not compared: the planner sees
  only their reservations of the exact normal forms (R5's batch lookup).
- R4/R6: a malformed email (``rules.limits.email_problem``) is a warning; the account syncs without
  an email and the email is never used for linking.
"""

from __future__ import annotations

from collections.abc import Iterable

from classlink_sync.oneroster.records import UserRecord
from classlink_sync.rules.confusables import confusable_key, lookalike_characters
from classlink_sync.rules.holdings import HeldAccount
from classlink_sync.rules.limits import email_problem
from classlink_sync.rules.normalise import normalise
from classlink_sync.rules.planner import messages
from classlink_sync.rules.planner.accounts import remove_account
from classlink_sync.rules.planner.state import (
    SYNCED_ROLES,
    AccountBook,
    Candidates,
    Identity,
    PlanningState,
    new_id,
    user_school,
)


def resolve_users(st: PlanningState, users: Iterable[UserRecord]) -> None:
    """R5, R6, R11, R2 for each user in turn (the order decides contested usernames)."""
    for user in users:
        resolve_user(st, user)


def resolve_students(st: PlanningState, candidates: Candidates, in_scope: set[str]) -> None:
    """R3: a student is synced only with at least one synced class (``students_in_scope``).

    Identity resolution ends here: what only it needed is freed before the enrolment pass (memory).
    """
    students = candidates.students
    for sid in sorted(students):
        user = students[sid]
        if sid in in_scope:
            resolve_user(st, user)
        else:
            remove_account(st, st.accounts.by_sid.get(sid), "user", absent=False)
    book = st.accounts
    book.claimed_norms.clear()
    book.claimer_sid.clear()
    book.claimed_keys.clear()
    book.held_keys = None
    students.clear()
    book.taken_ids.clear()


def _norm(value: str | None) -> str | None:
    """``normalise``, returning the value itself when it is already normal (saves a string)."""
    norm = normalise(value)
    return value if norm == value else norm


def resolve_user(st: PlanningState, user: UserRecord) -> None:
    """R5, R6, R11, R2: find or create the account of one in-scope user, then record its identity."""
    book = st.accounts
    sid = user.sourced_id
    username = user.username
    held = book.by_sid.get(sid)
    # The held account's normal forms are reused when the values did not change (a resync).
    norm = held.username_norm if held is not None and held.username == username else _norm(username)
    if username is None or norm is None:  # accounts._classify: a candidate has a usable username (R4)
        raise RuntimeError(f"planner: user {sid} has no usable username")
    email, email_norm = _email(st, user, held)
    action = "existing"
    if held is None:
        candidate, action = match_account(st, user, norm, email_norm)
        if action == "none":
            return  # reported
        held = candidate
    if held is not None:
        book.handled.add(held.account_id)
        account_id = held.account_id
    else:
        adopted = book.unwritten_reservations.pop(norm, None)
        account_id = adopted if adopted is not None else new_id(st.district, "account", sid, book.taken_ids)
        action = "create"

    # R5: the username must be free platform-wide (or already this account's), and must not look
    # like another account's of the district.
    stale_issue = None
    message, key = _username_conflict(st, user, norm, held, account_id)
    if message is not None:
        # A newcomer is refused; an account already linked keeps its username (R9 stale). A taken
        # username on a link keeps the account's old one; a confusable one refuses the link.
        confusable = key is not None
        if held is None or not held.username_norm or (confusable and action != "existing"):
            if held is not None and action == "link":
                book.handled.discard(held.account_id)  # not linked: stays as it was
            st.report.issue("R5", "user", sid, message, field="username", school=user_school(st, user.org_ids))
            st.report.count("user", "skipped")
            return
        # The account keeps its old username; the conflict is reported (R5, R9 stale).
        school = user_school(st, user.org_ids)
        stale_issue = st.report.issue("R5", "user", sid, message, field="username", stale=True, school=school)
        username, norm, key = held.username, held.username_norm, None
    elif key is not None:
        book.claimed_keys.setdefault(key, (norm, username))
    book.claimed_norms[norm] = account_id
    book.claimer_sid.setdefault(norm, sid)
    book.identity[sid] = Identity(
        account_id=account_id,
        action=action,
        held=held,
        username=username,
        username_norm=norm,
        email_norm=email_norm,
        email=email,
        stale_issue=stale_issue,
    )


def _email(st: PlanningState, user: UserRecord, held: HeldAccount | None) -> tuple[str | None, str | None]:
    """The email synced and its normal form; a malformed one is reported (R4, a warning) and
    dropped, so it is neither stored nor used for linking (R6)."""
    email = user.email
    if held is not None and held.email == email:
        return email, held.email_norm  # unchanged since it was synced (a resync)
    if email is not None:
        what = email_problem(email)
        if what is not None:
            message = messages.email_malformed(email, what)
            school = user_school(st, user.org_ids)
            st.report.issue("R4", "user", user.sourced_id, message, field="email", level="warning", school=school)
            return None, None
    return email, _norm(email)


def _username_conflict(
    st: PlanningState, user: UserRecord, norm: str, held: HeldAccount | None, account_id: str
) -> tuple[str | None, str | None]:
    """R5: why the account cannot take the username ``norm`` (taken, or confusable with another
    account's), or None; and the username's confusable key when it is new to the account (with a
    message: the username is confusable)."""
    owner = _username_owner(st, norm)
    if owner is not None and owner != account_id:
        return _conflict_message(st.accounts, user, norm, held), None
    if owner is not None or (held is not None and held.username_norm == norm):
        return None, None  # the account's own username: never re-judged
    key = confusable_key(norm)
    other = _confusable_with(st, key, norm, account_id)
    if other is None:
        return None, key
    kept = held.username if held is not None and held.sourced_id == user.sourced_id else None
    lookalikes = lookalike_characters(user.username or "")
    return messages.username_confusable(user.username, other, lookalikes, kept), key


def _confusable_with(st: PlanningState, key: str, norm: str, account_id: str) -> str | None:
    """R5: the username of another account of the district (or claimed in this plan) that looks the
    same as ``norm`` (equal TR39 skeletons, different normal forms), or None."""
    book = st.accounts
    claimed = book.claimed_keys.get(key)
    if claimed is not None and claimed[0] != norm:
        return claimed[1]
    held_keys = book.held_keys
    if held_keys is None:  # built once, the first time a plan has a new username
        held_keys = book.held_keys = {}
        for acct in st.holdings.accounts:
            if acct.username_norm:
                entry = (acct.account_id, acct.username_norm, acct.username)
                held_keys.setdefault(confusable_key(acct.username_norm), []).append(entry)
    for other_id, other_norm, other_username in held_keys.get(key, ()):
        if other_id != account_id and other_norm != norm:
            return other_username
    return None


def match_account(
    st: PlanningState, user: UserRecord, norm: str, email_norm: str | None
) -> tuple[HeldAccount | None, str]:
    """R11 relink (same district, sourcedId gone), else R6 link of an unlinked account.

    An account involved in a refused match (ambiguous, or a teacher/student role change) is
    linked to nobody in this plan, so the outcome does not depend on which user came first and a
    second plan after applying this one decides the same (idempotence).
    """
    book = st.accounts
    sid = user.sourced_id
    free = book.handled
    # R11: a linked account whose sourcedId disappeared, with the same username, else email.
    orphan = book.orphan_by_norm.get(norm)
    candidates = [orphan] if orphan is not None and orphan.account_id not in free else []
    rule, action, by = "R11", "relink", "username"
    if not candidates and email_norm is not None:
        candidates = [a for a in book.orphan_by_email.get(email_norm, ()) if a.account_id not in free]
        by = "email"
    if not candidates:
        # R6: an unlinked account of this district, by username, else by email.
        rule, action, by = "R6", "link", "username"
        candidates = [a for a in book.unlinked_by_norm.get(norm, ()) if a.account_id not in free]
        if not candidates and email_norm is not None:
            by = "email"
            candidates = [a for a in book.unlinked_by_email.get(email_norm, ()) if a.account_id not in free]
    if not candidates:
        return None, "create"
    value = user.username if by == "username" else user.email
    contested = [a for a in candidates if a.account_id in book.blocked]
    if contested:
        other = book.blocked[contested[0].account_id]
        message = messages.match_contested(contested[0].username, by, value, other)
        st.report.issue(rule, "user", sid, message, field=by, school=user_school(st, user.org_ids))
        st.report.count("user", "skipped")
        return None, "none"
    if len(candidates) > 1:
        _block(book, candidates, sid)
        message = messages.match_ambiguous(len(candidates), rule, by, value)
        st.report.issue(rule, "user", sid, message, field=by, school=user_school(st, user.org_ids))
        st.report.count("user", "skipped")
        return None, "none"
    if {candidates[0].role, user.role} == SYNCED_ROLES:  # a teacher/student role change
        _block(book, candidates, sid)
        held = candidates[0]
        message = messages.match_role_flip(held.username, held.role, user.role)
        st.report.issue(rule, "user", sid, message, field="role", school=user_school(st, user.org_ids))
        st.report.count("user", "skipped")
        return None, "none"
    return candidates[0], action


def _block(book: AccountBook, accounts: list[HeldAccount], user_sid: str) -> None:
    for account in accounts:
        book.blocked.setdefault(account.account_id, user_sid)


def _username_owner(st: PlanningState, norm: str) -> str | None:
    """The account id that holds (or has claimed in this plan) a normalised username (R5)."""
    owner = st.accounts.claimed_norms.get(norm)
    if owner is not None:
        return owner
    held = st.accounts.by_norm.get(norm)
    if held is not None:
        return held.account_id
    reservation = st.holdings.reservations.get(norm)
    return reservation.account_id if reservation is not None else None


def _conflict_message(book: AccountBook, user: UserRecord, norm: str, held: HeldAccount | None) -> str:
    """R5: the username is taken; names who holds it, and the username an account keeps."""
    other_sid = book.claimer_sid.get(norm)
    where = messages.username_holder(
        other_sid if other_sid != user.sourced_id else None, in_district=norm in book.by_norm
    )
    kept = held.username if held is not None and held.username_norm and held.username_norm != norm else None
    return messages.username_conflict(user.username, where, kept)
