"""Faults the emulator can inject, per run and changeable at run time (SPEC §1 "Errors", R9).

Kinds:
- ``429``: Too Many Requests with ``Retry-After`` (seconds, ``retry_after``);
- ``429-no-retry-after``: the same without the header;
- ``5xx``: a server error (``status``, default 503) with an imsx body wrapped in ``statusInfoSet``;
- ``slow``: the page is answered after ``delay`` seconds;
- ``truncate``: the JSON body is cut short (a complete HTTP response with an unparseable body);
- ``shift``: the data changes before the page is served: ``mode=remove`` deletes a record,
  ``mode=insert`` adds one at the start of the listing, so offsets shift and the total changes;
  ``mode=replace`` deletes a record from the pages already served (before the request's
  ``offset``) and appends a new one at the end, so the total stays the same and every count adds
  up while the record at the page boundary is never listed (R9: only proven absence catches it);
- ``duplicate``: ``count`` records of the collection are listed a second time (same sourcedId),
  and X-Total-Count counts the copies (R4);
- ``junk``: ``count`` entries that are not record objects (a string, a number, null, an array, a
  boolean) are listed among the records, and X-Total-Count counts them (R4);
- ``perm-rev``: ClassLink's ``x-perm-rev`` header (sent on every listing page) changes before the
  page is served, as when the district's data or permissions change during a pull (R18: a delta
  sync that sees it change between pages is abandoned and retried).
``shift``, ``duplicate`` and ``junk`` change the data itself (for every later request too), on the
collection of the request path; ``duplicate`` and ``junk`` show in whole-collection listings
without a filter or sort (``/users``, ``/classes``...), like a server's raw table.

Each rule fires on the requests it matches (``path`` substring, empty = every OneRoster request
that passed authentication) by ``first`` N, ``every`` Nth, and/or with probability ``rate``
(from the run's seed); a rule with no trigger fires always. ``after`` N lets the first N matching
requests pass untouched (``shift:after=1,limit=1``: once, after the first page was served).
``limit`` caps how often it fires.

Text form (CLI ``--faults``): ``429:every=5,retry_after=2;5xx:rate=0.1,status=502;slow:first=3,
delay=0.2;truncate:every=11;shift:first=1,path=/users,mode=insert;shift:after=1,limit=1,
path=/users,mode=replace;duplicate:first=1,path=/users;junk:first=1,path=/users,count=3;
perm-rev:after=1,limit=1,path=/users``.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field, fields

FAULT_KINDS = ("429", "429-no-retry-after", "5xx", "slow", "truncate", "shift", "duplicate", "junk", "perm-rev")
SHIFT_MODES = ("remove", "insert", "replace")


@dataclass(slots=True)
class FaultRule:
    """One switchable fault and its trigger."""

    kind: str
    rate: float = 0.0
    every: int = 0
    first: int = 0
    after: int = 0  # let the first N matching requests pass before the rule may fire
    limit: int = 0  # fire at most this many times (0 = unlimited)
    path: str = ""  # substring of the request path this rule applies to
    status: int = 503  # 5xx
    retry_after: str = "1"  # 429
    delay: float = 0.5  # slow
    mode: str = "remove"  # shift: remove | insert | replace
    count: int = 1  # duplicate, junk: how many entries
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.mode not in SHIFT_MODES:
            raise ValueError(f"unknown shift mode {self.mode!r}; expected one of {', '.join(SHIFT_MODES)}")
        if self.count < 1:
            raise ValueError(f"count must be at least 1, got {self.count}")

    def _triggers(self, rng: random.Random) -> bool:
        self.seen += 1
        if self.limit and self.fired >= self.limit:
            return False
        if self.seen <= self.after:
            return False
        seen = self.seen - self.after  # the triggers count the requests after the first ``after``
        untriggered = not (self.rate or self.every or self.first)
        hit = (
            untriggered
            or (self.first > 0 and seen <= self.first)
            or (self.every > 0 and seen % self.every == 0)
            or (self.rate > 0 and rng.random() < self.rate)
        )
        if hit:
            self.fired += 1
        return hit


@dataclass
class Faults:
    """The fault rules of one emulator run; thread-safe, deterministic from ``seed``."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    fired: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)  # nosec B311 # seeded test data, not security

    def add(self, kind: str, **options: object) -> FaultRule:
        """Switch on a fault, e.g. ``faults.add("429", first=2, retry_after="0")``."""
        rule = FaultRule(kind, **options)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Switch every fault off (counters of fired faults are kept)."""
        with self._lock:
            self.rules.clear()

    def reset(self, seed: int | None = None) -> None:
        """Switch every fault off, zero the counters and reseed."""
        with self._lock:
            self.rules.clear()
            self.fired.clear()
            if seed is not None:
                self.seed = seed
            self._rng = random.Random(self.seed)  # nosec B311 # seeded test data, not security

    def load(self, spec: str) -> None:
        """Replace the rules with those of a text spec (see the module docstring)."""
        rules = parse_faults(spec)
        with self._lock:
            self.rules[:] = rules

    def decide(self, path: str) -> list[FaultRule]:
        """The rules that fire for this request, in the order they were added."""
        with self._lock:
            out = []
            for rule in self.rules:
                if rule.path and rule.path not in path:
                    continue
                if rule._triggers(self._rng):
                    out.append(rule)
                    self.fired[rule.kind] += 1
            return out

    def pick(self, n: int) -> int:
        """A deterministic index below ``n`` (which record a shift, duplicate or junk touches)."""
        with self._lock:
            return self._rng.randrange(n) if n > 0 else 0


_FIELD_TYPES = {f.name: f.type for f in fields(FaultRule)}


def parse_faults(spec: str) -> list[FaultRule]:
    """Parse ``kind:key=value,...;kind...`` into rules; raise ValueError naming the bad part."""
    rules: list[FaultRule] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        kind, _, opts = part.partition(":")
        options: dict[str, object] = {}
        for item in filter(None, (o.strip() for o in opts.split(","))):
            key, eq, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not eq or key not in _FIELD_TYPES or key in ("kind", "seen", "fired"):
                raise ValueError(f"bad fault option {item!r} in {part!r}")
            kind_of = _FIELD_TYPES[key]
            try:
                options[key] = float(value) if kind_of == "float" else int(value) if kind_of == "int" else value.strip()
            except ValueError:
                raise ValueError(f"bad value for {key} in {part!r}: {value!r}") from None
        rules.append(FaultRule(kind.strip(), **options))  # type: ignore[arg-type]
    return rules
