"""Account directory operations outside a sync: the pre-onboarding import (SPEC §2), the R2 reset,
the sign-in lookup (S2), the export, and the R13 read-only check every writer calls."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classlink_sync.rules import readonly
from classlink_sync.rules.normalise import normalise
from classlink_sync.store import districts as _districts
from classlink_sync.store.context import Store, resolve
from classlink_sync.store.dynamo import TransactionCancelled
from classlink_sync.store.models import SIGNIN_INDEX, district_of, partition, partitions, signin_key
from classlink_sync.store.view import _b, _s, _strings

IMPORT_COLUMNS = ("username", "email", "given_name", "family_name", "role")
IMPORT_ROLES = frozenset({"teacher", "student", "administrator", "aide"})


# -- R13 ----------------------------------------------------------------------------------------
ReadOnlyError = readonly.ManagedByClassLink  # one exception type for every R13 refusal


def is_managed(item: Any) -> bool:
    """R13: whether an account, class or enrolment is managed by ClassLink. Accepts Held*/State
    records and models (``managed``, ``rules.readonly``) and raw or plain dicts (``managed`` or
    the stored ``mg``)."""
    if isinstance(item, Mapping):
        value = item.get("managed", item.get("mg", False))
        return bool(value.get("BOOL") if isinstance(value, Mapping) else value)
    return readonly.is_managed(item)


def _label(item: Any) -> str:
    kind = {
        "HeldAccount": "account",
        "AccountState": "account",
        "HeldClass": "class",
        "ClassState": "class",
        "HeldEnrollment": "enrolment",
        "EnrollmentState": "enrolment",
    }.get(type(item).__name__, "item")
    for name in ("account_id", "class_id", "sourced_id", "sk"):
        value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
        if value:
            return f"{kind} {value.get('S') if isinstance(value, Mapping) else value}"
    return kind


def assert_writable(item: Any) -> None:
    """R13: raise ``ReadOnlyError`` if ``item`` is managed by ClassLink (only the sync writes it);
    the rule and its message are ``rules.readonly.check_writable``'s."""
    if is_managed(item):
        readonly.check_writable(_AlwaysManaged(), what=_label(item))


class _AlwaysManaged:
    managed = True


def assert_can_create_class(district_id: str, store: Store | None = None) -> None:
    """R13: no custom classes in a ClassLink district (one onboarded in the districts table)."""
    try:
        _districts.get_district(district_id, store)
    except _districts.DistrictNotFound:
        uses_classlink = False
    else:
        uses_classlink = True
    readonly.check_can_create_class(uses_classlink)


# -- import (SPEC §2) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RowError:
    row: int  # 1-based data row (the header is row 0)
    username: str | None
    message: str


@dataclass
class ImportResult:
    created: list[tuple[int, str]] = field(default_factory=list)  # (row, account id)
    errors: list[RowError] = field(default_factory=list)


def import_accounts(district_id: str, csv_path: str | Path, store: Store | None = None) -> ImportResult:
    """Bring accounts that existed before onboarding into the directory (SPEC §2), so R5 and R6 see
    them. Columns: username, email, given_name, family_name, role. Each row gets a new account id
    and its username reservation in one transaction (nothing half-written); a duplicate in the
    file, a taken username or a bad row is reported per row."""
    store = resolve(store)
    _districts.get_district(district_id, store)  # must exist
    settings = store.settings
    result = ImportResult()
    seen: dict[str, int] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("username", "role") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {', '.join(missing)}; expected {IMPORT_COLUMNS}")
        for number, row in enumerate(reader, start=1):
            username = (row.get("username") or "").strip()
            norm = normalise(username)
            role = (row.get("role") or "").strip().lower()
            if norm is None:
                result.errors.append(RowError(number, None, "R4: username is empty"))
                continue
            if role not in IMPORT_ROLES:
                result.errors.append(
                    RowError(number, username, f"R4: role {role!r} is not one of {sorted(IMPORT_ROLES)}")
                )
                continue
            if norm in seen:
                result.errors.append(RowError(number, username, f"R5: username duplicates row {seen[norm]}"))
                continue
            seen[norm] = number
            account_id = uuid.uuid4().hex
            email = (row.get("email") or "").strip() or None
            account = store.models.Account(
                pk=partition(district_id, "account", account_id),
                account_id=account_id,
                username=username,
                username_norm=norm,
                email=email,
                given_name=(row.get("given_name") or "").strip() or None,
                family_name=(row.get("family_name") or "").strip() or None,
                role=role,
                active=True,
                enabled=True,
                managed=False,
                digest="",
            )
            new = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": "pk"},
            }
            try:
                store.calls.transact_write(
                    [
                        {
                            "Put": {
                                "TableName": settings.reservations_table,
                                "Item": {"pk": {"S": norm}, "a": {"S": account_id}, "d": {"S": district_id}},
                                **new,
                            }
                        },
                        {"Put": {"TableName": settings.accounts_table, "Item": account.serialize(), **new}},
                    ]
                )
            except TransactionCancelled:
                result.errors.append(
                    RowError(
                        number,
                        username,
                        f"R5: the username '{username}' is already reserved by another account; not imported",
                    )
                )
                continue
            result.created.append((number, account_id))
    return result


