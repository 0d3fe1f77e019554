"""``/signup/<token>``: the page an invited attendee opens from the invitation's URL.

GET only shows who invited the attendee to what, and the form: link
scanners of mail providers open every URL in a mail, so a GET must never
change anything. Only the form's POST sets the password and activates the
UPN. The form carries a CSRF token as a signed double-submit cookie. Its
field is an HMAC of the cookie's random value and the signup token hash, so
another site can neither read nor forge it. The page needs no JavaScript.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.logs import event, get_logger
from gateway.metrics import ACTIVATIONS
from gateway.smtp_auth import hash_password
from gateway.upn_state import activate_upn
from gateway.web.context import WebContext, context_of
from gateway.web.pages import Markup, error_paragraph, event_list, message_page, page, render
from gateway.web.tokens import hash_signup_token, looks_like_signup_token
from store.db import Store

log = get_logger("web")

MIN_PASSWORD_LENGTH = 12
# Bounds the scrypt input; no password manager makes longer ones.
MAX_PASSWORD_LENGTH = 1024
CSRF_COOKIE = "signup_csrf"
_COOKIE_BYTES = 32


def routes() -> list[web.AbstractRouteDef]:
    return [web.get("/signup/{token}", show_signup), web.post("/signup/{token}", submit_signup)]


# --- looking the token up ---------------------------------------------------------


def is_expired(row: dict[str, Any], now: float) -> bool:
    # A token stored without an expiry is treated as expired, so a missing value fails closed.
    expires = row.get("signup_expires")
    return expires is None or now >= float(expires)


async def find_invited(context: WebContext, token: str) -> dict[str, Any] | None:
    """Return the UPN row a token belongs to, or None for a malformed, unknown or used token."""
    if not looks_like_signup_token(token):
        return None
    row = await context.run(context.store.upn_by_signup_hash, hash_signup_token(token))
    if row is None or row["state"] in ("held", "revoked"):
        return None
    return row


def unknown_link_page() -> web.Response:
    return message_page(
        "This signup link is not valid",
        "The link is unknown or has already been used; each signup link works only once.",
        "If you already chose a password, sign in to the calendar with it. "
        "Otherwise ask the person who invited you to send a new invitation.",
        404,
    )


def expired_link_page() -> web.Response:
    return message_page(
        "This signup link has expired",
        "Signup links stop working some time after the invitation was sent, and this one is past that time.",
        "Ask the person who invited you to send a new invitation.",
        410,
    )


# --- GET ------------------------------------------------------------------------------


async def show_signup(request: web.Request) -> web.Response:
    """Show the invitation and, when signup is accepted, the password form. Changes nothing."""
    context = context_of(request)
    token = request.match_info["token"]
    row, refusal = await usable_link(context, token, closed_status=200)
    if refusal is not None:
        return refusal
    return await form_page(context, request, row, hash_signup_token(token), error=None, status=200)


async def usable_link(
    context: WebContext, token: str, closed_status: int
) -> tuple[dict[str, Any], web.Response | None]:
    """Look up a signup link's UPN; the page to show instead when the link cannot be used now."""
    row = await find_invited(context, token)
    if row is None:
        return {}, unknown_link_page()
    if is_expired(row, context.clock()):
        return row, expired_link_page()
    if not context.accepts("signup"):
        return row, await closed_page(context, row, closed_status)
    return row, None


async def closed_page(context: WebContext, row: dict[str, Any], status: int) -> web.Response:
    events = await context.run(context.store.upn_events, row["address"])
    content = render("signup_closed.html", organizer=organizer_name(row), events=event_list(events))
    return page("Your invitation", content, status)


async def form_page(context: WebContext, request: web.Request, row: dict[str, Any], token_hash: str,
                    error: str | None, status: int) -> web.Response:
    events = await context.run(context.store.upn_events, row["address"])
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not _valid_cookie(cookie):
        cookie = base64.urlsafe_b64encode(secrets.token_bytes(_COOKIE_BYTES)).rstrip(b"=").decode("ascii")
    content = render(
        "signup_form.html",
        organizer=organizer_name(row),
        events=event_list(events),
        address=row["address"],
        error=error_paragraph(error),
        csrf=csrf_token(context.csrf_key, cookie, token_hash),
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
    )
    response = page("Activate your calendar account", content, status)
    response.set_cookie(
        CSRF_COOKIE, cookie, path=f"{context.public_path}/signup/",
        httponly=True, samesite="Strict", secure=context.secure_cookies,
    )
    return response


