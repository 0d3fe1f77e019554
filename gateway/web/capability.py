"""``/capability``: the CAP-style capability object that advertises the INVITATION extension."""

from __future__ import annotations

from aiohttp import web

from gateway import __version__

PRODID = f"-//imip-gateway//imip-gateway {__version__}//EN"

# RFC 5545 lines end in CRLF and fold at 75 octets; the COMPONENTS line is folded by hand.
CAPABILITY_LINES = (
    "BEGIN:VCALENDAR",
    f"PRODID:{PRODID}",
    "VERSION:2.0",
    "BEGIN:VREPLY",
    "CAP-VERSION:1.0",
    "COMPONENTS:VCALENDAR,VEVENT,VTODO,VJOURNAL,VTIMEZONE,STANDARD,DAYLIGHT,",
    " VALARM,VREPLY,INVITATION",
    "ITIP-VERSION:5546",
    "END:VREPLY",
    "END:VCALENDAR",
)


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/capability", capability)]


async def capability(request: web.Request) -> web.Response:
    body = "\r\n".join(CAPABILITY_LINES) + "\r\n"
    return web.Response(text=body, content_type="text/calendar", charset="utf-8")
