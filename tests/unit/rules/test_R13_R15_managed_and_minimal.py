"""R13 (managed by ClassLink, read-only) and R15 (only the fields the platform needs)."""

from dataclasses import fields

import pytest

from classlink_sync.rules.plan import AccountState, ClassState, EnrollmentState, SchoolState
from classlink_sync.rules.readonly import ManagedByClassLink, check_can_create_class, check_writable
from tests.unit.rules.fakes import FakeStore, class_with_teacher, run, snapshot


def _synced():
    members, c, enr = class_with_teacher(1)
    return run(FakeStore(), snapshot(users=members, classes=[c], enrollments=enr))


def test_R13_every_synced_state_is_managed():
    p = _synced()
    states = [*p.accounts["create"], *p.classes["create"], *p.enrollments["create"]]
    assert len(states) == 7 and all(s.managed for s in states)


def test_R13_writers_are_refused_on_managed_items():
    account = _synced().accounts["create"][0]
    with pytest.raises(ManagedByClassLink, match="R13: managed by ClassLink"):
        check_writable(account, what="this account")
    with pytest.raises(ManagedByClassLink, match="R13: managed by ClassLink"):
        check_can_create_class(True)
    check_can_create_class(False)
    account.managed = False
    check_writable(account)  # an account that is not ClassLink's may be edited


ALLOWED = {
    # ids and links
    "account_id",
    "district_id",
    "tenant_id",
    "sourced_id",
    "class_id",
    "class_sourced_id",
    "user_sourced_id",
    "school_id",
    "school_ids",
    "course_id",
    "term_ids",
    # what the platform needs (R15)
    "username",
    "username_norm",
    "email",
    "email_norm",
    "given_name",
    "family_name",
    "role",
    "grades",
    "title",
    "class_code",
    "subject",
    "name",
    "identifier",
    "primary",
    "begin_date",
    "end_date",
    # flags and bookkeeping
    "active",
    "enabled",
    "archived",
    "managed",
    "digest",
}


@pytest.mark.parametrize("state", [AccountState, ClassState, EnrollmentState, SchoolState])
def test_R15_states_hold_only_what_the_platform_needs(state):
    names = {f.name for f in fields(state)}
    assert names <= ALLOWED
    assert not names & {"password", "phone", "sms", "metadata", "demographics", "birth_date"}
