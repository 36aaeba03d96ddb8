"""OneRoster's vocabulary as the planner reads it: roles, org types, and the entity each collection
holds (the names of ``Plan.counts`` and ``Issue.entity``)."""

from __future__ import annotations

# OneRoster's user roles (1.1, and the few 1.2 added): any other value is malformed (R4), not a role
# we do not sync (R3), so a held user whose role becomes garbage is stale, not removed (R9).
KNOWN_ROLES = frozenset(
    {
        "administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher",
        "districtadministrator", "siteadministrator", "systemadministrator", "principal",
    }
)  # fmt: skip
# OneRoster's org types: another value (or none) on an org we hold as a school is malformed (R4).
ORG_TYPES = frozenset({"department", "school", "district", "local", "state", "national"})

ENTITY_OF_COLLECTION = {
    "users": "user",
    "teachers": "user",
    "students": "user",
    "classes": "class",
    "enrollments": "enrollment",
    "orgs": "org",
    "schools": "org",
    "courses": "course",
    "academicSessions": "academicSession",
    "terms": "academicSession",
}
