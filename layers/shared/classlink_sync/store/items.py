"""Plan states -> DynamoDB items, through the pynamodb models (one definition of every attribute).

The items are the unbound models' serialisation: stored key and attribute names (``un``, not
``username``), no table, so they serve BatchWriteItem, TransactWriteItems and single puts alike.
Raw items elsewhere (``account_key``, expressions in ``store.apply``) use the stored names too.

``check_account``, ``check_class``, ``check_enrollment``, ``check_school`` say, before anything is
sent, whether DynamoDB can hold a state's item (``store.limits``: item size, key sizes, empty
keys); an account is checked with the reservation key it holds (R5). A problem names the
OneRoster field to correct, for the R4 issue ``store.apply`` reports instead of writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.models import Model

from classlink_sync.rules.plan import AccountState, ClassState, EnrollmentState, SchoolState
from classlink_sync.store.limits import (
    EMPTY_KEY,
    ITEM_SIZE,
    MAX_ITEM_BYTES,
    KeySchema,
    LimitProblem,
    check_item,
)
from classlink_sync.store.models import (
    AccountItem,
    ClassItem,
    EnrollmentItem,
    ReservationItem,
    SchoolItem,
    enrollment_key,
    partition,
    signin_key,
)

Item = dict[str, dict[str, Any]]


def account_item(state: AccountState) -> Item:
    return AccountItem(
        pk=partition(state.district_id, "account", state.account_id),
        account_id=state.account_id,
        sourced_id=state.sourced_id,
        signin_key=signin_key(state.tenant_id, state.sourced_id) if state.sourced_id and state.tenant_id else None,
        username=state.username,
        username_norm=state.username_norm,
        email=state.email,
        given_name=state.given_name,
        family_name=state.family_name,
        role=state.role,
        active=state.active,
        enabled=state.enabled,
        school_ids=list(state.school_ids),
        grades=list(state.grades),
        managed=state.managed,
        digest=state.digest,
    ).serialize()


def account_key(district_id: str, account_id: str) -> Item:
    return {"pk": {"S": partition(district_id, "account", account_id)}, "sk": {"S": account_id}}


def reservation_item(username_norm: str, account_id: str, district_id: str) -> Item:
    return ReservationItem(username_norm=username_norm, account_id=account_id, district_id=district_id).serialize()


def class_item(state: ClassState) -> Item:
    return ClassItem(
        pk=partition(state.district_id, "class", state.class_id),
        class_id=state.class_id,
        sourced_id=state.sourced_id,
        title=state.title,
        class_code=state.class_code,
        school_id=state.school_id,
        course_id=state.course_id,
        subject=state.subject,
        term_ids=list(state.term_ids),
        grades=list(state.grades),
        archived=state.archived,
        managed=state.managed,
        digest=state.digest,
    ).serialize()


def enrollment_item(state: EnrollmentState) -> Item:
    key = enrollment_key(state.class_id, state.account_id)
    return EnrollmentItem(
        pk=partition(state.district_id, "enrollment", key),
        enrollment_key=key,
        class_id=state.class_id,
        account_id=state.account_id,
        sourced_id=state.sourced_id,
        class_sourced_id=state.class_sourced_id,
        user_sourced_id=state.user_sourced_id,
        role=state.role,
        primary=state.primary,
        begin_date=state.begin_date,
        end_date=state.end_date,
        archived=state.archived,
        managed=state.managed,
        digest=state.digest,
    ).serialize()


def school_item(state: SchoolState) -> Item:
    return SchoolItem(
        pk=partition(state.district_id, "school", state.sourced_id),
        sourced_id=state.sourced_id,
        name=state.name,
        identifier=state.identifier,
        archived=state.archived,
        digest=state.digest,
    ).serialize()


# -- limits (issue 9: record-level isolation) ----------------------------------------------------
def key_schema(model: type[Model]) -> KeySchema:
    """The stored key names of a model's table and of its secondary indexes."""
    attributes = model.get_attributes().values()
    hash_key = next(a.attr_name for a in attributes if a.is_hash_key)
    range_key = next((a.attr_name for a in attributes if a.is_range_key), None)
    index_hash: list[str] = []
    index_range: list[str] = []
    for index in model._indexes.values():
        for attribute in index.Meta.attributes.values():
            if attribute.is_hash_key:
                index_hash.append(attribute.attr_name)
            elif attribute.is_range_key:
                index_range.append(attribute.attr_name)
    return KeySchema(hash_key, range_key, tuple(index_hash), tuple(index_range))


