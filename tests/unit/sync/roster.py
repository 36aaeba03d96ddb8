"""A tiny district as ClassLink would send it, built directly as compact records."""

from __future__ import annotations

from classlink_sync.oneroster.records import (
    ClassRecord,
    CollectionStatus,
    EnrollmentRecord,
    OrgRecord,
    RosterSnapshot,
    UserRecord,
)

SCHOOL = "sch-1"


def user(sid: str, role: str, username: str) -> UserRecord:
    return UserRecord(
        sid,
        "active",
        username,
        True,
        "Given",
        sid.title(),
        role,
        f"{username}@school.example",
        None,
        (SCHOOL,),
        ("07",),
    )


def snapshot(students: int = 30, *, complete: bool = True, title: str = "French 1") -> RosterSnapshot:
    """One school, one teacher, ``students`` students, one French class with everyone enrolled."""
    s = RosterSnapshot()
    s.orgs[SCHOOL] = OrgRecord(SCHOOL, "active", "Lycée One", "school", None, None)
    s.users["t1"] = user("t1", "teacher", "ISD-t1")
    s.classes["c1"] = ClassRecord("c1", "active", title, None, "scheduled", SCHOOL, None, (), (), ())
    s.enrollments["e-t1"] = EnrollmentRecord("e-t1", "active", "t1", "c1", SCHOOL, "teacher", True, None, None)
    for n in range(students):
        sid = f"s{n}"
        s.users[sid] = user(sid, "student", f"ISD-{sid}")
        s.enrollments[f"e-{sid}"] = EnrollmentRecord(
            f"e-{sid}", "active", sid, "c1", SCHOOL, "student", False, None, None
        )
    for name, records in (
        ("orgs", s.orgs),
        ("classes", s.classes),
        ("users", s.users),
        ("enrollments", s.enrollments),
        ("academicSessions", {}),
        ("courses", {}),
    ):
        s.collections[name] = CollectionStatus(
            name, complete, len(records), len(records), None if complete else "users: HTTP 503 after 6 attempts"
        )
    return s
