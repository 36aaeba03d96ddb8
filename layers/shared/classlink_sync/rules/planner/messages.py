"""The administrator-facing texts of the planner's issues and guard reasons (DESIGN.md "Conventions":
every message names the record and says how to fix it in ClassLink).

Text builders only: the stages decide which rule applies and pass plain values in. This module
imports nothing from the rest of the package.
"""

from __future__ import annotations

from collections.abc import Sequence

from classlink_sync.oneroster.records import UserRecord
from classlink_sync.rules.district import GuardThresholds

PREFIX_ADVICE = (
    "Usernames must be unique across the whole This is School platform: use school email addresses "
    "as usernames, or add a district prefix (for example ExampleISD-12345 rather than 12345)."
)
_STALE_NOTE = " This is School keeps the last good version of this {entity} until this is fixed."


def stale_note(entity: str) -> str:
    """R9: appended to the issue of a held item that keeps its last good state."""
    return _STALE_NOTE.format(entity=entity)


# ---- showing values that came from ClassLink (they may be huge, or carry invisible characters)

_SHOWN_CHARS = 60


def safe_text(value: str) -> str:
    """``value`` with every character a person cannot see (controls, format characters, lone
    surrogates...) written as ``\\u202e``, so a message is valid UTF-8 and shows what is there."""
    if value.isascii() and value.isprintable():
        return value
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in value)


def shown(value: str | None) -> str:
    """A value from ClassLink as a message quotes it: visible, and cut to 60 characters."""
    if value is None:
        return ""
    if len(value) > _SHOWN_CHARS:
        return safe_text(value[:_SHOWN_CHARS]) + f"\u2026 ({len(value):,} characters)"
    return safe_text(value)


def shown_id(sourced_id: str) -> str:
    """A sourcedId as an issue names it: visible, and cut if it is beyond the limit (R4)."""
    if len(sourced_id) > 256:
        return safe_text(sourced_id[:64]) + f"\u2026 ({len(sourced_id):,} characters)"
    return safe_text(sourced_id)


def absence_unconfirmed(entity: str) -> str:
    """R9: a held item absent from the list whose absence ClassLink did not confirm."""
    return (
        f"This {entity} is absent from ClassLink's list, but ClassLink did not confirm the absence "
        f"when asked for it by id; This is School keeps the {entity} as it is and will check again "
        "at the next sync (R9). If it should be removed, nothing needs doing: the next syncs remove "
        "it once ClassLink confirms."
    )


def rejected_record(message: str, *, stale: bool) -> str:
    """R4: a record the client could not read at all (its message names the field)."""
    what = "used" if stale else "synced"
    return (
        f"ClassLink sent this record in a form that cannot be read ({safe_text(message)}), so it was not {what} (R4)."
    )


def invalid(field: str, what: str) -> str:
    """R4: how a record's value breaks the platform's limits, e.g. "has a username that is longer
    than 256 characters" (``what``: from ``rules.limits``)."""
    return f"has a {field} that {what}"


# ---- schools (R4)


def school_invalid(field: str, what: str) -> str:
    return f"This school {what} in ClassLink, so it was not synced (R4). Correct the school's {field} in ClassLink."


def school_without_name(*, stale: bool) -> str:
    if stale:
        return "This school has no name in ClassLink. Fill in the school's name."
    return "This school has no name in ClassLink, so it and its classes were not synced. Fill in the school's name."


# ---- users (R4, R5, R6, R11)


def user_unusable(user: UserRecord, field: str, what: str, *, missing: bool = True) -> str:
    name = user.username if user.username and field != "username" else user.sourced_id
    advice = "Fill in" if missing else "Correct"
    return (
        f"User {shown(name)} {what} in ClassLink, so this user was not "
        f"synced. {advice} the standard OneRoster field '{field}' in ClassLink (not metadata)."
    )


def email_malformed(email: str, what: str) -> str:
    """R4 (warning) and R6: the account syncs without the email, which is never used for linking."""
    return (
        f"The email '{shown(email)}' {what} (R4), so This is School synced this user without an email "
        "and does not use it to match existing accounts (R6). Correct the user's email in ClassLink."
    )