# -- R2 reset -----------------------------------------------------------------------------------
@dataclass
class ResetResult:
    accounts_deactivated: int = 0
    classes_archived: int = 0
    enrollments_archived: int = 0


def _district_items(store: Store, table: str, district_id: str, entity: str) -> Iterable[dict[str, Any]]:
    for pk in partitions(district_id, entity):
        for page in store.calls.query_pages(table, pk):
            yield from page


def _put_all(store: Store, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        store.calls.batch_write(table, [{"PutRequest": {"Item": i}} for i in items[start : start + 25]])


def reset_district(district_id: str, store: Store | None = None) -> ResetResult:
    """R2: archive the district's classes and enrolments and deactivate its accounts, destroying
    nothing; idempotent (items already in that state are not written). Marks the reset done."""
    store = resolve(store)
    _districts.get_district(district_id, store)
    settings = store.settings
    result = ResetResult()
    for table, entity, flag, value in (
        (settings.accounts_table, "account", "ac", False),
        (settings.classes_table, "class", "ar", True),
        (settings.enrollments_table, "enrollment", "ar", True),
    ):
        changed = []
        for item in _district_items(store, table, district_id, entity):
            if _b(item, flag) != value:
                changed.append({**item, flag: {"BOOL": value}})
        _put_all(store, table, changed)
        if entity == "account":
            result.accounts_deactivated = len(changed)
        elif entity == "class":
            result.classes_archived = len(changed)
        else:
            result.enrollments_archived = len(changed)
    _districts.mark_reset(district_id, store)
    return result


# -- sign-in lookup (S2, S3) --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SigninAccount:
    account_id: str
    district_id: str
    role: str
    active: bool
    managed: bool
    username: str
    email: str | None


def find_signin_account(tenant_id: str | int, sourced_id: str, store: Store | None = None) -> SigninAccount | None:
    """The account linked to (ClassLink tenant, sourcedId), in one Query of the ``signin`` index;
    None if we hold no such account (S3: "not shared yet"). Tenant ids compare as strings (R1)."""
    store = resolve(store)
    key = signin_key(_districts.tenant_key(tenant_id), str(sourced_id))
    pages = store.calls.query_pages(store.settings.accounts_table, key, index=SIGNIN_INDEX, key_name="sig", limit=5)
    items = next(pages, [])
    if not items:
        return None
    items.sort(key=lambda i: not _b(i, "ac"))  # an active account first, should two ever match
    item = items[0]
    return SigninAccount(
        account_id=item["sk"]["S"],
        district_id=district_of(item["pk"]["S"]),
        role=item["ro"]["S"],
        active=_b(item, "ac"),
        managed=_b(item, "mg"),
        username=item["un"]["S"],
        email=_s(item, "em"),
    )


# -- export -------------------------------------------------------------------------------------
def export_district(district_id: str, store: Store | None = None) -> dict[str, list[dict[str, Any]]]:
    """The district's synced (ClassLink-managed) accounts, classes and enrolments as plain dicts,
    sorted by sourcedId (``export ID --json``)."""
    store = resolve(store)
    settings = store.settings
    accounts = [
        {
            "sourcedId": _s(i, "sid"),
            "account_id": i["sk"]["S"],
            "username": i["un"]["S"],
            "email": _s(i, "em"),
            "given_name": _s(i, "gn"),
            "family_name": _s(i, "fn"),
            "role": i["ro"]["S"],
            "active": _b(i, "ac"),
            "schools": list(_strings(i, "sch")),
        }
        for i in _district_items(store, settings.accounts_table, district_id, "account")
        if _b(i, "mg") and _s(i, "sid") is not None
    ]
    classes = [
        {
            "sourcedId": i["sid"]["S"],
            "class_id": i["sk"]["S"],
            "title": i["ti"]["S"],
            "subject": _s(i, "su"),
            "school": _s(i, "sc"),
            "terms": list(_strings(i, "te")),
            "active": not _b(i, "ar"),
        }
        for i in _district_items(store, settings.classes_table, district_id, "class")
        if _b(i, "mg")
    ]
    enrollments = [
        {
            "sourcedId": i["sid"]["S"],
            "class_id": i["c"]["S"],
            "account_id": i["a"]["S"],
            "classSourcedId": _s(i, "csid"),
            "userSourcedId": _s(i, "usid"),
            "role": i["ro"]["S"],
            "primary": _b(i, "pr"),
            "active": not _b(i, "ar"),
        }
        for i in _district_items(store, settings.enrollments_table, district_id, "enrollment")
        if _b(i, "mg")
    ]
    for rows in (accounts, classes, enrollments):
        rows.sort(key=lambda r: (r["sourcedId"] or "", str(r.get("account_id", ""))))
    return {"accounts": accounts, "classes": classes, "enrollments": enrollments}
