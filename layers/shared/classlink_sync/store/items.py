"""Plan states -> DynamoDB items, through the pynamodb models (one definition of every attribute).

The items are the unbound models' serialisation: only key and attribute names, no table, so they
serve BatchWriteItem, TransactWriteItems and single puts alike.
"""

from __future__ import annotations

from typing import Any

from classlink_sync.rules.plan import AccountState, ClassState, EnrollmentState, SchoolState
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
        sk=state.account_id,
        sid=state.sourced_id,
        sig=signin_key(state.tenant_id, state.sourced_id) if state.sourced_id and state.tenant_id else None,
        un=state.username,
        unn=state.username_norm,
        em=state.email,
        gn=state.given_name,
        fn=state.family_name,
        ro=state.role,
        ac=state.active,
        en=state.enabled,
        sch=list(state.school_ids),
        gr=list(state.grades),
        mg=state.managed,
        dg=state.digest,
    ).serialize()


def account_key(district_id: str, account_id: str) -> Item:
    return {"pk": {"S": partition(district_id, "account", account_id)}, "sk": {"S": account_id}}


def reservation_item(username_norm: str, account_id: str, district_id: str) -> Item:
    return ReservationItem(pk=username_norm, a=account_id, d=district_id).serialize()


def class_item(state: ClassState) -> Item:
    return ClassItem(
        pk=partition(state.district_id, "class", state.class_id),
        sk=state.class_id,
        sid=state.sourced_id,
        ti=state.title,
        cc=state.class_code,
        sc=state.school_id,
        co=state.course_id,
        su=state.subject,
        te=list(state.term_ids),
        gr=list(state.grades),
        ar=state.archived,
        mg=state.managed,
        dg=state.digest,
    ).serialize()


def enrollment_item(state: EnrollmentState) -> Item:
    key = enrollment_key(state.class_id, state.account_id)
    return EnrollmentItem(
        pk=partition(state.district_id, "enrollment", key),
        sk=key,
        c=state.class_id,
        a=state.account_id,
        sid=state.sourced_id,
        csid=state.class_sourced_id,
        usid=state.user_sourced_id,
        ro=state.role,
        pr=state.primary,
        bd=state.begin_date,
        ed=state.end_date,
        ar=state.archived,
        mg=state.managed,
        dg=state.digest,
    ).serialize()


def school_item(state: SchoolState) -> Item:
    return SchoolItem(
        pk=partition(state.district_id, "school", state.sourced_id),
        sk=state.sourced_id,
        nm=state.name,
        idf=state.identifier,
        ar=state.archived,
        dg=state.digest,
    ).serialize()
