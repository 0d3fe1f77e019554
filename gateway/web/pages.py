"""HTML pages of the HTTP side, filled from ``templates/`` with ``string.Template``.

The pages are few and static, so the standard library's templates serve
instead of a template engine dependency. Every value is HTML-escaped unless
it is a ``Markup`` built here from escaped parts. The stylesheet is inlined
and allowed by its hash in the Content-Security-Policy, which lets the
policy forbid every other style and script.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import html
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

TEMPLATES = Path(__file__).resolve().parent / "templates"


class Markup(str):
    """Text that is already HTML and is inserted without escaping."""


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


@cache
def stylesheet() -> str:
    return (TEMPLATES / "page.css").read_text(encoding="utf-8")


@cache
def stylesheet_source() -> str:
    """Return the CSP source expression that allows exactly the inlined stylesheet."""
    digest = hashlib.sha256(stylesheet().encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def render(name: str, **values: Any) -> Markup:
    """Fill one template; plain strings are escaped, ``Markup`` is inserted as is."""
    escaped = {key: value if isinstance(value, Markup) else html.escape(str(value)) for key, value in values.items()}
    return Markup(_template(name).substitute(escaped))


def page(title: str, content: Markup, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """Return a whole HTML page; the security headers are added for every response in ``app``."""
    body = render("page.html", title=title, css=Markup(stylesheet()), content=content)
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(headers or {})
    return response


def message_page(title: str, text: str, advice: str, status: int) -> web.Response:
    return page(title, render("message.html", text=text, advice=advice), status)


def error_paragraph(text: str | None) -> Markup:
    if not text:
        return Markup("")
    return Markup(f'<p class="error" role="alert">{html.escape(text)}</p>')


def event_list(events: Iterable[Mapping[str, Any]]) -> Markup:
    """List the events a UPN was invited to, leaving out cancelled ones."""
    items = []
    for row in events:
        if row.get("cancelled"):
            continue
        summary = html.escape(str(row.get("summary") or "An event"))
        when = format_start(row.get("start"))
        when_html = f'<span class="when">{html.escape(when)}</span>' if when else ""
        items.append(f"<li><strong>{summary}</strong>{when_html}</li>")
    if not items:
        items.append("<li><strong>An event</strong></li>")
    return Markup("\n".join(items))


def format_start(value: object) -> str:
    """Write an iCalendar DATE or DATE-TIME for people; text it cannot read is shown as stored."""
    if not value:
        return ""
    text = str(value)
    prefix, _, stamp = text.rpartition(":")
    zone_name = prefix.partition("TZID=")[2].split(";")[0] if "TZID=" in prefix else ""
    try:
        if len(stamp) == 8:
            day = datetime.datetime.strptime(stamp, "%Y%m%d")
            return f"{day:%A} {day.day} {day:%B %Y}"
        moment = datetime.datetime.strptime(stamp.rstrip("Z"), "%Y%m%dT%H%M%S")
    except ValueError:
        return text
    zone = ""
    if stamp.endswith("Z"):
        zone = " UTC"
    elif zone_name:
        zone = f" ({zone_name})"
    return f"{moment:%A} {moment.day} {moment:%B %Y}, {moment:%H:%M}{zone}"
