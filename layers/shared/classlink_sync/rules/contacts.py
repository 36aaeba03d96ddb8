"""R19: a district's contact emails, set at onboarding and changed by staff. Pure.

An address is ``local@domain`` in ASCII (SES sends to 7-bit addresses; an internationalised
domain is written in its ``xn--`` form): a dot-atom local part of at most 64 characters, a domain
of at least two labels, at most 254 characters in all. The domain is lower-cased (it is not case
sensitive), the local part kept as typed; the same address twice (ignoring case) is kept once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from classlink_sync.errors import OnboardingError

MAX_CONTACTS = 10
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def contact_problem(value: str) -> str | None:
    """Why ``value`` is not a contact address we can send to, or None if it is one."""
    address = value.strip()
    if not address:
        return "is empty"
    if not address.isascii():
        return "has non-ASCII characters (write an international domain in its xn-- form)"
    if len(address) > 254:
        return "is longer than 254 characters"
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "is not an email address (expected name@domain)"
    if len(local) > 64 or not _LOCAL.match(local):
        return "has an invalid part before the @"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return "has an invalid domain (expected name@school.org)"
    return None


def normalise_contact(value: str) -> str:
    """The address as stored: trimmed, domain lower-cased (call ``contact_problem`` first)."""
    local, _, domain = value.strip().rpartition("@")
    return f"{local}@{domain.lower()}"


def check_contacts(values: Iterable[str]) -> tuple[str, ...]:
    """The addresses as stored, in order, each once; ``OnboardingError`` naming the first one that
    is malformed, or when there are more than ``MAX_CONTACTS``."""
    kept: dict[str, str] = {}
    for value in values:
        problem = contact_problem(value)
        if problem is not None:
            raise OnboardingError(f"R19: contact email {value.strip()!r} {problem}")
        address = normalise_contact(value)
        kept.setdefault(address.casefold(), address)
    if len(kept) > MAX_CONTACTS:
        raise OnboardingError(f"R19: a district has at most {MAX_CONTACTS} contact emails, not {len(kept)}")
    return tuple(kept.values())


def change_contacts(current: Iterable[str], action: str, values: Iterable[str]) -> tuple[str, ...]:
    """``set`` replaces the list, ``add`` appends, ``remove`` drops (ignoring case; removing an
    address that is not there is an error naming it). Returns the checked list."""
    current = tuple(current)
    values = list(values)
    if action == "set":
        return check_contacts(values)
    if action == "add":
        return check_contacts([*current, *values])
    if action == "remove":
        drop = {normalise_contact(v).casefold(): v.strip() for v in values}
        held = {c.casefold() for c in current}
        missing = [typed for key, typed in drop.items() if key not in held]
        if missing:
            raise OnboardingError(f"R19: {', '.join(missing)}: not a contact of this district")
        return check_contacts(c for c in current if c.casefold() not in drop)
    raise ValueError(f"unknown contacts action {action!r}; expected set, add or remove")
