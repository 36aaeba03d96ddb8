"""The plan's enrolments as ``plan.StateRows`` (DESIGN.md "Memory matters"): one reference per item
(the OneRoster record, or the held item to archive) that builds each ``EnrollmentState`` when read,
and the digest of that state computed from the record's field values (so an unchanged enrolment
builds no object).
"""

from __future__ import annotations

from collections.abc import Sequence

from classlink_sync.oneroster.records import EnrollmentRecord
from classlink_sync.rules.digest import ENC_FALSE, ENC_NONE, ENC_TRUE, digest_encoded
from classlink_sync.rules.holdings import HeldEnrollment
from classlink_sync.rules.plan import EnrollmentState, StateRows
from classlink_sync.rules.planner.state import CLASS_SYNCED, ClassOutcome, PlanningState


def enrollment_digest(class_id: str, account_id: str, district_id: str, enr: EnrollmentRecord) -> str:
    """The digest of the ``EnrollmentState`` a synced enrolment record gives (``digest_of`` fast path)."""
    begin = enr.begin_date
    end = enr.end_date
    return digest_encoded(
        (
            class_id,
            account_id,
            district_id,
            enr.sourced_id,
            enr.class_id,
            enr.user_id,
            enr.role,  # type: ignore[arg-type]
            ENC_TRUE if enr.primary else ENC_FALSE,
            ENC_NONE if begin is None else begin,
            ENC_NONE if end is None else end,
            ENC_TRUE,
        )
    )


class EnrollmentMaker:
    """Builds an ``EnrollmentState`` from a plan row (``plan.StateRows``): a synced enrolment record
    (its class and account ids looked up), or a held enrolment to archive (R9)."""

    __slots__ = ("account_ids", "class_ids", "district_id")

    def __init__(self, district_id: str, class_ids: dict[str, str], account_ids: dict[str, str]) -> None:
        self.district_id = district_id
        self.class_ids = class_ids
        self.account_ids = account_ids

    def __call__(self, row: EnrollmentRecord | HeldEnrollment) -> EnrollmentState:
        district = self.district_id
        if isinstance(row, HeldEnrollment):
            return EnrollmentState(
                row.class_id,
                row.account_id,
                district,
                row.sourced_id,
                row.class_sourced_id,
                row.user_sourced_id,
                row.role,
                row.primary,
                row.begin_date,
                row.end_date,
                True,
                True,
                row.digest,
            )
        class_id = self.class_ids[row.class_id]  # type: ignore[index]
        account_id = self.account_ids[row.user_id]  # type: ignore[index]
        return EnrollmentState(
            class_id,
            account_id,
            district,
            row.sourced_id,
            row.class_id or "",
            row.user_id or "",
            row.role or "",
            row.primary,
            row.begin_date,
            row.end_date,
            False,
            True,
            enrollment_digest(class_id, account_id, district, row),
        )


def enrollment_rows(st: PlanningState, classes: ClassOutcome) -> dict[str, Sequence[EnrollmentState]]:
    """The plan's enrolment rows per action, each building its state from the synced ids."""
    class_ids = {sid: info.class_id for sid, info in classes.info.items() if info.kind == CLASS_SYNCED}
    maker = EnrollmentMaker(st.district, class_ids, st.accounts.acct_of)
    return {action: StateRows(rows, maker) for action, rows in st.enrollments.rows.items()}
