"""R13: the roster of a ClassLink district is read-only outside the sync.

Every account, class and enrolment the planner writes carries ``managed=True``. Any writer other
than the sync (profile edits, class management, admin tools) calls ``check_writable`` before editing
an item and ``check_can_create_class`` before creating a class; both raise ``ManagedByClassLink``
with a message that says where the change must be made. Assigning work to individual students within
a class is not a roster edit and is not checked here (SPEC R13).
"""

from __future__ import annotations

from typing import Protocol


class ManagedByClassLink(PermissionError):
    """Raised when something other than the ClassLink sync tries to edit a managed item (R13)."""


class _Managed(Protocol):
    @property
    def managed(self) -> bool: ...


def is_managed(item: object) -> bool:
    """True for an item synced from ClassLink (anything with a true ``managed`` attribute)."""
    return bool(getattr(item, "managed", False))


def check_writable(item: _Managed | object, *, what: str = "this item") -> None:
    """Refuse an edit of an item managed by ClassLink (R13). Items not managed pass."""
    if is_managed(item):
        raise ManagedByClassLink(
            f"R13: managed by ClassLink: {what} cannot be edited in This is School. "
            "Make the change in ClassLink; it appears here after the next daily sync."
        )


def check_can_create_class(district_uses_classlink: bool) -> None:
    """Refuse a custom class in a district rostered by ClassLink (R13)."""
    if district_uses_classlink:
        raise ManagedByClassLink(
            "R13: managed by ClassLink: classes in this district come from ClassLink and custom classes "
            "cannot be created. Create the class in ClassLink, or assign work to individual students "
            "within an existing class."
        )
