"""Unicode TR39 confusable detection (R5): ``skeleton`` and the key two usernames are compared by.

UTS #39 §4 defines ``skeleton(X)``: convert X to NFD; remove the Default_Ignorable_Code_Point
characters (since Unicode 15.1); replace each character by its *prototype* from ``confusables.txt``;
reapply NFD. Two strings are confusable when their skeletons are equal: "admin" written with a Cyrillic
a (U+0430) and the Latin "admin"; "paypal" with a Cyrillic er and a (U+0440, U+0430) and the Latin
one; "mary" with U+217F (SMALL ROMAN NUMERAL ONE THOUSAND) and "rnary".

The data. The standard library has no ``confusables.txt``. The ``confusable-homoglyphs`` package
ships Unicode's file (version 14.0) as ``confusables.json``, but not as the prototype mapping: it
keeps, for every character on either side of a line ``source ; prototype``, the list of the
characters on the other side, i.e. the *symmetric* relation, with the direction dropped (and RTL
characters wrapped in U+200E marks, as in the file's comments). The mapping is recovered exactly
because TR39's prototypes are fixed points (no prototype is itself a source) and every source has
one line:

- a character with several partners is a prototype (it is the target of each);
- a character with one partner whose partner has several is a source, and that partner its prototype;
- two characters that are each other's only partner come from one line that created both entries,
  source first, and the JSON keeps insertion order: the earlier key is the source.

Checked once against Unicode 14.0's ``confusables.txt``: the 6,307 sources recovered give exactly the
file's prototypes; the package's parser lost 4 lines (U+2028 and U+2029, whose comment breaks the
line, U+1F16D and U+3164), added back in ``_LOST_LINES``. ``_load`` refuses data that is not a
mapping of this shape (a source that is also a prototype), so a package upgrade that changed the
format fails loudly in the tests (tests/unit/rules/test_R5_confusables.py) instead of silently
detecting nothing.

The table is built lazily, once per process (about 0.1 s, 1 MB of JSON read), the first time a
username needs a skeleton: a sync with no new usernames never loads it.

Usernames "match" case-insensitively (SPEC §3), so the key compared is the skeleton of the
*normalised* username (``confusable_key``): two usernames with equal keys and different normal
forms look the same to a person but are different accounts.
"""

from __future__ import annotations

import json
import unicodedata
from functools import cache
from importlib import resources

# Lines of confusables.txt 14.0 the package's parser dropped (source -> prototype).
_LOST_LINES = {0x2028: " ", 0x2029: " ", 0x1F16D: "\u33c4\t\u20dd", 0x3164: "\u1160"}

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt), removed by skeleton (UTS #39 15.1).
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip


def _unwrap(text: str) -> str:
    """The package wraps right-to-left characters in U+200E marks (as the file's comments do)."""
    return text.replace("\u200e", "") if len(text) > 1 else text


def prototypes_from_symmetric(data: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    """The source -> prototype mapping of confusables.txt, recovered from the package's symmetric
    lists (see the module docstring); raises ValueError if the data does not have that shape."""
    order = {key: i for i, key in enumerate(data)}
    mapping: dict[str, str] = {}
    for key, partners in data.items():
        if len(partners) != 1:
            continue  # a prototype: the target of several sources
        partner = partners[0]["c"]
        if partner not in data:
            raise ValueError(f"confusables data: {key!r} -> {partner!r} has no entry of its own")
        if len(data[partner]) > 1 or order[key] < order[partner]:
            mapping[_unwrap(key)] = _unwrap(partner)
    for source, prototype in mapping.items():
        if len(source) != 1 or prototype in mapping:
            raise ValueError(f"confusables data is not a prototype mapping ({source!r} -> {prototype!r})")
    return mapping


def _load() -> dict[int, str | None]:
    text = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    mapping = prototypes_from_symmetric(json.loads(text))
    table: dict[int, str | None] = {ord(source): prototype for source, prototype in mapping.items()}
    table.update(_LOST_LINES)
    for first, last in _DEFAULT_IGNORABLE:
        for cp in range(first, last + 1):
            table[cp] = None
    return table


@cache
def _table() -> dict[int, str | None]:
    return _load()


@cache
def _ascii_prototypes() -> tuple[tuple[str, str], ...]:
    """The few ASCII sources ("1" -> "l", "0" -> "O", "m" -> "rn"...). Prototypes are never sources,
    so replacing them one after the other equals mapping every character at once."""
    return tuple((chr(cp), proto) for cp, proto in sorted(_table().items()) if cp < 0x80 and proto is not None)


def skeleton(text: str) -> str:
    """UTS #39 ``skeleton(X)``: NFD, without default-ignorables, each character by its prototype,
    NFD again. Equal skeletons mean the strings are confusable."""
    if text.isascii():  # NFD leaves ASCII as it is; a few str.replace instead of a per-character lookup
        for source, prototype in _ascii_prototypes():
            if source in text:
                text = text.replace(source, prototype)
        return text if text.isascii() else unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", text).translate(_table()))


def confusable_key(username_norm: str) -> str:
    """What two normalised usernames (``rules.normalise``) are compared by for R5 confusables."""
    return skeleton(username_norm)


def lookalike_characters(username: str, limit: int = 3) -> list[str]:
    """The characters of ``username`` that stand for another one (``U+0430 (CYRILLIC SMALL LETTER
    A)``), for a message an administrator can act on: these are what look like something else."""
    table = _table()
    found: list[str] = []
    for char in dict.fromkeys(unicodedata.normalize("NFD", username)):
        if ord(char) in table and not char.isascii():
            found.append(f"U+{ord(char):04X} ({unicodedata.name(char, '?')})")
            if len(found) == limit:
                break
    return found
