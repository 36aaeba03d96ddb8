"""R4: every record is checked against the platform's limits (rules/limits.py) before it reaches the
plan: lengths after NFKC, ids (they are parts of DynamoDB keys), the item size, allowed characters. A
record that fails is an R4 issue naming its sourcedId and field, never a failed sync; one we hold keeps
its last good state (R9 stale)."""

from __future__ import annotations

import pytest

from classlink_sync.rules import limits
from classlink_sync.rules.normalise import normalise
from tests.unit.rules.fakes import (
    FakeStore,
    class_with_teacher,
    enrol,
    klass,
    replaced,
    run,
    snapshot,
    user,
)

TEN_KB = "x" * 10_240


def _issues(p, sid):
    return [i for i in p.issues if i.sourced_id == sid or (i.sourced_id or "").startswith(sid[:40])]


def _one_district():
    members, c, enr = class_with_teacher(1)
    return members, c, enr


def test_R4_oversized_username_is_an_issue_not_a_failed_sync():
    members, c, enr = _one_district()
    huge = user("s-huge", username="u" * 10_240)
    p = run(FakeStore(), snapshot(users=[*members, huge], classes=[c], enrollments=enr))
    [issue] = _issues(p, "s-huge")
    assert (issue.rule, issue.field) == ("R4", "username")
    assert "longer than 256" in issue.message and len(issue.message) < 1000
    assert "s-huge" not in {a.sourced_id for a in p.accounts["create"]}
    assert len(p.accounts["create"]) == len(members)  # everyone else synced
    assert p.counts["user"]["skipped"] == 1


def test_R4_oversized_sourced_id_is_an_issue_not_a_failed_sync():
    members, c, enr = _one_district()
    big_user = user(TEN_KB, "teacher")
    big_class = klass("y" * 10_240, "French 1")
    big_enrol = enrol("z" * 10_240, "s1-0", "c1")
    p = run(FakeStore(), snapshot(users=[*members, big_user], classes=[c, big_class], enrollments=[*enr, big_enrol]))
    by_entity = {(i.entity, i.field) for i in p.issues if i.rule == "R4"}
    assert {("user", "sourcedId"), ("class", "sourcedId"), ("enrollment", "sourcedId")} <= by_entity
    for issue in p.issues:  # the issue names the record, shortened to something a report can hold
        assert issue.sourced_id is None or len(issue.sourced_id) <= limits.MAX_ID_BYTES
    assert {a.sourced_id for a in p.accounts["create"]} == {m.sourced_id for m in members}
    assert [k.sourced_id for k in p.classes["create"]] == ["c1"]
    assert len(p.enrollments["create"]) == len(enr)


def test_R4_username_over_limit_after_nfkc():
    """120 x U+FDFA is 120 characters, but 2,160 after NFKC (over 4 KB of UTF-8): refused."""
    ligatures = "\ufdfa" * 120
    assert len(ligatures) <= limits.MAX_USERNAME_CHARS < len(normalise(ligatures) or "")
    members, c, enr = _one_district()
    p = run(FakeStore(), snapshot(users=[*members, user("s-lig", username=ligatures)], classes=[c], enrollments=enr))
    [issue] = _issues(p, "s-lig")
    assert (issue.rule, issue.field) == ("R4", "username") and "NFKC" in issue.message
    assert "s-lig" not in {a.sourced_id for a in p.accounts["create"]}


def test_R4_family_name_of_450_kb_is_stale_for_a_held_user_and_skipped_for_a_new_one():
    store = FakeStore()
    members, c, enr = _one_district()
    run(store, snapshot(users=members, classes=[c], enrollments=enr))
    huge = "L" * 450 * 1024
    members[1] = replaced(members[1], family_name=huge)  # a student we hold
    newcomer = user("s-new", family=huge)
    p = run(store, snapshot(users=[*members, newcomer], classes=[c], enrollments=enr))
    assert p.is_empty()  # nothing updated, nothing removed, nothing created
    held_issue = _issues(p, members[1].sourced_id)[0]
    assert held_issue.stale and (held_issue.rule, held_issue.field) == ("R4", "familyName")
    new_issue = _issues(p, "s-new")[0]
    assert not new_issue.stale and new_issue.field == "familyName"
    assert p.counts["user"]["stale"] == 1 and p.counts["user"]["skipped"] == 1
    assert store.account_by_sourced_id(members[1].sourced_id).family_name == "Lovelace"  # last good state


