"""R4/R6: a malformed email (not a plausible ``local@domain.tld``; whitespace, control characters,
several @...) is reported as an R4 warning; the account still syncs, without an email, and the email is
never used for linking (R6)."""

from __future__ import annotations

import pytest

from classlink_sync.rules.limits import email_problem
from tests.unit.rules.fakes import FakeStore, replaced, run, snapshot, user

MALFORMED = [
    "pat smith@school.org", "pat@@school.org", "pat@school@org", "pat\x00@school.org", "pat", "pat@school",
    "pat@school.o", "pat@.school.org", ".pat@school.org", "pat@school.org\u200b", "pat@-school.org",
]  # fmt: skip
PLAUSIBLE = [
    "pat@school.org", "Pat.Smith+math@ExampleISD.k12.tx.us", "o'brien@school.org", "\u00e9l\u00e8ve@\u00e9cole.fr",
    "x@sub.domain-name.school",
]  # fmt: skip


@pytest.mark.parametrize("email", MALFORMED)
def test_R6_malformed_email_is_reported_and_not_used_for_linking(email):
    store = FakeStore()
    # An imported account with that very email (imports are not validated): linking by it would work.
    store.add_account("acc-1", "someone-else", email=email, role="teacher")
    p = run(store, snapshot(users=[user("t1", "teacher", username="msmith", email=email)]))
    assert not p.accounts["link"]  # never used for linking (R6)
    [created] = p.accounts["create"]  # the account still syncs (R4 warning only)
    assert (created.sourced_id, created.email, created.email_norm) == ("t1", None, None)
    [issue] = p.issues
    assert (issue.rule, issue.field, issue.level, issue.sourced_id) == ("R4", "email", "warning", "t1")
    assert not issue.stale and "without an email" in issue.message
    again = run(store, snapshot(users=[user("t1", "teacher", username="msmith", email=email)]))
    assert again.is_empty() and [i.level for i in again.issues] == ["warning"]  # reported every sync


@pytest.mark.parametrize("email", PLAUSIBLE)
def test_R6_plausible_emails_are_kept(email):
    assert email_problem(email) is None
    p = run(FakeStore(), snapshot(users=[user("t1", "teacher", email=email)]))
    assert not p.issues and p.accounts["create"][0].email == email


def test_R6_email_becoming_malformed_is_dropped_not_the_account():
    store = FakeStore()
    teacher = user("t1", "teacher", email="pat@school.org")
    run(store, snapshot(users=[teacher]))
    p = run(store, snapshot(users=[replaced(teacher, email="pat@school")]))
    [updated] = p.accounts["update"]
    assert updated.email is None and updated.active
    assert [(i.rule, i.level) for i in p.issues] == [("R4", "warning")]


def test_R6_email_longer_than_the_limit_is_malformed():
    assert email_problem("p" * 60 + "@" + "s" * 200 + ".org")
    assert email_problem("p" * 65 + "@school.org")  # a local part is at most 64 characters
