"""A generated ClassLink district, deterministic from a seed (SPEC §1 data, R3-R9 problems).

``generate(DistrictConfig(seed=7, users=100_000))`` returns a ``Dataset`` in OneRoster 1.1 JSON
shape: the district org, schools, a school year with terms and grading periods, courses, classes
(language classes such as "Spanish 2 - Period 3", "AP Chinese Language"), teachers, students and
enrolments, with the realistic quirks of ClassLink's servers (``enabledUser`` as the string
"true", empty strings for null, ``subjects`` sometimes a string, ``classType`` in any case,
unknown extra fields).

A share of planted data problems (``problem_share``) is added for each kind in
``PROBLEM_KINDS``; ``Dataset.planted`` says which sourcedIds carry which. For user kinds the
count is ``max(1, round(share * users))``; for class and enrolment kinds it is
``max(1, round(share * regular classes))`` (0 when the share is 0). Collision and duplicate kinds
plant that many *pairs* (both members listed, consecutively).

Bulk records are compact tuples expanded on demand, so 500,000 users take seconds and a few
hundred MB; planted records are plain dicts.
"""

from __future__ import annotations

import gc
import random
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from .dataset import DEFAULT_HREF_BASE, Dataset, Expander, Record, ref

PROBLEM_KINDS: dict[str, str] = {
    "role_out_of_scope": "R3 user whose role is administrator, aide, guardian or proctor",
    "unlicensed_school": "R3 school a test district should not license (org ids)",
    "unlicensed_school_user": "R3 user whose only school is the unlicensed one",
    "unlicensed_school_class": "R3 class of the unlicensed school",
    "disabled_user": "R3 enabledUser false (string in any case, or boolean)",
    "student_without_class": "R3 student with no enrolment",
    "teacher_without_class": "R3 teacher with no class (still synced)",
    "blank_username": "R4 username empty, blank or absent",
    "missing_names": "R4 givenName and/or familyName empty or absent",
    "missing_role": "R4 role empty or absent",
    "required_in_metadata": "R4 username or givenName only in metadata",
    "class_missing_school": "R4 class without a school reference (only in metadata)",
    "username_collision": "R5 pairs of usernames equal after NFKC, case-fold, trim",
    "duplicate_person": "R5/R6 pairs: same names and email, different sourcedId and username",
    "generic_username": "R5 non-prefixed username (jsmith) likely held on the platform already",
    "class_no_subject": "R7 class whose title and course name no language (Art, Algebra I)",
    "class_two_subjects": "R7 class naming two languages (French/Spanish Club)",
    "subject_from_course": "R7 class title without a subject; its course has one (valid)",
    "class_only_unsynced_teacher": "R8 class whose only teacher is not synced",
    "unsynced_teacher": "R8 teacher (blank username, so skipped under R4) of those classes",
    "class_without_teacher": "R8 class with students but no teacher enrolment",
    "co_taught_class": "R8 class with two teacher enrolments (valid: both link)",
    "teacher_school_mismatch": "R8 teacher enrolment in a class of a school not in the teacher's orgs",
    "teacher_as_student": "R8 enrolment with role student of a user whose role is teacher",
    "tobedeleted_user": "R9 user with status tobedeleted or inactive",
    "ended_enrollment": "R9 student enrolment whose endDate has passed",
}

GIVEN = [
    "James",
    "Maria",
    "Wei",
    "Olivia",
    "Liam",
    "Sofía",
    "Noah",
    "Zoë",
    "Ethan",
    "Chloé",
    "Mateo",
    "Aisha",
    "Lucas",
    "Renée",
    "Mia",
    "Hiroshi",
    "Amelia",
    "José",
    "Harper",
    "Elijah",
    "Fatima",
    "Benjamin",
    "Ava",
    "Léa",
    "Daniel",
    "Isabella",
    "Omar",
    "Charlotte",
    "Andrés",
    "Emily",
    "Priya",
    "Jack",
    "Ingrid",
    "Samuel",
    "Nora",
    "Björn",
    "Grace",
    "Diego",
    "Hannah",
    "Kenji",
]
FAMILY = [
    "Smith",
    "García",
    "Chen",
    "Johnson",
    "Müller",
    "Nguyen",
    "Brown",
    "Rossi",
    "Martínez",
    "Kim",
    "Williams",
    "Dubois",
    "Patel",
    "Jones",
    "Schmidt",
    "López",
    "Wang",
    "Davis",
    "O'Brien",
    "Novak",
    "Miller",
    "Hernández",
    "Ali",
    "Wilson",
    "Moreau",
    "Tanaka",
    "Anderson",
    "Sánchez",
    "Kowalski",
    "Lee",
    "Taylor",
    "Fernández",
    "Singh",
    "Thomas",
    "Bianchi",
    "Yilmaz",
    "Moore",
    "Pérez",
    "Larsen",
    "Jackson",
]
PLACES = [
    "Lincoln",
    "Washington",
    "Riverside",
    "Oak Grove",
    "Maple",
    "Cedar Ridge",
    "Hillcrest",
    "Lakeview",
    "Jefferson",
    "Franklin",
    "Sunnyvale",
    "Pinecrest",
    "Roosevelt",
    "Kennedy",
    "Brookside",
    "Eastwood",
]
LANGUAGE_COURSES = [
    "Spanish 1",
    "Spanish 2",
    "Spanish 3",
    "Honors Spanish 4",
    "AP Spanish Language and Culture",
    "French I",
    "French II",
    "French III",
    "AP French Language",
    "German 1",
    "German 2",
    "Italian 1",
    "Italian 2",
    "Mandarin Chinese 1",
    "Chinese 2",
    "AP Chinese Language",
    "Spanish for Heritage Speakers",
]
OTHER_COURSES = ["Art", "Algebra I", "Biology", "US History", "Physical Education", "Geometry", "Chemistry"]
TWO_SUBJECT_TITLES = [
    "French/Spanish Club",
    "Spanish and French Exchange",
    "German & Italian Culture",
    "Mandarin-Spanish Immersion",
]
CLUB_COURSE = "World Languages Club"
SECTION_LETTERS = "ABCDEFGH"


