"""``/auth``, ``/auth/challenge`` and ``/auth/otp``: logins for a front end and one-time passwords.

``/auth`` serves nginx's ``auth_request`` subrequest, which keeps the
method of the request it guards (PROPFIND, REPORT, PUT ...), so it accepts
every method. Failed logins count against the UPN and the client address
(see ``ratelimit``); a locked-out attempt gets 429 without being checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import inspect
import logging

from aiohttp import web

from crypto.errors import OtpError
from crypto.otp import SEED_ALPHABET, GENERATED_SEED_LENGTH, VerifierState
from gateway.accounts import normalize_address
from gateway.logs import event, get_logger
from gateway.metrics import ACTIVATIONS, AUTH_FAILURES
from gateway.smtp_auth import check_password
from gateway.upn_state import activate_upn, current_challenge_text, spend_otp
from gateway.web.client import client_address
from gateway.web.context import WebContext, context_of
from gateway.web.ratelimit import Lockout

log = get_logger("web")

# RFC 5321 limits a mail address to 254 octets in practice; longer input is not an address.
MAX_ADDRESS_LENGTH = 320
REALM = "Calendar"
# nginx's auth_request_set reads this header to pass the normalised address on to the CalDAV server.
USER_HEADER = "X-Remote-User"


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.route("*", "/auth", auth),
        web.get("/auth/challenge", challenge),
        web.post("/auth/otp", otp),
    ]


# --- /auth -------------------------------------------------------------------


async def auth(request: web.Request) -> web.Response:
    """Check HTTP Basic credentials of an active UPN; 204 with the address in ``X-Remote-User``, else 401."""
    context = context_of(request)
    credentials = parse_basic(request.headers.get("Authorization", ""))
    if credentials is None:
        return unauthorized("Basic")
    address = normalize_address(credentials[0])
    password = credentials[1]
    client = client_address(request, context.settings.web.trusted_proxies)

    lockout = context.limiter.check(address, client)
    if lockout is not None:
        return too_many_attempts(lockout)

    reason = await check_login(context, address, password)
    if reason is not None:
        record_failure(context, address, client, "auth", reason)
        return unauthorized("Basic")
    context.limiter.record_success(address)
    return web.Response(status=204, headers={USER_HEADER: address})


def parse_basic(header: str) -> tuple[str, str] | None:
    """Return (login, password) from an RFC 7617 Basic header, or None when it is missing or malformed."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, colon, password = decoded.partition(":")
    if not colon or not login or len(login) > MAX_ADDRESS_LENGTH:
        return None
    return login, password


async def check_login(context: WebContext, address: str, password: str) -> str | None:
    """Return None when the password is right for an active UPN, else the reason it failed."""
    row = await context.run(context.store.get_upn, address)
    if row is None or row["state"] != "active" or not row["password_hash"]:
        # Spend the same scrypt work as a real check, so timing does not tell which UPNs exist.
        await context.run(check_password, password, context.dummy_password_hash)
        return _refusal_reason(row)
    stored_hash = row["password_hash"]
    if context.verified.contains(address, password, stored_hash):
        return None
    if not await context.run(check_password, password, stored_hash):
        return "wrong password"
    context.verified.add(address, password, stored_hash)
    return None


def _refusal_reason(row: dict[str, object] | None) -> str:
    if row is None:
        return "unknown UPN"
    if row["state"] != "active":
        return f"UPN is {row['state']}"
    return "no password set"


# --- /auth/challenge -----------------------------------------------------------


async def challenge(request: web.Request) -> web.Response:
    """Return the UPN's current OTP challenge as text, or a stable made-up one for any other address."""
    context = context_of(request)
    raw = request.query.get("upn", "").strip()
    if not raw or len(raw) > MAX_ADDRESS_LENGTH:
        raise web.HTTPBadRequest(text="missing or invalid upn parameter: pass the UPN's mail address, ?upn=ADDRESS")
    address = normalize_address(raw)
    row = await context.run(context.store.get_upn, address)
    text = None
    if row is not None:
        try:
            text = current_challenge_text(row)
        except OtpError:
            # A used-up sequence has no challenge left; it looks like any address without one.
            text = None
    if text is None:
        text = fake_challenge(context, address)
    return web.Response(text=text + "\n", content_type="text/plain", headers={"Cache-Control": "no-store"})