def username_confusable(username: str | None, other: str, lookalikes: Sequence[str], kept: str | None) -> str:
    """R5: the username looks the same as another account's (Unicode TR39 confusables)."""
    what = f" (it contains {', '.join(lookalikes)})" if lookalikes else ""
    head = (
        f"The username '{shown(username)}'{what} looks the same as the username '{shown(other)}' of "
        "another account in your district: they differ only in characters that look alike (R5)"
    )
    if kept is not None:
        return f"{head}; the account keeps its username '{shown(kept)}'. Choose a distinct username in ClassLink."
    return f"{head}, so this user was not synced. Choose a distinct username in ClassLink. {PREFIX_ADVICE}"


def username_holder(other_sid: str | None, *, in_district: bool) -> str:
    """R5: who holds a username (``other_sid``: a ClassLink user that claimed it in this sync)."""
    if other_sid is not None:
        return f"by ClassLink user {other_sid} of your district in this same sync"
    if in_district:
        return (
            "by another This is School account of your district that cannot be linked to this "
            "user (it belongs to another ClassLink user, or its role differs)"
        )
    return "by an account of another district on This is School"


def username_conflict(username: str | None, where: str, kept_username: str | None) -> str:
    """R5: the username is taken; ``kept_username`` is the old one an account keeps after a rename."""
    if kept_username is not None:
        return (
            f"The username changed to '{username}' in ClassLink, but '{username}' is already used "
            f"{where}; the account keeps its username '{kept_username}'. {PREFIX_ADVICE}"
        )
    return f"The username '{username}' is already used {where}, so this user was not synced. " + (PREFIX_ADVICE)


def match_contested(account_username: str, by: str, value: str | None, other_sid: str) -> str:
    """R6/R11: another ClassLink user already matched the same account in this sync."""
    return (
        f"This user matches the existing This is School account "
        f"'{account_username}' by {by} ('{value}'), but so does ClassLink user {other_sid}, "
        "so it was not linked and this user was not synced. Make usernames and emails "
        "unique in ClassLink, or contact This is School."
    )


def match_ambiguous(n: int, rule: str, by: str, value: str | None) -> str:
    """R6/R11: several accounts match one user."""
    what = (
        "accounts whose ClassLink sourcedIds disappeared"
        if rule == "R11"
        else ("existing This is School accounts in your district")
    )
    return (
        f"{n} {what} match this user by {by} ('{value}'), so "
        f"none was linked and the user was not synced. Make the {by} unique, or ask This is "
        "School to remove the duplicate accounts."
    )


def match_role_flip(account_username: str, account_role: str, user_role: str | None) -> str:
    """R6/R11: the matching account is a teacher and the user a student, or the reverse."""
    return (
        f"This user matches the existing This is School account "
        f"'{account_username}', which is a {account_role}, but ClassLink says {user_role}; it was not "
        f"linked and the user was not synced. Check the user's role in ClassLink, or contact "
        "This is School."
    )


# ---- classes (R4, R7, R8, R11)


def class_label(title: str | None, sourced_id: str) -> str:
    return f"Class '{shown(title or sourced_id)}'"


def class_invalid(label: str, field: str, what: str) -> str:
    return f"{label} {what} in ClassLink, so it was not synced (R4). Correct the class's {field} in ClassLink."


def record_invalid(entity: str, field: str, what: str) -> str:
    """R4: an enrolment, course or term that breaks the platform's limits."""
    return f"This {entity} {what} in ClassLink, so it was not synced (R4). Correct its {field} in ClassLink."


def class_without_school(label: str) -> str:
    return f"{label} has no school. Set the class's school in ClassLink."


def class_school_not_shared(label: str, school: str) -> str:
    return (
        f"{label} belongs to school {shown(school)}, which ClassLink did not "
        "share (or which was skipped). Share the school with This is School."
    )


def class_without_title(label: str) -> str:
    return f"{label} has no title. Fill in the class title in ClassLink."


def class_subjects_ambiguous(label: str, candidates: Sequence[str], source: str) -> str:
    """R7: the class (or course) title names more than one subject."""
    return (
        f"{label} names more than one This is School subject "
        f"({', '.join(candidates)}) in its {source}. Rename it in "
        "ClassLink so that it names one subject, or ask This is School to map this "
        "class to its subject."
    )