def _ascii(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


ASCII_NAME = {n: _ascii(n) for n in GIVEN + FAMILY}


@dataclass(frozen=True, slots=True)
class DistrictConfig:
    """What to generate. ``users`` is the total user count (planted users included)."""

    seed: int = 1
    users: int = 200
    schools: int | None = None  # licensed schools; default users // 1500, at least 2
    problem_share: float = 0.01
    classes_per_teacher: int = 4
    classes_per_student: int = 3
    teacher_share: float = 0.04
    username_prefix: str = "ExampleISD"
    district_name: str = "Example Independent School District"
    href_base: str = DEFAULT_HREF_BASE


@dataclass(slots=True)
class _Gen:
    """Working state of one generation run."""

    cfg: DistrictConfig
    rng: random.Random
    ds: Dataset
    dlm: list[str]
    district_id: str = "org-district-1"
    schools: list[str] = field(default_factory=list)
    school_grades: dict[str, tuple[str, ...]] = field(default_factory=dict)
    school_refs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    courses: dict[str, dict[str, str]] = field(default_factory=dict)  # school -> title -> course id
    terms: list[str] = field(default_factory=list)
    year_id: str = ""
    classes_by_school: dict[str, list[str]] = field(default_factory=dict)
    teachers_by_school: dict[str, list[str]] = field(default_factory=dict)
    teacher_orgs: dict[str, list[str]] = field(default_factory=dict)
    students_by_school: dict[str, list[str]] = field(default_factory=dict)
    class_school: dict[str, str] = field(default_factory=dict)
    class_teacher: dict[str, str] = field(default_factory=dict)  # regular class -> primary teacher
    next_user: int = 100_000
    next_class: int = 1
    next_enr: int = 1

    def user_n(self) -> int:
        self.next_user += 1
        return self.next_user

    def stamp(self) -> str:
        return self.rng.choice(self.dlm)


def _dlm_pool(rng: random.Random) -> list[str]:
    out = []
    for _ in range(400):
        month = rng.randint(6, 8)
        day = rng.randint(1, 30)
        out.append(
            f"2025-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
        )
    return out


# -- compact rows and their expanders --------------------------------------------------------------
# user: (sid, n, role, orgs, given, family, grades, agents, dlm, status, enabled)
# class: (sid, n, title, course, school, terms, classType, subjects, grades, period, dlm)
# enrollment: (sid, user, class, school, role, primary, beginDate, endDate, dlm, status)


def _user_expander(prefix: str, domain: str) -> Expander:
    def expand(t: Any, base: str) -> Record:
        sid, n, role, orgs, given, family, grades, agents, dlm, status, enabled = t
        username = f"{prefix}-{n}"
        email = "" if role == "student" and n % 9 == 0 else f"{ASCII_NAME[given]}.{ASCII_NAME[family]}{n}@{domain}"
        return {
            "sourcedId": sid,
            "status": status,
            "dateLastModified": dlm,
            "metadata": {"classlink.schoolCode": str(n % 97)},
            "username": username,
            "userIds": [{"type": "LDAP", "identifier": username}],
            "enabledUser": enabled,
            "givenName": given,
            "familyName": family,
            "middleName": "",
            "role": role,
            "identifier": str(n),
            "email": email,
            "sms": "",
            "phone": "",
            "orgs": [{"href": f"{base}/orgs/{o}", "sourcedId": o, "type": "org"} for o in orgs],
            "agents": [{"href": f"{base}/users/{a}", "sourcedId": a, "type": "user"} for a in agents],
            "grades": list(grades),
            "password": "",  # nosec B105 # OneRoster's (empty) password field
            "preferredFirstName": "",
        }

    return expand


def _class_expander(t: Any, base: str) -> Record:
    sid, n, title, course, school, terms, class_type, subjects, grades, period, dlm = t
    return {
        "sourcedId": sid,
        "status": "active",
        "dateLastModified": dlm,
        "metadata": {},
        "title": title,
        "classCode": f"C{n:06d}",
        "classType": class_type,
        "location": f"Room {100 + n % 250}",
        "grades": list(grades),
        "subjects": subjects if isinstance(subjects, str) else list(subjects),
        "subjectCodes": "",
        "course": {"href": f"{base}/courses/{course}", "sourcedId": course, "type": "course"},
        "school": {"href": f"{base}/orgs/{school}", "sourcedId": school, "type": "org"},
        "terms": [{"href": f"{base}/academicSessions/{x}", "sourcedId": x, "type": "academicSession"} for x in terms],
        "periods": [period] if period else [],
        "x_sis_section": f"S{n}",
    }


def _enrollment_expander(t: Any, base: str) -> Record:
    sid, user, klass, school, role, primary, begin, end, dlm, status = t
    return {
        "sourcedId": sid,
        "status": status,
        "dateLastModified": dlm,
        "metadata": {},
        "user": {"href": f"{base}/users/{user}", "sourcedId": user, "type": "user"},
        "class": {"href": f"{base}/classes/{klass}", "sourcedId": klass, "type": "class"},
        "school": {"href": f"{base}/orgs/{school}", "sourcedId": school, "type": "org"},
        "role": role,
        "primary": primary,
        "beginDate": begin,
        "endDate": end,
    }


# -- generation --------------------------------------------------------------------------------------


def generate(config: DistrictConfig | None = None, **overrides: Any) -> Dataset:
    """Generate a district (SPEC §1 shapes, R3-R9 planted problems), deterministic from the seed."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small tuples: the cyclic GC would only slow generation down
    try:
        return _generate(config, overrides)
    finally:
        if gc_was_enabled:
            gc.enable()


def _generate(config: DistrictConfig | None, overrides: dict[str, Any]) -> Dataset:
    cfg = config or DistrictConfig()
    if overrides:
        cfg = DistrictConfig(**{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__}, **overrides})
    rng = random.Random(cfg.seed)  # nosec B311 # seeded test data, not security
    ds = Dataset(cfg.href_base, username_prefix=cfg.username_prefix)
    ds.users._expand = _user_expander(cfg.username_prefix, ds.email_domain)
    ds.classes._expand = _class_expander
    ds.enrollments._expand = _enrollment_expander
    g = _Gen(cfg=cfg, rng=rng, ds=ds, dlm=_dlm_pool(rng))

    share = cfg.problem_share
    n_teachers = max(1, round(cfg.users * cfg.teacher_share))
    n_classes_est = n_teachers * cfg.classes_per_teacher

    def count(base: int) -> int:
        return 0 if share <= 0 else max(1, round(share * base))

    k_u = count(cfg.users)
    k_c = count(n_classes_est)
    planted_users = 15 * k_u + k_c  # 11 kinds of one user each, 2 kinds of pairs, unsynced teachers
    n_students = max(0, cfg.users - n_teachers - planted_users)
    n_schools = cfg.schools or max(2, cfg.users // 1500)

    _orgs_and_sessions(g, n_schools)
    _courses(g)
    _teachers_and_classes(g, n_teachers)
    _students(g, n_students)
    kinds: dict[str, list[str]] = {k: [] for k in PROBLEM_KINDS}
    if share > 0:
        _plant(g, kinds, k_u, k_c)
    ds.planted = kinds
    ds.version = 0
    return ds


def _orgs_and_sessions(g: _Gen, n_schools: int) -> None:
    ds, base = g.ds, g.ds.href_base
    ds.orgs[g.district_id] = {
        "sourcedId": g.district_id,
        "status": "active",
        "dateLastModified": g.stamp(),
        "metadata": {},
        "name": g.cfg.district_name,
        "type": "district",
        "identifier": "D001",
        "parent": "",
        "children": [],
    }
    for i in range(n_schools):
        high = i % 2 == 1
        sid = f"org-sch-{i + 1}"
        name = f"{PLACES[i % len(PLACES)]}{' ' + str(i // len(PLACES) + 1) if i >= len(PLACES) else ''}"
        name += " High School" if high else " Middle School"
        g.schools.append(sid)
        g.school_grades[sid] = ("09", "10", "11", "12") if high else ("06", "07", "08")
        g.school_refs[sid] = (sid,)
        ds.orgs[sid] = {
            "sourcedId": sid,
            "status": "active",
            "dateLastModified": g.stamp(),
            "metadata": {},
            "name": name,
            "type": "school" if i % 3 else "School",
            "identifier": f"S{i + 1:03d}",
            "parent": ref(base, "orgs", g.district_id, "org"),
            "children": [],
        }
        g.classes_by_school[sid] = []
        g.teachers_by_school[sid] = []
        g.students_by_school[sid] = []
    ds.orgs[g.district_id]["children"] = [ref(base, "orgs", s, "org") for s in g.schools]
    g.year_id = "as-sy-2026"
    sessions = [
        (g.year_id, "2025-2026", "schoolYear", "2025-08-15", "2026-06-15", ""),
        ("as-t1-2026", "Fall Semester 2025", "term", "2025-08-15", "2025-12-19", g.year_id),
        ("as-t2-2026", "Spring Semester 2026", "term", "2026-01-05", "2026-06-15", g.year_id),
        ("as-gp1-2026", "Quarter 1", "gradingPeriod", "2025-08-15", "2025-10-17", "as-t1-2026"),
        ("as-gp2-2026", "Quarter 2", "gradingPeriod", "2025-10-20", "2025-12-19", "as-t1-2026"),
    ]
    for sid, title, kind, start, end, parent in sessions:
        ds.academic_sessions[sid] = {
            "sourcedId": sid,
            "status": "active",
            "dateLastModified": g.stamp(),
            "metadata": {},
            "title": title,
            "type": kind,
            "startDate": start,
            "endDate": end,
            "parent": ref(base, "academicSessions", parent, "academicSession") if parent else "",
            "children": [],
            "schoolYear": "2026",
        }
    g.terms = ["as-t1-2026", "as-t2-2026"]


def _courses(g: _Gen) -> None:
    base = g.ds.href_base
    for si, school in enumerate(g.schools):
        g.courses[school] = {}
        for ci, title in enumerate([*LANGUAGE_COURSES, *OTHER_COURSES, CLUB_COURSE]):
            sid = f"crs-{si + 1}-{ci + 1}"
            g.courses[school][title] = sid
            language = title in LANGUAGE_COURSES
            g.ds.courses[sid] = {
                "sourcedId": sid,
                "status": "active",
                "dateLastModified": g.stamp(),
                "metadata": {},
                "title": title,
                "courseCode": f"{title[:3].upper()}{ci:02d}",
                "schoolYear": ref(base, "academicSessions", g.year_id, "academicSession"),
                "grades": list(g.school_grades[school]),
                "subjects": (["World Languages"] if ci % 3 else "World Languages") if language else [],
                "org": ref(base, "orgs", school, "org"),
            }


def _subjects(rng: random.Random) -> Any:
    r = rng.random()
    return "World Languages" if r < 0.2 else (() if r < 0.4 else ("World Languages",))


def _new_class(g: _Gen, school: str, title: str, course_title: str, *, regular: bool = False, **extra: Any) -> str:
    """Add a class; regular classes are compact rows, planted ones dicts (with ``extra``)."""
    rng = g.rng
    n = g.next_class
    g.next_class += 1
    sid = f"cls-{n}"
    r = rng.random()
    terms = tuple(g.terms) if r < 0.6 else (g.terms[0],) if r < 0.8 else (g.terms[1],)
    class_type = "scheduled" if r < 0.7 else ("Scheduled" if r < 0.9 else "SCHEDULED")
    row = (
        sid,
        n,
        title,
        g.courses[school][course_title],
        school,
        terms,
        class_type,
        _subjects(rng),
        g.school_grades[school],
        str(n % 7 + 1),
        g.stamp(),
    )
    if regular:
        g.ds.classes.put_compact(sid, row)
        g.classes_by_school[school].append(sid)
    else:
        record = _class_expander(row, g.ds.href_base)
        record.update(extra)
        g.ds.classes[sid] = record
    g.class_school[sid] = school
    return sid


def _enrol(
    g: _Gen,
    user: str,
    klass: str,
    role: str,
    *,
    primary: bool = False,
    school: str | None = None,
    status: str = "active",
    begin: str = "2025-08-15",
    end: str = "",
) -> str:
    sid = f"enr-{g.next_enr}"
    g.next_enr += 1
    row = (
        sid,
        user,
        klass,
        school or g.class_school[klass],
        role,
        "true" if primary else "false",
        begin,
        end,
        g.stamp(),
        status,
    )
    g.ds.enrollments.put_compact(sid, row)
    return sid


def _regular_title(rng: random.Random, course: str, n: int) -> str:
    r = rng.random()
    if r < 0.6:
        return f"{course} - Period {n % 7 + 1}"
    if r < 0.8:
        return course
    return f"{course} ({SECTION_LETTERS[n % len(SECTION_LETTERS)]})"


def _teachers_and_classes(g: _Gen, n_teachers: int) -> None:
    rng, cfg = g.rng, g.cfg
    n_schools = len(g.schools)
    rows = []
    for t in range(n_teachers):
        school = g.schools[t % n_schools]
        n = g.user_n()
        sid = f"usr-{n}"
        orgs = [school]
        if rng.random() < 0.05 and n_schools > 1:
            orgs.append(g.schools[(t + 1) % n_schools])
        g.teacher_orgs[sid] = orgs
        for s in orgs:
            g.teachers_by_school[s].append(sid)
        rows.append((sid, n, school))
    for sid, _n, school in rows:
        for _ in range(cfg.classes_per_teacher):
            course = rng.choice(LANGUAGE_COURSES)
            klass = _new_class(g, school, _regular_title(rng, course, g.next_class), course, regular=True)
            _enrol(g, sid, klass, "teacher", primary=True)
            g.class_teacher[klass] = sid
    users = g.ds.users
    for sid, n, _school in rows:
        users.put_compact(
            sid,
            (
                sid,
                n,
                "teacher",
                tuple(g.teacher_orgs[sid]),
                rng.choice(GIVEN),
                rng.choice(FAMILY),
                (),
                (),
                g.stamp(),
                "active",
                "true",
            ),
        )


def _students(g: _Gen, n_students: int) -> None:
    rng, cfg = g.rng, g.cfg
    n_schools = len(g.schools)
    users = g.ds.users
    enr_put = g.ds.enrollments.put_compact
    choice, dlm, given, family = rng.choice, g.dlm, GIVEN, FAMILY
    k = cfg.classes_per_student
    for i in range(n_students):
        school = g.schools[i % n_schools]
        g.next_user += 1
        n = g.next_user
        sid = f"usr-{n}"
        grades = (choice(g.school_grades[school]),)
        users.put_compact(
            sid,
            (
                sid,
                n,
                "student",
                g.school_refs[school],
                choice(given),
                choice(family),
                grades,
                (),
                choice(dlm),
                "active",
                "true",
            ),
        )
        g.students_by_school[school].append(sid)
        pool = g.classes_by_school[school]
        if not pool:
            continue
        for klass in rng.sample(pool, k) if len(pool) > k else pool:
            esid = f"enr-{g.next_enr}"
            g.next_enr += 1
            enr_put(esid, (esid, sid, klass, school, "student", "false", "2025-08-15", "", choice(dlm), "active"))


# -- planted problems ------------------------------------------------------------------------------
# Each step below plants one family of problems. The steps draw from the shared RNG, so their
# order (in ``_plant``) and the order of draws inside each one fix the generated data per seed.


@dataclass(slots=True)
class _Planter:
    """What the planting steps share: the generator, the planted-kinds map and the counts."""

    g: _Gen
    kinds: dict[str, list[str]]
    k_u: int  # planted users per user kind
    k_c: int  # planted classes (or enrolments) per class kind
    expand_user: Expander

    def school_of(self, i: int) -> str:
        """The i-th licensed school, round robin."""
        return self.g.schools[i % len(self.g.schools)]

    def user(
        self,
        role: str,
        school: str | None,
        *,
        given: str | None = None,
        family: str | None = None,
        classes: int = 1,
        orgs: list[str] | None = None,
        **fields: Any,
    ) -> Record:
        """A planted user as a dict, enrolled in ``classes`` regular classes of its school."""
        g, rng = self.g, self.g.rng
        n = g.user_n()
        sid = f"usr-{n}"
        org_ids = tuple(orgs) if orgs is not None else ((school,) if school else (g.district_id,))
        grades = (rng.choice(g.school_grades[school]),) if school and role == "student" else ()
        record = self.expand_user(
            (
                sid,
                n,
                role,
                org_ids,
                given or rng.choice(GIVEN),
                family or rng.choice(FAMILY),
                grades,
                (),
                g.stamp(),
                "active",
                "true",
            ),
            g.ds.href_base,
        )
        record.update(fields)
        g.ds.users[sid] = record
        if school and role in ("student", "teacher"):
            pool = g.classes_by_school.get(school) or []
            for klass in rng.sample(pool, min(classes, len(pool))):
                _enrol(g, sid, klass, role)
        return record

    def students_into(self, klass: str, school: str, n: int = 2) -> None:
        """Enrol ``n`` students of the school (fewer if it has fewer) in a planted class."""
        pool = self.g.students_by_school[school]
        for s in self.g.rng.sample(pool, min(n, len(pool))):
            _enrol(self.g, s, klass, "student")

    def a_teacher(self, school: str) -> str:
        """A regular teacher of the school (tiny districts: any teacher)."""
        return (self.g.teachers_by_school[school] or list(self.g.teacher_orgs))[0]

    def taught_class(self, school: str, title: str, course_title: str) -> str:
        """A planted class taught by a regular teacher of the school, with a few students."""
        klass = _new_class(self.g, school, title, course_title)
        _enrol(self.g, self.a_teacher(school), klass, "teacher", primary=True)
        self.students_into(klass, school)
        return klass


def _plant(g: _Gen, kinds: dict[str, list[str]], k_u: int, k_c: int) -> None:
    """Plant every problem kind of ``PROBLEM_KINDS``, in a fixed order (the RNG draws depend on it)."""
    users_expand = g.ds.users._expand
    assert users_expand is not None  # nosec B101 # type narrowing; never run with -O
    p = _Planter(g, kinds, k_u, k_c, users_expand)
    # R3: out of scope, unlicensed, disabled, without classes.
    _plant_roles_out_of_scope(p)
    _plant_unlicensed_school(p)
    _plant_disabled_users(p)
    _plant_users_without_class(p)
    # R4: required fields missing or only in metadata.
    _plant_blank_usernames(p)
    _plant_missing_names(p)
    _plant_missing_roles(p)
    _plant_required_in_metadata(p)
    # R5: collisions after normalisation, duplicates of one person, generic usernames.
    _plant_username_collisions(p)
    _plant_duplicate_persons(p)
    _plant_generic_usernames(p)
    # R9: tobedeleted users.
    _plant_tobedeleted_users(p)
    # R7 and R8 (and R4 class_missing_school): planted classes in licensed schools.
    _plant_classes_no_subject(p)
    _plant_classes_two_subjects(p)
    _plant_subject_from_course(p)
    _plant_classes_only_unsynced_teacher(p)
    _plant_classes_without_teacher(p)
    _plant_classes_missing_school(p)
    # R8: co-teachers, teachers outside their schools, teachers enrolled as students; R9 ended.
    _plant_co_taught_classes(p)
    _plant_teacher_school_mismatches(p)
    _plant_teachers_as_students(p)
    _plant_ended_enrollments(p)


# -- R3: roles out of scope, the unlicensed school, disabled users, users without classes ----------


def _plant_roles_out_of_scope(p: _Planter) -> None:
    """R3: administrators, aides, guardians (with a child as agent) and proctors."""
    g, base = p.g, p.g.ds.href_base
    roles = ["administrator", "aide", "guardian", "proctor"]
    for i in range(p.k_u):
        role = roles[i % len(roles)]
        school = p.school_of(i)
        agents = []
        if role == "guardian" and g.students_by_school[school]:
            child = g.rng.choice(g.students_by_school[school])
            agents = [ref(base, "users", child, "user")]
        rec = p.user(role, school if role != "administrator" or i % 8 else None, classes=0, agents=agents)
        p.kinds["role_out_of_scope"].append(rec["sourcedId"])


def _plant_unlicensed_school(p: _Planter) -> None:
    """R3: an unlicensed school with its own teacher, students and classes."""
    g, ds, base = p.g, p.g.ds, p.g.ds.href_base
    unlic = "org-sch-unlicensed-1"
    ds.orgs[unlic] = {
        "sourcedId": unlic,
        "status": "active",
        "dateLastModified": g.stamp(),
        "metadata": {},
        "name": "Westbrook Charter School",
        "type": "school",
        "identifier": "S900",
        "parent": ref(base, "orgs", g.district_id, "org"),
        "children": [],
    }
    ds.orgs[g.district_id]["children"].append(ref(base, "orgs", unlic, "org"))
    ds.unlicensed_school_ids = [unlic]
    p.kinds["unlicensed_school"].append(unlic)
    g.schools.append(unlic)
    g.school_grades[unlic] = ("09", "10")
    g.courses[unlic] = g.courses[g.schools[0]]
    g.classes_by_school[unlic] = []
    g.students_by_school[unlic] = []
    teacher = p.user("teacher", unlic, classes=0)
    p.kinds["unlicensed_school_user"].append(teacher["sourcedId"])
    for _ in range(p.k_c):
        course = g.rng.choice(LANGUAGE_COURSES)
        klass = _new_class(g, unlic, course, course)
        g.classes_by_school[unlic].append(klass)
        _enrol(g, teacher["sourcedId"], klass, "teacher", primary=True)
        p.kinds["unlicensed_school_class"].append(klass)
    for _ in range(p.k_u - 1):
        p.kinds["unlicensed_school_user"].append(p.user("student", unlic)["sourcedId"])
    g.schools.pop()  # no later planting in the unlicensed school


def _plant_disabled_users(p: _Planter) -> None:
    """R3: enabledUser false, as a string in any case or a boolean."""
    enabled_variants: list[Any] = ["false", "FALSE", False, "False"]
    for i in range(p.k_u):
        role = "teacher" if i % 3 == 2 else "student"
        rec = p.user(role, p.school_of(i), enabledUser=enabled_variants[i % 4])
        p.kinds["disabled_user"].append(rec["sourcedId"])


def _plant_users_without_class(p: _Planter) -> None:
    """R3: students without classes (skipped), then teachers without classes (still synced)."""
    for i in range(p.k_u):
        p.kinds["student_without_class"].append(p.user("student", p.school_of(i), classes=0)["sourcedId"])
    for i in range(p.k_u):
        p.kinds["teacher_without_class"].append(p.user("teacher", p.school_of(i), classes=0)["sourcedId"])


# -- R4: required fields missing or only in metadata ----------------------------------------------


def _plant_blank_usernames(p: _Planter) -> None:
    """R4: username empty, blank or absent."""
    for i in range(p.k_u):
        rec = p.user("student", p.school_of(i))
        if i % 3 == 2:
            del rec["username"]
        else:
            rec["username"] = ["", "   "][i % 3]
        p.kinds["blank_username"].append(rec["sourcedId"])


def _plant_missing_names(p: _Planter) -> None:
    """R4: givenName and/or familyName empty or absent."""
    for i in range(p.k_u):
        rec = p.user("student", p.school_of(i))
        if i % 3 == 0:
            rec["givenName"] = ""
        elif i % 3 == 1:
            del rec["familyName"]
        else:
            rec["givenName"] = rec["familyName"] = ""
        p.kinds["missing_names"].append(rec["sourcedId"])


def _plant_missing_roles(p: _Planter) -> None:
    """R4: role empty or absent."""
    for i in range(p.k_u):
        rec = p.user("student", p.school_of(i))
        if i % 2:
            del rec["role"]
        else:
            rec["role"] = ""
        p.kinds["missing_role"].append(rec["sourcedId"])


def _plant_required_in_metadata(p: _Planter) -> None:
    """R4: username or givenName only in metadata."""
    for i in range(p.k_u):
        rec = p.user("student", p.school_of(i))
        if i % 2 == 0:
            rec["metadata"] = {"username": rec.pop("username")}
        else:
            rec["metadata"] = {"givenName": rec["givenName"]}
            rec["givenName"] = ""
        p.kinds["required_in_metadata"].append(rec["sourcedId"])


# -- R5: collisions after normalisation, duplicates of one person, generic usernames --------------


def _collision_pair(prefix: str, given: str, family: str, i: int) -> tuple[str, str]:
    """R5: two usernames equal after NFKC, case-fold and trim (variant ``i % 4``)."""
    stem = f"{prefix}-{ASCII_NAME[given]}.{ASCII_NAME[family]}{i}"
    variant = i % 4
    if variant == 0:
        return stem, stem.upper()
    if variant == 1:
        nfc = f"{prefix}-{given}.{family}{i}"
        return unicodedata.normalize("NFC", nfc), unicodedata.normalize("NFD", nfc)
    if variant == 2:
        return stem, "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in stem)
    return stem, f" {stem.title()} "


def _plant_username_collisions(p: _Planter) -> None:
    """R5: pairs of usernames equal after normalisation."""
    given, family = GIVEN[17], FAMILY[1]  # José García: accents matter
    for i in range(p.k_u):
        for username in _collision_pair(p.g.cfg.username_prefix, given, family, i):
            rec = p.user("student", p.school_of(i), given=given, family=family, username=username)
            p.kinds["username_collision"].append(rec["sourcedId"])


def _plant_duplicate_persons(p: _Planter) -> None:
    """R5/R6: pairs with the same names and email, different sourcedId and username."""
    for i in range(p.k_u):
        given, family = GIVEN[i % len(GIVEN)], FAMILY[(i * 3) % len(FAMILY)]
        email = f"{ASCII_NAME[given]}.{ASCII_NAME[family]}.dup{i}@{p.g.ds.email_domain}"
        for _ in range(2):
            rec = p.user("student", p.school_of(i), given=given, family=family, email=email)
            p.kinds["duplicate_person"].append(rec["sourcedId"])


def _plant_generic_usernames(p: _Planter) -> None:
    """R5: non-prefixed usernames (jsmith) likely held on the platform already."""
    for i in range(p.k_u):
        given, family = GIVEN[i % len(GIVEN)], FAMILY[i % len(FAMILY)]
        generic = f"{ASCII_NAME[given][0]}{ASCII_NAME[family]}" + (str(i) if i >= len(FAMILY) else "")
        role = "teacher" if i % 4 == 3 else "student"
        rec = p.user(role, p.school_of(i), given=given, family=family, username=generic)
        p.kinds["generic_username"].append(rec["sourcedId"])


# -- R9: tobedeleted users ---------------------------------------------------------------------------


def _plant_tobedeleted_users(p: _Planter) -> None:
    """R9: users with status tobedeleted or inactive."""
    for i in range(p.k_u):
        rec = p.user("student", p.school_of(i), status=["tobedeleted", "inactive"][i % 2])
        p.kinds["tobedeleted_user"].append(rec["sourcedId"])


# -- R7 and R8: planted classes in licensed schools --------------------------------------------------


def _plant_classes_no_subject(p: _Planter) -> None:
    """R7: classes whose title and course name no language (Art, Algebra I)."""
    for i in range(p.k_c):
        title = OTHER_COURSES[i % len(OTHER_COURSES)]
        klass = p.taught_class(p.school_of(i), f"{title} - Period {i % 7 + 1}" if i % 2 else title, title)
        p.kinds["class_no_subject"].append(klass)


def _plant_classes_two_subjects(p: _Planter) -> None:
    """R7: classes naming two languages (French/Spanish Club)."""
    for i in range(p.k_c):
        klass = p.taught_class(p.school_of(i), TWO_SUBJECT_TITLES[i % len(TWO_SUBJECT_TITLES)], CLUB_COURSE)
        p.kinds["class_two_subjects"].append(klass)


def _plant_subject_from_course(p: _Planter) -> None:
    """R7: class titles without a subject whose course has one (valid)."""
    for i in range(p.k_c):
        course = LANGUAGE_COURSES[i % len(LANGUAGE_COURSES)]
        title = f"Period {i % 7 + 1} - Section {SECTION_LETTERS[i % len(SECTION_LETTERS)]}"
        p.kinds["subject_from_course"].append(p.taught_class(p.school_of(i), title, course))


def _plant_classes_only_unsynced_teacher(p: _Planter) -> None:
    """R8: classes whose only teacher is not synced (blank username, so skipped under R4)."""
    g = p.g
    for i in range(p.k_c):
        school = p.school_of(i)
        course = g.rng.choice(LANGUAGE_COURSES)
        klass = _new_class(g, school, f"{course} - Period {i % 7 + 1}", course)
        teacher = p.user("teacher", school, classes=0, username="")
        p.kinds["unsynced_teacher"].append(teacher["sourcedId"])
        _enrol(g, teacher["sourcedId"], klass, "teacher", primary=True)
        p.students_into(klass, school)
        p.kinds["class_only_unsynced_teacher"].append(klass)


def _plant_classes_without_teacher(p: _Planter) -> None:
    """R8: classes with students but no teacher enrolment."""
    g = p.g
    for i in range(p.k_c):
        school = p.school_of(i)
        course = g.rng.choice(LANGUAGE_COURSES)
        klass = _new_class(g, school, course, course)
        p.students_into(klass, school, 3)
        p.kinds["class_without_teacher"].append(klass)


def _plant_classes_missing_school(p: _Planter) -> None:
    """R4: classes without a school reference (only in metadata)."""
    g = p.g
    for i in range(p.k_c):
        school = p.school_of(i)
        course = g.rng.choice(LANGUAGE_COURSES)
        klass = _new_class(g, school, f"{course} - Period {i % 7 + 1}", course)
        record = g.ds.classes[klass]
        record["metadata"] = {"schoolSourcedId": school}
        if i % 2:
            del record["school"]
        else:
            record["school"] = ""
        _enrol(g, p.a_teacher(school), klass, "teacher", primary=True)
        p.students_into(klass, school)
        p.kinds["class_missing_school"].append(klass)


# -- R8: co-teachers, teachers outside their schools, teachers enrolled as students (R9: ended) -----


def _plant_co_taught_classes(p: _Planter) -> None:
    """R8: regular classes with a second teacher enrolment (valid: both link)."""
    g = p.g
    regular = [c for s in g.schools for c in g.classes_by_school[s]]
    for klass in g.rng.sample(regular, min(p.k_c, len(regular))):
        school = g.class_school[klass]
        primary = g.class_teacher.get(klass)
        others = [t for t in g.teachers_by_school[school] if t != primary]
        if not others:
            continue
        _enrol(g, g.rng.choice(others), klass, "teacher")
        p.kinds["co_taught_class"].append(klass)


def _plant_teacher_school_mismatches(p: _Planter) -> None:
    """R8: teacher enrolments in classes of a school not in the teacher's orgs."""
    g = p.g
    if len(g.schools) <= 1:
        return
    outsiders_of: dict[str, list[str]] = {}
    for i in range(p.k_c):
        school = p.school_of(i)
        if school not in outsiders_of:
            outsiders_of[school] = [t for t, orgs in g.teacher_orgs.items() if school not in orgs]
        outsiders = outsiders_of[school]
        pool = g.classes_by_school[school]
        if not outsiders or not pool:
            continue
        klass = pool[(i * 7) % len(pool)]
        enr = _enrol(g, outsiders[(i * 13) % len(outsiders)], klass, "teacher")
        p.kinds["teacher_school_mismatch"].append(enr)


def _plant_teachers_as_students(p: _Planter) -> None:
    """R8: enrolments with role student of users whose role is teacher."""
    g = p.g
    for i in range(p.k_c):
        school = p.school_of(i)
        teachers, pool = g.teachers_by_school[school], g.classes_by_school[school]
        if not teachers or not pool:
            continue
        as_student = teachers[(i * 5) % len(teachers)]
        klass = pool[(i * 11 + 3) % len(pool)]
        p.kinds["teacher_as_student"].append(_enrol(g, as_student, klass, "student"))


def _plant_ended_enrollments(p: _Planter) -> None:
    """R9: student enrolments whose endDate has passed."""
    g = p.g
    for i in range(p.k_c):
        school = p.school_of(i)
        students, pool = g.students_by_school[school], g.classes_by_school[school]
        if not students or not pool:
            continue
        enr = _enrol(g, g.rng.choice(students), g.rng.choice(pool), "student", begin="2024-08-20", end="2025-01-31")
        p.kinds["ended_enrollment"].append(enr)