def organizer_name(row: dict[str, Any]) -> str:
    organizer = str(row.get("organizer") or "").strip()
    if organizer.lower().startswith("mailto:"):
        organizer = organizer[len("mailto:"):]
    return organizer or "The organizer"


# --- CSRF -----------------------------------------------------------------------------


def _valid_cookie(value: str) -> bool:
    # The cookie value has the same shape as a signup token: 32 random bytes in base64url.
    return looks_like_signup_token(value)


def csrf_token(key: bytes, cookie: str, token_hash: str) -> str:
    digest = hmac.new(key, f"{cookie}\0{token_hash}".encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def csrf_valid(context: WebContext, request: web.Request, submitted: object, token_hash: str) -> bool:
    # Browsers that send Fetch Metadata headers mark a form posted from another site as cross-site.
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return False
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not _valid_cookie(cookie) or not isinstance(submitted, str):
        return False
    return hmac.compare_digest(submitted, csrf_token(context.csrf_key, cookie, token_hash))


# --- POST -----------------------------------------------------------------------------


def password_problem(password: object, confirm: object, address: str) -> str | None:
    """Return what is wrong with the chosen password, in words for the attendee, or None."""
    if not isinstance(password, str) or not isinstance(confirm, str) or not password:
        return "Enter a password in both fields."
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password is too long: use at most {MAX_PASSWORD_LENGTH} characters."
    if password != confirm:
        return "The two passwords differ. Type the same password in both fields."
    if password.strip().lower() == address.lower():
        return "The password must not be your mail address."
    return None


async def submit_signup(request: web.Request) -> web.Response:
    """Set the UPN's password, consume the token and activate the UPN."""
    context = context_of(request)
    token = request.match_info["token"]
    row, refusal = await usable_link(context, token, closed_status=403)
    if refusal is not None:
        return refusal

    token_hash = hash_signup_token(token)
    form = await request.post()
    if not csrf_valid(context, request, form.get("csrf"), token_hash):
        event(log, logging.WARNING, "signup-rejected", upn=row["address"], reason="CSRF check failed")
        error = "This form expired or was sent from another site. Enter your password again."
        return await form_page(context, request, row, token_hash, error=error, status=403)
    problem = password_problem(form.get("password"), form.get("confirm"), row["address"])
    if problem is not None:
        return await form_page(context, request, row, token_hash, error=problem, status=400)

    password_hash = await context.run(hash_password, form["password"])
    result = await context.run(complete_signup, context.store, token_hash, password_hash, context.clock())
    return finished_page(context, result)


@dataclass(frozen=True)
class SignupResult:
    outcome: str  # "done", "unknown" or "expired"
    address: str | None = None
    activated: bool = False


def complete_signup(store: Store, token_hash: str, password_hash: str, now: float) -> SignupResult:
    """Store the password, consume the token and activate an ``invited`` UPN, all in one transaction.

    The token is looked up again inside the transaction, so of two
    concurrent submissions only the first finds it.
    """
    with store.transaction(durable=True):
        row = store.upn_by_signup_hash(token_hash)
        if row is None or row["state"] in ("held", "revoked"):
            return SignupResult("unknown")
        if is_expired(row, now):
            return SignupResult("expired")
        address = row["address"]
        store.update_upn(address, password_hash=password_hash, signup_token_hash=None, signup_expires=None)
        activated = activate_upn(store, address, "signup", "password set on the signup page")
        if not activated:
            store.audit("signup", "password-set", f"signup completed on a UPN already {row['state']}", upn=address)
        return SignupResult("done", address, activated)


def finished_page(context: WebContext, result: SignupResult) -> web.Response:
    if result.outcome == "unknown":
        return unknown_link_page()
    if result.outcome == "expired":
        return expired_link_page()
    if result.activated:
        ACTIVATIONS.labels(method="signup").inc()
        event(log, logging.INFO, "activated", upn=result.address, method="signup")
    event(log, logging.INFO, "signup-completed", upn=result.address, activated=result.activated)
    content = render("signup_done.html", address=result.address or "")
    response = page("Your calendar account is ready", Markup(content))
    response.del_cookie(CSRF_COOKIE, path=f"{context.public_path}/signup/")
    return response
