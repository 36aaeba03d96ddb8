"""The platform's limits on what one OneRoster record may carry (R4), in one place, and the checks of
single values against them.

A record that breaks one of these is an R4 issue naming its sourcedId and field (the planner's intake
stage, ``planner.intake.screen_records``), never a failed sync; a record we hold keeps its last good
state (R9 stale).

Why these values (the store is DynamoDB: one item per account, class, enrolment and school, see
``store.models``):

- **sourcedIds: at most 256 UTF-8 bytes** (``MAX_ID_BYTES``). Ids are parts of keys: a school's sort
  key *is* its sourcedId (DynamoDB allows 1,024 bytes), the sign-in index's partition key is
  ``{tenant}#{sourcedId}`` (2,048 bytes), and classes, enrolments, courses and terms store the ids
  they refer to. Real ids are GUIDs (36 bytes) or SIS numbers; 256 leaves room and keeps every key far
  below DynamoDB's limits.
- **usernames: at most 256 characters and 1,024 UTF-8 bytes after normalisation** (NFKC, case-fold,
  trim: SPEC §3). The normalised username is the partition key of its R5 reservation (2,048 bytes at
  most). The limit applies *after* NFKC because NFKC can expand: one U+FDFA (an Arabic ligature)
  becomes 18 characters, so 120 of them are 2,160 characters (over 4 KB of UTF-8).
- **names, titles, codes and identifiers: at most 256 characters, before and after NFKC**
  (``MAX_NAME_CHARS``). Long enough for any real person, class or school, short enough that a page or
  an email that shows them stays readable.
- **emails: at most 254 characters** (RFC 5321's limit on a path, less its angle brackets), one
  ``@``, a plausible ``local@domain.tld`` (``email_problem``). A malformed email is a *warning*: the
  account syncs without one and it is never used for linking (R6).
- **lists (a user's orgs and grades, a class's terms and grades): at most 1,000 entries**
  (``MAX_LIST_ITEMS``), and the whole item at most ``MAX_ITEM_BYTES`` (300 KB): DynamoDB refuses
  items over 400 KB, and the rest is left for attribute names, digests, flags and keys.

Characters: every text refuses control characters (Cc, NUL included), lone surrogates, line and
paragraph separators and the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069) that
make text display in another order than it is stored. Usernames, which people type and compare,
refuse more (``username_problem``): every format character (Cf: zero-width spaces and joiners, the
BOM, U+2060...), private-use and unassigned code points, every space but U+0020, and the invisible
letters that are not format characters (Hangul fillers U+115F, U+1160, U+3164, U+FFA0, variation
selectors, U+034F, U+2800...). Names keep the joiners and direction marks (ZWJ, ZWNJ, LRM, RLM) that
Persian, Arabic or Indic names legitimately contain.

Every check has a fast path for the common case, a short printable ASCII string (``str.isascii`` and
``len`` before any normalisation): the intake stage runs them over every record of districts with
millions of enrolments.
"""

from __future__ import annotations

import re
import unicodedata

# ---- DynamoDB's own limits (store.models), which the values below stay inside
DYNAMODB_ITEM_BYTES = 400 * 1024
DYNAMODB_PARTITION_KEY_BYTES = 2048
DYNAMODB_SORT_KEY_BYTES = 1024

# ---- the platform's limits
MAX_ID_BYTES = 256  # any sourcedId, ours or a reference (UTF-8 bytes)
MAX_USERNAME_CHARS = 256  # after NFKC + case-fold + trim
MAX_USERNAME_BYTES = 1024  # UTF-8 of the normalised username: the R5 reservation's partition key
MAX_NAME_CHARS = 256  # given/family names, class titles and codes, school and course names, grades
MAX_EMAIL_CHARS = 254
MAX_EMAIL_LOCAL_CHARS = 64
MAX_LIST_ITEMS = 1000
MAX_ITEM_BYTES = 300 * 1024  # a record's stored item, estimated (``item_bytes``)
MAX_TENANT_ID_BYTES = 64  # tenant ids are numbers (SPEC §1), kept as text

# The keys built from these stay within DynamoDB's limits (store.models): the reservation key is the
# normalised username, a school's sort key its sourcedId, the sign-in key "{tenant}#{sourcedId}".
# A record's values that are printable ASCII and MAX_NAME_CHARS together are within every limit (the
# intake's fast path relies on it). Checked once, at import: a limit changed beyond these fails loudly.
for _holds, _what in (
    (MAX_USERNAME_BYTES <= DYNAMODB_PARTITION_KEY_BYTES, "a username's reservation key"),
    (MAX_ID_BYTES <= DYNAMODB_SORT_KEY_BYTES, "a school's sort key"),
    (MAX_TENANT_ID_BYTES + 1 + MAX_ID_BYTES <= DYNAMODB_PARTITION_KEY_BYTES, "the sign-in key"),
    (MAX_ITEM_BYTES < DYNAMODB_ITEM_BYTES, "a record's item"),
    (min(MAX_ID_BYTES, MAX_USERNAME_CHARS) >= MAX_NAME_CHARS, "the intake's fast path"),
):
    if not _holds:
        raise RuntimeError(f"rules.limits: the limits no longer fit {_what} (DynamoDB's limits, or MAX_NAME_CHARS)")

