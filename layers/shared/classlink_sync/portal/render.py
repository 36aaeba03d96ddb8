"""Templates and the headers every portal response carries (S8).

Jinja2 with autoescape on for every template (``autoescape=True``, not by file extension), so every
string that came from ClassLink is escaped wherever a template prints it; nothing is marked safe.
Templates are package data (``classlink_sync/portal/templates``), loaded once per cold start and
compiled on first use. The stylesheet is served by the portal itself (``style-src 'self'``): no
inline style, no script, no frame, no other origin.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HTML = "text/html; charset=utf-8"
CSS_PATH = "/portal/static/portal.css"


@cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("classlink_sync.portal", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals["css_path"] = CSS_PATH
    return env


def render(template: str, **context: Any) -> str:
    result: str = environment().get_template(template).render(**context)
    return result


@cache
def stylesheet() -> str:
    return resources.files("classlink_sync.portal").joinpath("templates", "portal.css").read_text("utf-8")
