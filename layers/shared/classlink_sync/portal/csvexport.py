"""A run's issues as CSV (S7): ``rule,entity,sourcedId,school,field,message``, produced as a stream
of chunks so that 100,000 issues never sit in memory at once (``bench/portal_bench.py``).

Cells that a spreadsheet would run as a formula (starting with ``= + - @``, a tab or a carriage
return: a class title typed in ClassLink can be anything) are prefixed with ``'`` (OWASP's advice
on CSV injection); ``csv_cell`` is the one place that rule lives.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

CSV_COLUMNS = ("rule", "entity", "sourcedId", "school", "field", "message")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def issue_row(issue: Mapping[str, Any]) -> tuple[str, ...]:
    """One issue (as the stored report keeps it) as a CSV row in ``CSV_COLUMNS`` order."""
    return tuple(
        csv_cell(v)
        for v in (
            issue.get("rule"),
            issue.get("entity"),
            issue.get("sourced_id"),
            issue.get("school_id") or issue.get("school"),  # rules.plan.Issue.school_id (views.issue_school)
            issue.get("field"),
            issue.get("message"),
        )
    )


def csv_chunks(issues: Iterable[Mapping[str, Any]], *, chunk_bytes: int = 64 * 1024) -> Iterator[bytes]:
    """The CSV (header first) in UTF-8 chunks of about ``chunk_bytes``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for issue in issues:
        writer.writerow(issue_row(issue))
        if buffer.tell() >= chunk_bytes:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
