"""R7: which This is School subject a class teaches, from its title or its course's title.

One configurable list (``DEFAULT_SUBJECTS``): each subject has its name and common variants
(``Chinese`` for Mandarin, ``Español`` for Spanish, ...), and optionally phrases that contain a
variant without meaning the subject (``Latin America``). Matching is whole-word, case-insensitive and
accent-insensitive: "AP Chinese Language" -> Mandarin, "Spanish 2 - Period 3" -> Spanish,
"Frenchtown History" -> nothing, "French/Spanish club" -> ambiguous.

The class title is read first; only when it names no subject is the course title read. Staff
overrides (``DistrictSettings.subject_overrides``, by class sourcedId, then course sourcedId) win over
both and are how an ambiguous class is resolved.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

# Subject name -> (variants, phrases that do not count). The name itself is always a variant.
DEFAULT_SUBJECTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "French": (("French", "Français"), ()),
    "Spanish": (("Spanish", "Español", "Castellano"), ()),
    "German": (("German", "Deutsch"), ()),
    "Italian": (("Italian", "Italiano"), ()),
    "Mandarin": (("Mandarin", "Chinese", "Mandarin Chinese"), ()),
    "Japanese": (("Japanese", "Nihongo"), ()),
    "Latin": (("Latin",), ("Latin America", "Latin American", "Latin Jazz", "Latin Dance")),
    "Portuguese": (("Portuguese", "Português"), ()),
    "Arabic": (("Arabic",), ()),
    "Russian": (("Russian",), ()),
}


def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKD, drop combining marks, case-fold."""
    if text.isascii():
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    if not phrases:
        return None
    # Longest first so that "mandarin chinese" is one match; whole words only.
    alternatives = sorted({re.escape(fold(p)) for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


@dataclass(frozen=True, slots=True)
class SubjectMatch:
    """The outcome of R7 for one class: exactly one of the three cases holds."""

    subject: str | None  # the subject the class gets
    candidates: tuple[str, ...]  # the subjects named (two or more = ambiguous)
    source: str  # "override" | "class title" | "course title" | "none"

    @property
    def ambiguous(self) -> bool:
        return self.subject is None and len(self.candidates) > 1


class SubjectCatalogue:
    """The configurable subject list with its matcher (R7)."""

    def __init__(self, subjects: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
        self.names: tuple[str, ...] = tuple(subjects)
        self._canonical: dict[str, str] = {}
        exclusions: list[str] = []
        for name, (variants, excluded) in subjects.items():
            for word in (name, *variants):
                self._canonical[fold(word).strip()] = name
            exclusions.extend(excluded)
        pattern = _phrase_pattern(tuple(self._canonical))
        if pattern is None:
            raise ValueError("R7: a subject catalogue needs at least one subject")
        self._pattern = pattern  # every variant, longest first, whole words
        self._exclusions = _phrase_pattern(tuple(exclusions))
        self._order = {name: i for i, name in enumerate(self.names)}

    def subjects_in(self, text: str | None) -> tuple[str, ...]:
        """The subjects named in ``text``, in catalogue order (empty when none)."""
        if not text:
            return ()
        folded = fold(text)
        if self._exclusions is not None:
            folded = self._exclusions.sub(" ", folded)
        found = {self._canonical[word] for word in self._pattern.findall(folded)}
        return tuple(sorted(found, key=self._order.__getitem__))

    def canonical(self, name: str) -> str:
        """The catalogue name for a staff override (a variant maps to its subject)."""
        return self._canonical.get(fold(name).strip(), name.strip())

    def match(
        self,
        class_title: str | None,
        course_title: str | None,
        overrides: Mapping[str, str] | None = None,
        class_id: str | None = None,
        course_id: str | None = None,
    ) -> SubjectMatch:
        """R7 for one class: staff override, else class title, else course title."""
        if overrides:
            for key in (class_id, course_id):
                if key is not None and key in overrides:
                    return SubjectMatch(self.canonical(overrides[key]), (), "override")
        for text, source in ((class_title, "class title"), (course_title, "course title")):
            found = self.subjects_in(text)
            if len(found) == 1:
                return SubjectMatch(found[0], found, source)
            if found:
                return SubjectMatch(None, found, source)
        return SubjectMatch(None, (), "none")


DEFAULT_CATALOGUE = SubjectCatalogue(DEFAULT_SUBJECTS)
