"""R5: a username that looks the same as another account's username of the district (Unicode TR39
confusables: equal skeletons, different normal forms) is reported; the newcomer's account is not
created or linked, and a held account keeps its name. ``rules.confusables`` recovers TR39's prototype
mapping from the ``confusable-homoglyphs`` package's data and implements ``skeleton`` itself."""

from __future__ import annotations

import pytest

from classlink_sync.rules.confusables import (
    confusable_key,
    lookalike_characters,
    prototypes_from_symmetric,
    skeleton,
)
from classlink_sync.rules.normalise import normalise
from tests.unit.rules.fakes import FakeStore, replaced, run, snapshot, user


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("\u0430dmin", "admin"),  # Cyrillic a
        ("\u0440\u0430ypal", "paypal"),  # Cyrillic er, a
        ("\u0455\u0441\u043e\u0440\u0435", "scope"),  # all Cyrillic
        ("\u217fary", "rnary"),  # SMALL ROMAN NUMERAL ONE THOUSAND vs r n
        ("admin", "adrnin"),  # m vs r n (ASCII only)
        ("paypa1", "paypal"),  # digit one vs l
        ("\u0391\u0392\u0393", "AB\u0393"),  # Greek capitals vs Latin
        ("\uff41dmin", "admin"),  # fullwidth a
        ("a\u200bdmin", "admin"),  # default-ignorables are removed (UTS #39 since 15.1)
    ],
)
def test_R5_skeleton_of_known_confusable_pairs_is_equal(a, b):
    assert skeleton(a) == skeleton(b)


@pytest.mark.parametrize(("a", "b"), [("jose", "jos\u00e9"), ("ann", "anne"), ("kim01", "kimo1"), ("admin", "admln")])
def test_R5_skeleton_keeps_distinct_names_distinct(a, b):
    assert confusable_key(normalise(a) or "") != confusable_key(normalise(b) or "")


def test_R5_skeleton_is_idempotent_and_nfd():
    for text in ("\u0430dmin", "Cr\u00e8me", "\ufdfa", "\u1e9b\u0323"):
        once = skeleton(text)
        assert skeleton(once) == once


def test_R5_prototype_mapping_is_recovered_from_the_symmetric_data():
    """The package keeps the relation in both directions; the direction is recovered (module doc)."""
    data = {
        "\u0430": [{"c": "a", "n": "LATIN SMALL LETTER A"}],  # source, one partner with several
        "a": [{"c": "\u0430", "n": "CYRILLIC SMALL LETTER A"}, {"c": "\uff41", "n": "FULLWIDTH A"}],
        "\uff41": [{"c": "a", "n": "LATIN SMALL LETTER A"}],
        "\u01c3": [{"c": "!", "n": "EXCLAMATION MARK"}],  # a pair: the earlier key is the source
        "!": [{"c": "\u01c3", "n": "LATIN LETTER RETROFLEX CLICK"}],
        "\u200e\u05c0\u200e": [{"c": "l", "n": "LATIN SMALL LETTER L"}],  # RTL, wrapped in LRM marks
        "l": [{"c": "\u200e\u05c0\u200e", "n": "HEBREW PUNCTUATION PASEQ"}, {"c": "1", "n": "DIGIT ONE"}],
        "1": [{"c": "l", "n": "LATIN SMALL LETTER L"}],
    }
    assert prototypes_from_symmetric(data) == {"\u0430": "a", "\uff41": "a", "\u01c3": "!", "\u05c0": "l", "1": "l"}
    with pytest.raises(ValueError):  # a "prototype" that is itself a source: not TR39's mapping
        prototypes_from_symmetric({"a": [{"c": "b", "n": ""}], "b": [{"c": "c", "n": ""}], "c": [{"c": "b", "n": ""}]})
    with pytest.raises(ValueError):  # a partner without an entry of its own
        prototypes_from_symmetric({"a": [{"c": "b", "n": ""}]})


def test_R5_the_package_data_gives_tr39_prototypes():
    """Spot checks against Unicode's confusables.txt (14.0), the lines the package's parser lost
    included."""
    expected = {"\u0430": "a", "\u0441": "c", "0": "O", "1": "l", "I": "l", "m": "rn", "\u2028": " ", "\u01c3": "!"}
    for source, prototype in expected.items():
        assert skeleton(source) == prototype, source
    assert skeleton("a\u3164b") == "ab"  # U+3164 is default-ignorable: removed (UTS #39 15.1)


def test_R5_confusable_username_is_reported():
    store = FakeStore()
    store.add_account("acc-admin", "admin", role="teacher")  # an account of the district
    p = run(store, snapshot(users=[user("t1", "teacher", username="\u0430dmin"), user("t2", "teacher")]))
    assert [a.sourced_id for a in p.accounts["create"]] == ["t2"]  # not created for the newcomer
    [issue] = [i for i in p.issues if i.sourced_id == "t1"]
    assert (issue.rule, issue.field, issue.stale) == ("R5", "username", False)
    assert "U+0430 (CYRILLIC SMALL LETTER A)" in issue.message and "'admin'" in issue.message
    assert store.accounts["acc-admin"].username == "admin"  # the existing account keeps its name
    assert run(store, snapshot(users=[user("t1", "teacher", username="\u0430dmin")])).accounts["create"] == []


def test_R5_confusable_newcomers_in_one_sync_first_one_wins():
    p = run(
        FakeStore(),
        snapshot(users=[user("t1", "teacher", username="scope"), user("t2", "teacher", username="\u0455cope")]),
    )
    assert [a.sourced_id for a in p.accounts["create"]] == ["t1"]
    assert [(i.rule, i.sourced_id) for i in p.issues] == [("R5", "t2")]


def test_R5_confusable_newcomer_is_not_linked_by_email():
    store = FakeStore()
    store.add_account("acc-1", "mary123", email="mary@school.org", role="teacher")
    store.add_account("acc-2", "msmith", role="teacher")
    p = run(store, snapshot(users=[user("t1", "teacher", username="m\u0455mith", email="mary@school.org")]))
    assert not p.accounts["link"] and not p.accounts["create"]
    assert [(i.rule, i.sourced_id) for i in p.issues] == [("R5", "t1")]


def test_R5_rename_to_a_confusable_username_keeps_the_old_one():
    store = FakeStore()
    store.add_account("acc-admin", "admin", role="teacher")
    teacher = user("t1", "teacher", username="teacher1")
    run(store, snapshot(users=[teacher]))
    p = run(store, snapshot(users=[replaced(teacher, username="\u0430dmin")]))
    assert not p.reservations["move"]
    [issue] = [i for i in p.issues if i.sourced_id == "t1"]
    assert issue.rule == "R5" and issue.stale and "keeps its username 'teacher1'" in issue.message
    assert store.account_by_sourced_id("t1").username == "teacher1"


def test_R5_usernames_already_held_are_not_rejudged():
    """Two accounts that already hold confusable names (from before) keep syncing unchanged."""
    store = FakeStore()
    first = user("t1", "teacher", username="admin")
    run(store, snapshot(users=[first]))
    store.add_account("acc-x", "\u0430dmin", role="teacher", sourced_id="t2")  # an old link
    p = run(store, snapshot(users=[first, user("t2", "teacher", username="\u0430dmin")]))
    assert not [i for i in p.issues if i.rule == "R5"]


def test_R5_lookalike_characters_names_what_to_fix():
    assert lookalike_characters("\u0440\u0430ypal") == [
        "U+0440 (CYRILLIC SMALL LETTER ER)",
        "U+0430 (CYRILLIC SMALL LETTER A)",
    ]
    assert lookalike_characters("paypal") == []