def class_without_subject(label: str, subject_names: Sequence[str], course_title: str | None) -> str:
    """R7: neither the class title nor its course's names a subject."""
    names = ", ".join(subject_names[:5])
    return (
        f"{label} does not name a This is School subject ({names}, ...)"
        + (f", and neither does its course '{course_title}'" if course_title else "")
        + ", so it was not synced. If the class should use This is School, add the "
        "subject to the class or course name in ClassLink."
    )


def class_without_teacher(label: str, problems: str) -> str:
    """R8: ``problems`` is ``teacher_problems`` of the class's teacher enrolments."""
    return (
        f"{label} has no active teacher enrolment whose teacher is "
        "synced to This is School and enrolled in the class's school"
        f"{problems}. Enrol its teacher (role teacher) "
        "in ClassLink."
    )


def teacher_problems(found: Sequence[str]) -> str:
    """R8: the first three reasons why teacher enrolments of a class do not count, in parentheses."""
    if not found:
        return " (it has no teacher enrolment)"
    more = f"; and {len(found) - 3} more" if len(found) > 3 else ""
    return " (" + "; ".join(found[:3]) + more + ")"


def class_relink_ambiguous(title: str | None) -> str:
    """R11: several vanished classes share the new class's school, title and terms."""
    return (
        f"Class '{title}' has a new sourcedId and "
        "several vanished classes have the same school, title and terms, so it could "
        "not be matched to its history and was created as a new class. Give classes "
        "distinct titles or class codes in ClassLink before replacing sourcedIds."
    )


# ---- enrolments (R4, R8)


def enrollment_missing(field: str) -> str:
    return f"This enrolment has no {field}, so it was not synced. Fill in the enrolment's {field} in ClassLink."


def enrollment_class_not_shared(class_sid: str) -> str:
    return (
        f"This enrolment refers to class {shown(class_sid)}, "
        "which ClassLink did not share. Share the class, or remove the enrolment."
    )


def enrollment_user_not_shared(class_sid: str, user_sid: str | None) -> str:
    return (
        f"This enrolment in class {shown(class_sid)} refers to user "
        f"{shown(user_sid)}, which ClassLink did not share. Share the user, or remove the "
        "enrolment."
    )


ENROLLMENT_WITHOUT_ROLE = "This enrolment has no role. Fill in the enrolment's role (teacher or student) in ClassLink."


def enrollment_role_mismatch(name: str, user_role: str | None, class_sid: str, role: str) -> str:
    return (
        f"User {name} is a {user_role} but is enrolled in class "
        f"{class_sid} as a {role}, so this enrolment was not synced. Correct the "
        "enrolment's role or the user's role in ClassLink."
    )


def enrollment_duplicate(first_sid: str, class_sid: str) -> str:
    return (
        f"This enrolment duplicates enrolment {first_sid} "
        f"(same user and class {class_sid}); only that one is synced. Remove the "
        "duplicate in ClassLink."
    )


def teacher_outside_school(name: str, class_sid: str, school: str) -> str:
    return (
        f"Teacher {name} teaches class {class_sid} in school "
        f"{school} but is not enrolled in that school, so this teacher is not "
        "linked to the class. Add the school to the teacher's orgs in ClassLink."
    )


# ---- the mass-change guard (R10)


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "all"


def guard_removals(name: str, removed: int, base: int, t: GuardThresholds) -> str:
    return (
        f"{name}: {removed} of {base} active would be removed "
        f"({_pct(removed, base)}; limit more than {t.remove_fraction:.0%} and at least "
        f"{t.remove_minimum})"
    )


def guard_updates(name: str, updated: int, base: int, t: GuardThresholds) -> str:
    return (
        f"{name}: {updated} of {base} active would be updated or relinked "
        f"({_pct(updated, base)}; limit more than {t.update_fraction:.0%} and at least "
        f"{t.update_minimum})"
    )


def guard_after_pause(removed: int, why: str) -> str:
    """R16: the first sync after a pause or blackout of more than 14 days removes something."""
    return (
        f"first sync after {why}: {removed} record(s) would be removed; "
        "after a long pause every removal is reviewed first (R16)"
    )
