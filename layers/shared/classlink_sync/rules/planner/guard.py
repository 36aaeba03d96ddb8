"""R10, the mass-change guard: a run is held if it would remove or update too much of one entity type.

Relinks (R11) count as updates, so an unannounced replacement of sourcedIds is held too. The guard is
evaluated even when staff waive it (``approve``), so its reasons are kept.
"""

from __future__ import annotations

from classlink_sync.rules.plan import GuardResult
from classlink_sync.rules.planner import messages
from classlink_sync.rules.planner.state import PlanningState


def check_guard(st: PlanningState, *, waive: bool) -> GuardResult:
    """R10 over the plan built so far: the share of active held items removed, and updated or relinked."""
    t = st.settings.thresholds
    held_active = {
        "accounts": sum(1 for a in st.holdings.accounts if a.active),
        "classes": sum(1 for c in st.holdings.classes if not c.archived),
        "enrollments": st.enrollments.held_active,
    }
    if st.holdings.partial:  # R18 targeted delta: the district's totals, not the few items read
        held_active = {name: max(n, st.holdings.totals.get(name, 0)) for name, n in held_active.items()}
    reasons = []
    for name, removal in _REMOVALS:
        actions = getattr(st.plan, name)
        base = held_active[name]
        removed = len(actions[removal])
        updated = len(actions["update"]) + len(actions["relink"])
        if removed >= t.remove_minimum and removed > t.remove_fraction * base:
            reasons.append(messages.guard_removals(name, removed, base, t))
        if updated >= t.update_minimum and updated > t.update_fraction * base:
            reasons.append(messages.guard_updates(name, updated, base, t))
    if st.hold_removals is not None:  # R16: after a long pause or blackout, any removal is reviewed
        removals = sum(len(getattr(st.plan, name)[removal]) for name, removal in _REMOVALS) + len(
            st.plan.schools["archive"]
        )
        if removals:
            reasons.append(messages.guard_after_pause(removals, st.hold_removals))
    return GuardResult(
        tripped=bool(reasons) and not waive, reasons=reasons, waived=waive and bool(reasons), held=held_active
    )


_REMOVALS = (("accounts", "deactivate"), ("classes", "archive"), ("enrollments", "archive"))
