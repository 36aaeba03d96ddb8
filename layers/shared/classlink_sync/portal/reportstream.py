"""Read a stored run report (``store.runs``: one JSON object, keys sorted, every issue under
``issues``) as a stream: the issues come one at a time from the S3 body, so a report of 100,000
issues is never held in memory whole (S7 CSV download).

``ReportStream(chunks)``: ``issues()`` yields each issue dict; the top-level values before
``issues`` (``counts``, ``guard_reasons``, ``incomplete_reasons``...) are in ``head`` once the first
issue is read, and the values after it in ``tail`` once the issues are exhausted. Values are
decoded by the standard library's JSON decoder: the issues a buffer holds in one call where it can
(``_batch``), else one by one (``raw_decode``); only the top-level object and the issue list are
walked here.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from typing import Any

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"
ISSUES_KEY = "issues"
REFILL_CHARS = 1 << 16  # keep this much buffered in the issue list, so that batches stay large


class ReportFormatError(ValueError):
    """The stored report is not a JSON object of the expected shape."""


class ReportStream:
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._pos = 0
        self._eof = False
        self.head: dict[str, Any] = {}
        self.tail: dict[str, Any] = {}
        self._started = False

    # -- buffer ------------------------------------------------------------------------------------
    def _fill(self, at_least: int = 1) -> bool:
        """Read chunks until ``at_least`` more characters are buffered (or the end); False at the end."""
        if self._eof:
            return False
        self._text = self._text[self._pos :]
        self._pos = 0
        wanted = len(self._text) + at_least
        while len(self._text) < wanted:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._text += self._utf8.decode(b"", final=True)
                self._eof = True
                break
            self._text += self._utf8.decode(chunk)
        return True

    def _peek(self) -> str:
        while True:
            while self._pos < len(self._text) and self._text[self._pos] in _WHITESPACE:
                self._pos += 1
            if self._pos < len(self._text):
                return self._text[self._pos]
            if not self._fill():
                return ""

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise ReportFormatError(f"expected {char!r} in the run report at offset {self._pos}")
        self._pos += 1

    def _value(self) -> Any:
        """The next JSON value; refills while it is cut off (doubling the read on each retry)."""
        self._peek()
        grow = 1 << 16
        while True:
            try:
                value, end = _DECODER.raw_decode(self._text, self._pos)
            except json.JSONDecodeError:
                if not self._fill(grow):
                    raise ReportFormatError("the run report ends in the middle of a value") from None
                grow *= 2
                continue
            if end >= len(self._text) and not self._eof:  # a number or literal may continue
                self._fill(grow)
                continue
            self._pos = end
            return value

    def _batch(self) -> list[dict[str, Any]] | None:
        """Every whole issue in the buffer at once, by the C decoder: the buffered text up to the
        last ``},`` is parsed as a JSON list. Objects delimit themselves, so a successful parse ends
        exactly at an element boundary; a ``},`` inside a string or a nested value fails to parse
        and the caller reads one issue at a time instead."""
        text, start = self._text, self._pos
        cut = len(text)
        for _ in range(2):
            cut = text.rfind("},", start, cut)
            if cut <= start:
                return None
            try:
                items = json.loads("[" + text[start : cut + 1] + "]")
            except ValueError:
                continue
            self._pos = cut + 2
            return [i for i in items if isinstance(i, dict)]
        return None

    # -- the report ---------------------------------------------------------------------------------
    def _key(self) -> str | None:
        """The next top-level key, or None at the end of the object."""
        char = self._peek()
        if char == ",":
            self._pos += 1
            char = self._peek()
        if char == "}":
            self._pos += 1
            return None
        key = self._value()
        if not isinstance(key, str):
            raise ReportFormatError("a run report key is not a string")
        self._expect(":")
        return key

    def issues(self) -> Iterator[dict[str, Any]]:
        """Each issue of the report, in order; ``head`` and ``tail`` fill as the stream passes."""
        if self._started:
            raise RuntimeError("a ReportStream is read once")
        self._started = True
        self._expect("{")
        while (key := self._key()) is not None:
            if key != ISSUES_KEY:
                self.head[key] = self._value()
                continue
            self._expect("[")
            if self._peek() == "]":
                self._pos += 1
            else:
                while True:
                    if len(self._text) - self._pos < REFILL_CHARS and not self._eof:
                        self._fill(REFILL_CHARS)
                    batch = self._batch()
                    if batch is not None:
                        yield from batch
                        continue
                    issue = self._value()
                    if isinstance(issue, dict):
                        yield issue
                    char = self._peek()
                    self._pos += 1
                    if char == "]":
                        break
                    if char != ",":
                        raise ReportFormatError("the run report's issue list is malformed")
            while (key := self._key()) is not None:
                self.tail[key] = self._value()
            return