def fake_challenge(context: WebContext, address: str) -> str:
    """Derive a challenge for an address with none, the same on every request and restart.

    The seed has the length and alphabet of generated seeds, and the sequence
    is one of the first few below ``otp_sequence``, where most real UPNs are.
    NOTE: a real challenge moves down as passwords are spent and this one
    never does. An observer who polls an address and finds its challenge
    changed learns that it is a real UPN in use.
    """
    digest = hmac.new(context.challenge_key, address.encode("utf-8"), hashlib.sha256).digest()
    seed = "".join(SEED_ALPHABET[byte % len(SEED_ALPHABET)] for byte in digest[:GENERATED_SEED_LENGTH])
    invitation = context.settings.invitation
    lowest = max(1, invitation.otp_refresh_below)
    sequence = max(lowest, invitation.otp_sequence - 1 - digest[-1] % 8)
    return f"otp-{invitation.otp_algorithm} {sequence} {seed}"


# --- /auth/otp ------------------------------------------------------------------


async def otp(request: web.Request) -> web.Response:
    """Check and spend one one-time password; 204 and activation on success, 401 otherwise."""
    context = context_of(request)
    form = await request.post()
    upn, response = form.get("upn"), form.get("response")
    if not isinstance(upn, str) or not isinstance(response, str) or not upn.strip() or not response.strip():
        raise web.HTTPBadRequest(text="missing form field: send upn and response as form fields")
    if len(upn) > MAX_ADDRESS_LENGTH:
        raise web.HTTPBadRequest(text="invalid upn: longer than any mail address")
    address = normalize_address(upn)
    client = client_address(request, context.settings.web.trusted_proxies)

    lockout = context.limiter.check(address, client)
    if lockout is not None:
        return too_many_attempts(lockout)

    new_state = await context.run(spend_otp, context.store, address, response)
    if new_state is None:
        record_failure(context, address, client, "otp", "wrong, spent or unusable one-time password")
        return unauthorized("OTP")
    context.limiter.record_success(address)
    activated = await activate_by_otp(context, address)
    event(log, logging.INFO, "otp-accepted", upn=address, client=client, sequence=new_state.sequence,
          activated=activated)
    await notify_otp_spent(context, address, new_state)
    return web.Response(status=204)


async def activate_by_otp(context: WebContext, address: str) -> bool:
    if not context.accepts("auth"):
        return False
    activated = await context.run(activate_upn, context.store, address, "auth", "one-time password at /auth/otp")
    if activated:
        ACTIVATIONS.labels(method="auth").inc()
        event(log, logging.INFO, "activated", upn=address, method="auth")
    return activated


async def notify_otp_spent(context: WebContext, address: str, state: VerifierState) -> None:
    """Call ``on_otp_spent``; an exception from it is logged and does not change the 204."""
    if context.on_otp_spent is None:
        return
    try:
        result = context.on_otp_spent(address, state)
        if inspect.isawaitable(result):
            await result
    except Exception as error:  # noqa: BLE001 - the password is already spent and the answer is right
        event(log, logging.ERROR, "otp-callback-failed", upn=address, error=repr(error))


# --- shared responses ---------------------------------------------------------------


def record_failure(context: WebContext, address: str, client: str, endpoint: str, reason: str) -> None:
    AUTH_FAILURES.labels(endpoint=endpoint).inc()
    event(log, logging.INFO, "auth-failed", endpoint=endpoint, upn=address, client=client, reason=reason)
    context.limiter.record_failure(address, client, endpoint)


def unauthorized(scheme: str) -> web.Response:
    challenge_header = f'{scheme} realm="{REALM}"'
    if scheme == "Basic":
        # RFC 7617: the client should encode the login and password in UTF-8.
        challenge_header += ', charset="UTF-8"'
    return web.Response(
        status=401,
        text="authentication failed\n",
        headers={"WWW-Authenticate": challenge_header, "Cache-Control": "no-store"},
    )


_SCOPE_WORDS = {"upn": "for this account", "client": "from your address"}


def too_many_attempts(lockout: Lockout) -> web.Response:
    return web.Response(
        status=429,
        text=f"too many failed attempts {_SCOPE_WORDS[lockout.scope]}; try again in {lockout.retry_after} seconds\n",
        headers={"Retry-After": str(lockout.retry_after), "Cache-Control": "no-store"},
    )
