"""R7: a class is synced only if its title, else its course's title, names one subject."""

import pytest

from classlink_sync.rules.subjects import DEFAULT_CATALOGUE, SubjectCatalogue
from tests.unit.rules.fakes import (
    FakeStore,
    class_with_teacher,
    course,
    enrol,
    klass,
    run,
    settings,
    snapshot,
)


@pytest.mark.parametrize(
    ("title", "subject"),
    [
        ("Spanish 2 - Period 3", "Spanish"),
        ("AP Chinese Language", "Mandarin"),
        ("Mandarin Chinese 1", "Mandarin"),
        ("FRANÇAIS 3", "French"),
        ("francais avance", "French"),
        ("Espan\u0303ol para hispanohablantes", "Spanish"),  # combining tilde
        ("German-Deutsch II", "German"),
        ("Latin I", "Latin"),
        ("Art", None),
        ("Frenchtown History", None),
        ("Latin American History", None),
        ("Spanglish", None),
        ("", None),
    ],
)
def test_R7_whole_word_case_and_accent_insensitive(title, subject):
    assert DEFAULT_CATALOGUE.match(title, None).subject == subject


def test_R7_two_subjects_are_ambiguous():
    found = DEFAULT_CATALOGUE.match("French/Spanish club", None)
    assert found.subject is None and found.ambiguous and found.candidates == ("French", "Spanish")


def test_R7_catalogue_is_configurable():
    catalogue = SubjectCatalogue({"Korean": (("Korean", "Hangul"), ())})
    assert catalogue.match("Hangul basics", None).subject == "Korean"
    assert catalogue.match("Spanish 1", None).subject is None


def _run_class(title, *, course_title=None, cfg=None):
    members, _c, enr = class_with_teacher(1)
    courses = [course("k1", course_title)] if course_title is not None else []
    c = klass("c1", title, course="k1" if courses else None)
    return run(FakeStore(), snapshot(users=members, classes=[c], enrollments=enr, courses=courses), cfg)


def test_R7_spanish_class_is_synced_with_its_subject():
    p = _run_class("Spanish 2 - Period 3")
    [c] = p.classes["create"]
    assert c.subject == "Spanish" and c.title == "Spanish 2 - Period 3"


def test_R7_art_class_is_skipped_and_reported():
    p = _run_class("Art")
    assert not p.classes["create"] and not p.accounts["create"][1:]  # only the teacher is synced
    [issue] = p.issues
    assert issue.rule == "R7" and issue.sourced_id == "c1" and "subject" in issue.message
    assert p.counts["enrollment"]["ignored"] == 3


def test_R7_ambiguous_title_is_reported_unless_staff_mapped_it():
    p = _run_class("French/Spanish club")
    assert not p.classes["create"]
    assert [(i.rule, "more than one" in i.message) for i in p.issues] == [("R7", True)]
    mapped = _run_class("French/Spanish club", cfg=settings(overrides={"c1": "spanish"}))
    assert [c.subject for c in mapped.classes["create"]] == ["Spanish"]
    by_course = _run_class("Club", course_title="French and Spanish", cfg=settings(overrides={"k1": "French"}))
    assert [c.subject for c in by_course.classes["create"]] == ["French"]


def test_R7_course_title_gives_the_subject():
    p = _run_class("Period 3 - Room 12", course_title="Italian 1")
    [c] = p.classes["create"]
    assert c.subject == "Italian" and c.course_id == "k1"
    assert p.counts["course"]["referenced"] == 1


def test_R7_class_title_wins_over_course_title():
    p = _run_class("German 1", course_title="World Languages: Spanish")
    assert [c.subject for c in p.classes["create"]] == ["German"]


def test_R7_unused_enrolment_helper_is_consistent():
    assert enrol("e", "u", "c").role == "student"