def test_R4_record_too_large_for_a_dynamodb_item_is_an_issue():
    members, c, enr = _one_district()
    grades = tuple(f"{i:03d}" + "g" * 250 for i in range(1000))
    fat = user("s-fat", grades=grades, orgs=("sch1", *(f"org-{i}-" + "o" * 200 for i in range(400))))
    p = run(FakeStore(), snapshot(users=[*members, fat], classes=[c], enrollments=enr))
    [issue] = _issues(p, "s-fat")
    assert issue.rule == "R4" and "too large" in issue.message


def test_R4_list_longer_than_the_limit_is_an_issue():
    members, c, enr = _one_district()
    many_terms = replaced(c, term_ids=tuple(f"t{i}" for i in range(limits.MAX_LIST_ITEMS + 1)))
    p = run(FakeStore(), snapshot(users=members, classes=[many_terms], enrollments=enr))
    [issue] = [i for i in p.issues if i.entity == "class"]
    assert (issue.rule, issue.field) == ("R4", "terms")


@pytest.mark.parametrize(
    "char",
    ["\x00", "\u202e", "\u200b", "\u3164", "\u115f", "\u1160", "\uffa0", "\u2060", "\ufeff", "\u200d", "\u00a0"],
    ids=["NUL", "RLO-U+202E", "ZWSP-U+200B", "HANGUL-FILLER-U+3164", "U+115F", "U+1160", "U+FFA0", "WJ-U+2060",
         "BOM", "ZWJ", "NBSP"],
)  # fmt: skip
def test_R4_username_with_invisible_characters_is_refused(char):
    members, c, enr = _one_district()
    sneaky = user("s-x", username=f"ad{char}min")
    p = run(FakeStore(), snapshot(users=[*members, sneaky], classes=[c], enrollments=enr))
    [issue] = _issues(p, "s-x")
    assert (issue.rule, issue.field) == ("R4", "username")
    assert f"U+{ord(char):04X}" in issue.message  # names the character nobody can see
    assert issue.message.encode("utf-8")  # and is valid UTF-8 itself
    assert "s-x" not in {a.sourced_id for a in p.accounts["create"]}


def test_R4_held_user_whose_username_gains_an_invisible_character_keeps_the_old_one():
    store = FakeStore()
    members, c, enr = _one_district()
    run(store, snapshot(users=members, classes=[c], enrollments=enr))
    members[0] = replaced(members[0], username="ExampleISD-t1\u200b")
    p = run(store, snapshot(users=members, classes=[c], enrollments=enr))
    assert p.is_empty()
    [issue] = _issues(p, "t1")
    assert issue.stale and issue.field == "username"
    assert store.account_by_sourced_id("t1").username == "ExampleISD-t1"


@pytest.mark.parametrize(
    ("given", "family", "username"),
    [
        ("José", "Núñez", "jose.nunez"),
        ("Zoë", "Ødegård", "zoë.ødegård"),
        ("\u0641\u0627\u0637\u0645\u0647", "\u0645\u06cc\u200c\u0631\u0632\u0627\u06cc\u06cc", "fatemeh"),  # ZWNJ
        ("小明", "王", "王小明"),
        ("Mary Ann", "O'Brien-Smith", "mary.obrien@school.example.org"),
    ],
)
def test_R4_real_names_in_any_script_pass(given, family, username):
    members, c, enr = _one_district()
    members[0] = replaced(members[0], given_name=given, family_name=family, username=username)
    p = run(FakeStore(), snapshot(users=members, classes=[c], enrollments=enr))
    assert not p.issues
    assert len(p.accounts["create"]) == len(members)