# Controls (C0, DEL, C1), line/paragraph separators, bidi embeddings/overrides/isolates, surrogates.
_BAD_IN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Invisible or blank characters that ``str.isprintable`` lets through (they are letters or marks):
# Hangul fillers, the combining grapheme joiner, Khmer inherent vowels, Mongolian variation selectors,
# variation selectors, Braille blank, object replacement and replacement characters.
_INVISIBLE_LETTERS = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0\ufffc\ufffd\U000e0100-\U000e01ef]"
)
_EMAIL_ASCII = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def printable_ascii(text: str) -> bool:
    """Whether ``text`` is printable ASCII (U+0020-U+007E): the bulk fast path (``str.isprintable``
    looks each character up; this deletes the printable bytes in one C loop, ~15x faster)."""
    return text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII)


def code_point(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: how a message names a character nobody can see."""
    name = unicodedata.name(char, "") if not "\ud800" <= char <= "\udfff" else "a lone surrogate"
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _too_long(what: str, limit: int) -> str:
    return f"is longer than {limit} {what}"


def utf8_len(value: str) -> int:
    """UTF-8 bytes of ``value`` (a lone surrogate counts 3, as it would if it were encoded)."""
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def id_problem(value: str) -> str | None:
    """A sourcedId: at most ``MAX_ID_BYTES``, no control or invisible-ordering character."""
    if value.isascii():
        if len(value) <= MAX_ID_BYTES and value.isprintable():
            return None
        if len(value) > MAX_ID_BYTES:
            return _too_long("bytes", MAX_ID_BYTES)
    elif utf8_len(value) > MAX_ID_BYTES:
        return _too_long("bytes (UTF-8)", MAX_ID_BYTES)
    bad = _BAD_IN_TEXT.search(value)
    return None if bad is None else f"contains the invisible character {code_point(bad.group())}"


def text_problem(value: str, limit: int = MAX_NAME_CHARS) -> str | None:
    """A name, title or code: at most ``limit`` characters before and after NFKC, no control or
    invisible-ordering character."""
    if value.isascii():
        if len(value) <= limit and value.isprintable():
            return None
        if len(value) > limit:
            return _too_long("characters", limit)
    elif len(value) > limit or len(unicodedata.normalize("NFKC", value)) > limit:
        return _too_long("characters (after Unicode NFKC normalisation)", limit)
    bad = _BAD_IN_TEXT.search(value)
    return None if bad is None else f"contains the invisible character {code_point(bad.group())}"


def username_problem(value: str) -> str | None:
    """A username: at most ``MAX_USERNAME_CHARS`` characters and ``MAX_USERNAME_BYTES`` bytes once
    normalised (NFKC, case-fold, trim), and only visible characters (spaces: U+0020 only)."""
    if value.isascii():
        if len(value) <= MAX_USERNAME_CHARS and value.isprintable():
            return None
        if len(value.strip()) > MAX_USERNAME_CHARS:
            return _too_long("characters", MAX_USERNAME_CHARS)
    else:
        if len(value) > 4 * MAX_USERNAME_CHARS:  # no normalisation of a huge value: it fails anyway
            return _too_long("characters", MAX_USERNAME_CHARS)
        nfkc = unicodedata.normalize("NFKC", value)
        norm = nfkc.casefold().strip()
        if len(norm) > MAX_USERNAME_CHARS or utf8_len(norm) > MAX_USERNAME_BYTES:
            return _too_long("characters (after Unicode NFKC normalisation)", MAX_USERNAME_CHARS)
        for text in (value, nfkc):
            bad = _invisible_in_username(text)
            if bad is not None:
                return f"contains the invisible character {code_point(bad)}"
        return None
    bad = _invisible_in_username(value)
    return None if bad is None else f"contains the invisible character {code_point(bad)}"


def _invisible_in_username(text: str) -> str | None:
    """The first character of ``text`` a username may not contain, or None."""
    if text.isprintable():  # no Cc, Cf, Cs, Co, Cn, Zl, Zp, nor a space other than U+0020
        found = _INVISIBLE_LETTERS.search(text)
        return None if found is None else found.group()
    for char in text:
        if not char.isprintable() or _INVISIBLE_LETTERS.match(char):
            return char
    return None  # not reached


def email_problem(value: str) -> str | None:
    """An email: a plausible ``local@domain.tld`` of at most ``MAX_EMAIL_CHARS`` characters, without
    whitespace or control characters; None if it is one."""
    if len(value) > MAX_EMAIL_CHARS:
        return _too_long("characters", MAX_EMAIL_CHARS)
    if value.isascii() and _EMAIL_ASCII.fullmatch(value) and value.index("@") <= MAX_EMAIL_LOCAL_CHARS:
        return None
    if value.count("@") != 1:
        return "is not an email address (it must contain exactly one @)"
    for char in value:
        if char.isspace() or not char.isprintable() or _INVISIBLE_LETTERS.match(char):
            return f"contains the invisible or blank character {code_point(char)}"
    local, domain = value.split("@")
    labels = domain.split(".")
    plausible = (
        0 < len(local) <= MAX_EMAIL_LOCAL_CHARS
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and len(labels) >= 2
        and all(label and not label.startswith("-") and not label.endswith("-") for label in labels)
        and all(c.isalnum() or c == "-" for label in labels for c in label)
        and len(labels[-1]) >= 2
        and labels[-1].isalpha()
    )
    return None if plausible else "is not a plausible email address (name@domain.tld)"


def item_bytes(strings: tuple[str | None, ...], *lists: tuple[str, ...]) -> int:
    """An upper estimate of a stored item's size: its strings' UTF-8 bytes (stored values that are
    stored twice, such as the username and its normal form, are passed twice), 4 bytes of overhead
    per list entry, and 1 KB for attribute names, flags, keys and the digest."""
    total = 1024
    for value in strings:
        if value is not None:
            total += utf8_len(value)
    for values in lists:
        total += 4 * len(values) + sum(utf8_len(v) for v in values)
    return total
