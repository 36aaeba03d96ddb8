"""The account directory as the SSO flow sees it (S2, S3). The handler wires it to the store;
tests pass a fake. The core never imports the store."""

from __future__ import annotations

from typing import Protocol


class SigninAccountView(Protocol):
    """The fields of the store's ``SigninAccount`` that decide a sign-in (S3)."""

    @property
    def account_id(self) -> str: ...
    @property
    def district_id(self) -> str: ...
    @property
    def role(self) -> str: ...  # "teacher" | "student" | ...
    @property
    def active(self) -> bool: ...
    @property
    def managed(self) -> bool: ...  # synced from ClassLink (R13)
    @property
    def username(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...


class AccountDirectory(Protocol):
    """Account lookup for SSO. ``find`` is one read keyed by (tenant id, sourcedId) (S2)."""

    def find(self, tenant_id: str, sourced_id: str) -> SigninAccountView | None:
        """The account synced from that tenant's user, or None."""
        ...

    def district_for_tenant(self, tenant_id: str) -> str | None:
        """The id of the district onboarded with that tenant (R1), or None if not onboarded."""
        ...