def test_R4_class_title_with_a_control_character_keeps_a_held_class_stale():
    store = FakeStore()
    members, c, enr = _one_district()
    run(store, snapshot(users=members, classes=[c], enrollments=enr))
    p = run(store, snapshot(users=members, classes=[replaced(c, title="Spanish\x001")], enrollments=enr))
    assert p.is_empty()
    [issue] = [i for i in p.issues if i.entity == "class"]
    assert issue.stale and (issue.rule, issue.field) == ("R4", "title") and "U+0000" in issue.message


def test_R4_malformed_school_reference_never_archives_a_class():
    """A class whose school reference is beyond the limits is R4 stale, not "not licensed" (R3)."""
    from tests.unit.rules.fakes import settings

    store = FakeStore()
    members, c, enr = _one_district()
    cfg = settings(licensed=["sch1"])
    run(store, snapshot(users=members, classes=[c], enrollments=enr), cfg)
    p = run(store, snapshot(users=members, classes=[replaced(c, school_id="s" * 5000)], enrollments=enr), cfg)
    assert not p.classes["archive"] and not p.accounts["deactivate"] and not p.enrollments["archive"]
    [issue] = [i for i in p.issues if i.entity == "class"]
    assert issue.stale and issue.field == "school"


def test_R4_limits_keep_every_store_key_within_dynamodb():
    """The keys the store builds from ids and usernames (store/models.py) fit DynamoDB's limits."""
    from classlink_sync.store.models import partition, signin_key

    worst_id = "\U0001f600" * (limits.MAX_ID_BYTES // 4)  # 4 bytes a character
    assert limits.utf8_len(worst_id) == limits.MAX_ID_BYTES and limits.id_problem(worst_id) is None
    assert limits.id_problem(worst_id + "x") is not None
    assert len(signin_key("9" * limits.MAX_TENANT_ID_BYTES, worst_id).encode()) <= limits.DYNAMODB_PARTITION_KEY_BYTES
    assert len(worst_id.encode()) <= limits.DYNAMODB_SORT_KEY_BYTES  # a school's sort key is its sourcedId
    assert len(partition("d-" + "x" * 60, "account", worst_id).encode()) <= limits.DYNAMODB_PARTITION_KEY_BYTES
    worst_username = "\U0001f600" * limits.MAX_USERNAME_CHARS  # 256 characters, 1,024 bytes
    assert limits.username_problem(worst_username) is None
    assert len((normalise(worst_username) or "").encode()) <= limits.DYNAMODB_PARTITION_KEY_BYTES


def test_R4_the_checks_have_a_fast_path_and_agree_with_it():
    for value in ("abc", "a" * 256, "ExampleISD-12345", "a b"):
        assert limits.username_problem(value) is None and limits.text_problem(value) is None
    assert limits.username_problem("a" * 257) and limits.text_problem("a" * 257) and limits.id_problem("a" * 257)
    assert limits.text_problem("tab\there") and limits.id_problem("nul\x00")
    assert limits.text_problem("\u00e9" * 257) and not limits.text_problem("\u00e9" * 256)


def test_R4_usernames_beyond_the_limits_are_not_looked_up_in_the_store():
    """R5's batch lookup of reservations never sends a key DynamoDB would refuse (the whole batch
    would fail, and with it the sync)."""
    from classlink_sync.rules.holdings import gather

    asked: list[str] = []

    class View(FakeStore):
        def reservations(self, usernames_norm):
            asked.extend(usernames_norm)
            return super().reservations(usernames_norm)

    members, c, enr = _one_district()
    hostile = [user("h1", username="u" * 10_240), user("h2", username="\ufdfa" * 120), user("h3", username="a\x00b")]
    gather(View(), "d-example", snapshot(users=[*members, *hostile], classes=[c], enrollments=enr))
    assert sorted(asked) == sorted((normalise(m.username) or "") for m in members)
