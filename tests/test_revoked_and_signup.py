"""A UPN revoked by the lifecycle sweep fails every path; a pipeline INVITATION's link works in Chromium."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
from datetime import datetime, timezone

import aiohttp
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from gateway.lifecycle import sweep
from gateway.smtp_auth import check_password
from tests.test_main_flow import (  # noqa: F401 - world is a fixture
    ORGANIZER,
    PGP_GUEST,
    SMIME_GUEST,
    World,
    by_recipient,
    decrypt_smime,
    invitation_fields,
    pgp_otpkey,
    reply_entity,
    reply_headers,
    send,
    send_request,
    verify_gateway_smime,
    world,
)
from tests.harness import wait_for
from tests.test_web_browser import WAIT_SECONDS, browser  # noqa: F401 - browser is a fixture

PASSWORD = "a long signup password"


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def base_url(world: World) -> str:
    listen = world.settings.web.listen
    return f"http://{listen.host}:{listen.port}"


async def test_swept_upn_fails_auth_otp_and_pw_reply(world: World) -> None:
    otpkey, challenge = await pgp_otpkey(world)
    computed = await asyncio.to_thread(world.cli, "otp", "--hex", challenge, stdin=otpkey + "\n")
    answer = computed.stdout.strip()

    expire = dataclasses.replace(world.settings, lifecycle=dataclasses.replace(world.settings.lifecycle,
                                                                                policy="expire", grace=86400))
    actions = await asyncio.to_thread(sweep, expire, world.service.store, datetime(2027, 3, 1, tzinfo=timezone.utc))
    assert {action.address for action in actions} == {SMIME_GUEST, PGP_GUEST, "nokey-guest@remote.example"}
    assert world.service.store.get_upn(PGP_GUEST)["state"] == "revoked"

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base_url(world)}/auth/otp", data={"upn": PGP_GUEST, "response": answer}) as reply:
            assert reply.status == 401
        async with session.get(f"{base_url(world)}/auth", headers=basic_auth(PGP_GUEST, PASSWORD)) as reply:
            assert reply.status == 401

    pw_reply = reply_headers(PGP_GUEST) + reply_entity(PGP_GUEST, pw=f"0x{answer}")
    code, _ = await asyncio.to_thread(send, world.port, PGP_GUEST, [ORGANIZER], pw_reply)
    assert code == 250
    entries = await wait_for(lambda: world.service.store.quarantine_list())
    assert f"{PGP_GUEST} is revoked" in entries[0]["reason"]
    assert world.service.store.get_upn(PGP_GUEST)["state"] == "revoked"


def sign_up(driver: webdriver.Chrome, url: str) -> tuple[str, str]:
    driver.get(url)
    first = str(driver.find_element(By.TAG_NAME, "h1").text)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "confirm").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT_SECONDS).until(expected_conditions.title_is("Your calendar account is ready"))
    driver.get(url)
    return first, str(driver.find_element(By.TAG_NAME, "h1").text)


@pytest.mark.chromium
async def test_signup_link_from_invitation_in_chromium(world: World, browser: webdriver.Chrome) -> None:  # noqa: F811
    messages = await send_request(world)
    invitation = next(m for m in by_recipient(messages)[(SMIME_GUEST,)] if b"pkcs7-mime" in m.data)
    url = invitation_fields(verify_gateway_smime(world, decrypt_smime(world, invitation.data)))["URL"]
    assert re.fullmatch(re.escape(base_url(world)) + r"/signup/[A-Za-z0-9_-]{43}", url)

    first, second = await asyncio.to_thread(sign_up, browser, url)

    assert first == "Activate your calendar account"
    assert second == "This signup link is not valid"
    row = world.service.store.get_upn(SMIME_GUEST)
    assert row["state"] == "active"
    assert row["method"] == "signup"
    assert check_password(PASSWORD, row["password_hash"])
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base_url(world)}/auth", headers=basic_auth(SMIME_GUEST, PASSWORD)) as reply:
            assert reply.status == 204