ACCOUNT_KEYS = key_schema(AccountItem)
RESERVATION_KEYS = key_schema(ReservationItem)
CLASS_KEYS = key_schema(ClassItem)
ENROLLMENT_KEYS = key_schema(EnrollmentItem)
SCHOOL_KEYS = key_schema(SchoolItem)

# Stored attribute -> the OneRoster field a district administrator corrects (R4 issues).
ACCOUNT_FIELDS = {
    "sid": "sourcedId",
    "sig": "sourcedId",  # the sign-in key is "{tenant}#{sourcedId}"
    "un": "username",
    "unn": "username",
    "em": "email",
    "gn": "givenName",
    "fn": "familyName",
    "ro": "role",
    "sch": "orgs",
    "gr": "grades",
}
CLASS_FIELDS = {
    "sid": "sourcedId",
    "ti": "title",
    "cc": "classCode",
    "sc": "school",
    "co": "course",
    "su": "title",  # the subject comes from the title (R7)
    "te": "terms",
    "gr": "grades",
}
ENROLLMENT_FIELDS = {
    "sid": "sourcedId",
    "csid": "class",
    "usid": "user",
    "ro": "role",
    "bd": "beginDate",
    "ed": "endDate",
}
SCHOOL_FIELDS = {"sk": "sourcedId", "nm": "name", "idf": "identifier"}
NOUNS = {"user": "user", "class": "class", "enrollment": "enrolment", "org": "school"}


@dataclass(frozen=True, slots=True)
class ItemProblem:
    """An item DynamoDB would refuse, said for the district administrator (an R4 issue)."""

    entity: str  # as in Issue.entity: user | class | enrollment | org
    field: str  # the OneRoster field to correct
    message: str
    limit: LimitProblem


def _describe(entity: str, problem: LimitProblem, fields: dict[str, str], *, normalised: bool = False) -> ItemProblem:
    noun = NOUNS[entity]
    field = fields.get(problem.attribute, "sourcedId")
    outcome = f"so this {noun} was not created or updated; the rest of the sync was applied."
    if problem.kind == ITEM_SIZE:
        message = (
            f"This {noun}'s record would be {problem.size:,} bytes, over the {MAX_ITEM_BYTES // 1024} KB "
            f"a record of This is School may hold; its largest field is {field} "
            f"({problem.attribute_size:,} bytes), {outcome} Correct {field} in ClassLink."
        )
    elif problem.kind == EMPTY_KEY or problem.size == 0:
        message = f"This {noun}'s {field} is empty, {outcome} Fill in {field} in ClassLink."
    else:
        after = " after normalisation (Unicode NFKC and case-folding, R5)" if normalised else ""
        message = (
            f"This {noun}'s {field} is {problem.size:,} bytes long{after}; This is School can identify "
            f"a record by at most {problem.limit:,} bytes, {outcome} Shorten {field} in ClassLink."
        )
    return ItemProblem(entity, field, message, problem)


def check_reservation(username_norm: str) -> ItemProblem | None:
    """Whether a normalised username can key a reservation (R5)."""
    problem = check_item({RESERVATION_KEYS.hash_key: {"S": username_norm}}, RESERVATION_KEYS)
    return None if problem is None else _describe("user", problem, {"pk": "username"}, normalised=True)


def check_account(state: AccountState, item: Item | None = None) -> ItemProblem | None:
    """Whether DynamoDB can hold this account (``item``: its ``account_item``, if already built)
    and the reservation of the username it holds."""
    problem = check_item(item if item is not None else account_item(state), ACCOUNT_KEYS)
    if problem is not None:
        return _describe("user", problem, ACCOUNT_FIELDS)
    return check_reservation(state.username_norm)


def check_class(state: ClassState, item: Item | None = None) -> ItemProblem | None:
    problem = check_item(item if item is not None else class_item(state), CLASS_KEYS)
    return None if problem is None else _describe("class", problem, CLASS_FIELDS)


def check_enrollment(state: EnrollmentState, item: Item | None = None) -> ItemProblem | None:
    problem = check_item(item if item is not None else enrollment_item(state), ENROLLMENT_KEYS)
    return None if problem is None else _describe("enrollment", problem, ENROLLMENT_FIELDS)


def check_school(state: SchoolState, item: Item | None = None) -> ItemProblem | None:
    problem = check_item(item if item is not None else school_item(state), SCHOOL_KEYS)
    return None if problem is None else _describe("org", problem, SCHOOL_FIELDS)
