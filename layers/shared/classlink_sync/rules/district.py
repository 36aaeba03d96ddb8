"""A district's settings as the rules see them (SPEC R1, R7, R10). The store maps its item to this."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_SCHOOLS = "all"


@dataclass(slots=True, frozen=True)
class GuardThresholds:
    """R10: a run is held if it would remove or update too much of one entity type."""

    remove_fraction: float = 0.10  # more than 10% ...
    remove_minimum: int = 25  # ... and at least 25 records of one type
    update_fraction: float = 0.75
    update_minimum: int = 25


@dataclass(slots=True, frozen=True)
class DistrictSettings:
    district_id: str
    tenant_id: str  # ClassLink tenant id, always a string (R1)
    # R1/R3: the licensed schools' OneRoster sourcedIds, or None for "all".
    licensed_schools: frozenset[str] | None
    # R7: staff mapping of a class or course sourcedId to a subject name (resolves ambiguity).
    subject_overrides: dict[str, str] = field(default_factory=dict)
    thresholds: GuardThresholds = field(default_factory=GuardThresholds)

    def school_licensed(self, school_id: str | None) -> bool:
        if school_id is None:
            return False
        return self.licensed_schools is None or school_id in self.licensed_schools
