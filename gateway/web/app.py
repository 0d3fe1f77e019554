"""The HTTP side of ``serve``: signup page, ``/auth`` endpoints, capability, health and metrics.

It is built on aiohttp rather than Starlette: aiohttp is already a
dependency, and its server runs on the service's own asyncio loop beside
the SMTP listener and the workers, with no ASGI server (uvicorn) to embed
and configure. The pages are few, so no template engine or framework
routing is needed beyond what aiohttp offers.

Request paths are logged with the signup token replaced, and the default
aiohttp access log (which would write it) is not used.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from gateway.logs import event, get_logger
from gateway.settings import Settings
from gateway.web import auth, capability, health, signup
from gateway.web.context import CONTEXT, OtpSpent, WebContext, WorkersAlive
from gateway.web.pages import message_page, stylesheet_source
from gateway.web.secret import load_or_create_secret
from store.db import Store

log = get_logger("web")

# Forms carry two passwords and a CSRF token; nothing the HTTP side accepts is larger.
MAX_REQUEST_BYTES = 64 * 1024
SHUTDOWN_TIMEOUT_SECONDS = 10.0
_SIGNUP_PATH = re.compile(r"/signup/[^/]*")
# Requests a front end or a monitor makes for nearly every page view or scrape.
_QUIET_PATHS = ("/auth", "/healthz", "/metrics")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(settings: Settings, store: Store, *, workers_alive: WorkersAlive,
               on_otp_spent: OtpSpent | None = None, clock: Callable[[], float] = time.time) -> web.Application:
    """Build the application; the server secret is read from, or created in, ``state_dir``."""
    context = WebContext(
        settings=settings, store=store, secret=load_or_create_secret(settings.state_dir),
        workers_alive=workers_alive, on_otp_spent=on_otp_spent, clock=clock,
    )
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[unexpected_errors])
    app[CONTEXT] = context
    for module in (signup, auth, capability, health):
        app.add_routes(module.routes())
    app.on_response_prepare.append(add_security_headers)
    return app


async def start_web(settings: Settings, store: Store, *, workers_alive: WorkersAlive,
                    on_otp_spent: OtpSpent | None = None) -> web.AppRunner:
    """Serve the application on ``[web] listen``; stop it with ``await runner.cleanup()``."""
    app = create_app(settings, store, workers_alive=workers_alive, on_otp_spent=on_otp_spent)
    runner = web.AppRunner(
        app, access_log_class=RedactedAccessLogger, access_log=log, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    await runner.setup()
    listen = settings.web.listen
    site = web.TCPSite(runner, listen.host, listen.port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        event(log, logging.ERROR, "listen-failed", address=str(listen), error=str(error))
        raise
    event(log, logging.INFO, "listening", address=str(listen), public_url=settings.web.public_url)
    return runner


def redact_path(path: str) -> str:
    """Return the path with any signup token replaced, so logs never hold one."""
    return _SIGNUP_PATH.sub("/signup/[token]", path)


@web.middleware
async def unexpected_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn an unexpected exception into a plain 500 page and a log line, never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as error:  # noqa: BLE001 - every other failure becomes one logged 500
        event(log, logging.ERROR, "request-failed", method=request.method, path=redact_path(request.path),
              error=repr(error))
        return message_page(
            "Something went wrong", "The gateway could not handle this request.",
            "Try again in a few minutes. If it keeps failing, tell the person who invited you.", 500,
        )


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    # The signup URL contains a secret, so no other site may learn it from a Referer.
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {stylesheet_source()}; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers.setdefault("Cache-Control", "no-store")
    headers["Server"] = "imip-gateway"
    if request.app[CONTEXT].secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000"


class RedactedAccessLogger(AbstractAccessLogger):
    """One log event per request, with the signup token cut out of the path and no query string."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = redact_path(request.path)
        level = logging.DEBUG if path in _QUIET_PATHS else logging.INFO
        event(
            self.logger, level, "request", method=request.method, path=path, status=response.status,
            duration_ms=round(time * 1000, 1), peer=request.remote,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
