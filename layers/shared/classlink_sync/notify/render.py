"""R19: an email's blocks as plain text and as simple HTML. Pure.

The HTML renderer escapes every string it is given (``html.escape``, attributes quoted): blocks
carry issue messages, sourcedIds, field names and errors that come from ClassLink.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """``p`` (a paragraph), ``h`` (a heading), ``rows`` (label: value lines), ``list`` (items),
    ``link`` (a label and a URL)."""

    kind: str
    text: str = ""
    items: tuple[str, ...] = ()
    rows: tuple[tuple[str, str], ...] = ()
    url: str = ""


def render_text(parts: Sequence[Block]) -> str:
    lines: list[str] = []
    for b in parts:
        if b.kind == "h":
            lines += ["", b.text, "-" * len(b.text)]
        elif b.kind == "p":
            lines += ["", b.text]
        elif b.kind == "rows":
            lines += [""] + [f"  {label}: {value}" for label, value in b.rows]
        elif b.kind == "list":
            lines += [f"  - {item}" for item in b.items]
        elif b.kind == "link":
            lines += ["", f"{b.text}: {b.url}"]
    return "\n".join(lines).strip() + "\n"


def render_html(parts: Sequence[Block]) -> str:
    e = html.escape  # every string below goes through it, ClassLink's above all
    body: list[str] = []
    for b in parts:
        if b.kind == "h":
            body.append(f"<h3>{e(b.text)}</h3>")
        elif b.kind == "p":
            body.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "rows":
            cells = "".join(f'<tr><th align="left">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in b.rows)
            body.append(f"<table>{cells}</table>")
        elif b.kind == "list":
            body.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in b.items) + "</ul>")
        elif b.kind == "link":
            body.append(f'<p><a href="{e(b.url, quote=True)}">{e(b.text)}</a></p>')
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="font-family:sans-serif;line-height:1.4">' + "".join(body) + "</body></html>"
    )
