"""The signup page in real headless Chromium: fill the form, activate, and be refused a second time.

Chromium and chromedriver are Debian's. Selenium is only the client: the
driver path is given explicitly, which keeps Selenium Manager (it would
download a driver) out of the run. The flags keep Chromium off the network.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from gateway.smtp_auth import check_password
from gateway.web.app import start_web
from gateway.web.tokens import new_signup_token
from store.db import Store, open_store
from tests.conftest import require_tool
from tests.harness import make_settings

pytestmark = pytest.mark.chromium

ADDRESS = "guest@remote.example"
PASSWORD = "correct horse battery"
WAIT_SECONDS = 20
# Set to a folder (such as /tmp) to keep the screenshots after the run.
SCREENSHOT_DIR_VARIABLE = "IMIP_GATEWAY_SCREENSHOT_DIR"

CHROMIUM_FLAGS = (
    "--headless=new",
    # Chromium's sandbox cannot start as root, which the test machines are.
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-gpu",
    "--disable-quic",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-proxy-server",
    "--window-size=1280,900",
)


def upn_row(store: Store, address: str = ADDRESS) -> dict[str, Any]:
    row = store.get_upn(address)
    assert row is not None, f"no UPN row for {address}"
    return row


@dataclass
class WebGateway:
    store: Store
    base_url: str


@pytest.fixture
async def gateway(state_dir: Path) -> AsyncIterator[WebGateway]:
    settings = make_settings(state_dir)
    store = open_store(settings.database_path)
    runner: web.AppRunner = await start_web(settings, store, workers_alive=lambda: {"pipeline": True})
    listen = settings.web.listen
    yield WebGateway(store, f"http://{listen.host}:{listen.port}")
    await runner.cleanup()
    store.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    chromium = require_tool("chromium")
    chromedriver = require_tool("chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


def invite(store: Store) -> str:
    token, token_hash = new_signup_token()
    store.create_upn(
        ADDRESS, ADDRESS, "invited", signup_token_hash=token_hash, signup_expires=time.time() + 86400,
        organizer="mailto:doug@example.com",
    )
    store.record_upn_event(ADDRESS, "budget-2026@example.com", summary="Budget review", start="20261210T150000Z")
    return token


def heading(driver: webdriver.Chrome) -> str:
    return str(driver.find_element(By.TAG_NAME, "h1").text)


def open_and_submit(driver: webdriver.Chrome, url: str, store: Store) -> dict[str, object]:
    """Open the link, check that the visit changed nothing, then fill and send the form as a person would."""
    driver.get(url)
    assert heading(driver) == "Activate your calendar account"
    assert "Budget review" in driver.page_source
    visited = upn_row(store)
    snapshot = {"state_after_get": visited["state"], "password_after_get": visited["password_hash"]}

    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "confirm").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT_SECONDS).until(expected_conditions.title_is("Your calendar account is ready"))
    snapshot["done_text"] = driver.find_element(By.TAG_NAME, "main").text

    driver.get(url)
    snapshot["second_heading"] = heading(driver)
    snapshot["second_text"] = driver.find_element(By.TAG_NAME, "main").text
    return snapshot


async def test_signup_in_chromium(gateway: WebGateway, browser: webdriver.Chrome) -> None:
    url = f"{gateway.base_url}/signup/{invite(gateway.store)}"

    seen = await asyncio.to_thread(open_and_submit, browser, url, gateway.store)

    assert seen["state_after_get"] == "invited"
    assert seen["password_after_get"] is None
    assert ADDRESS in str(seen["done_text"])
    row = upn_row(gateway.store)
    assert row["state"] == "active"
    assert row["method"] == "signup"
    assert check_password(PASSWORD, row["password_hash"])
    assert seen["second_heading"] == "This signup link is not valid"
    assert "already been used" in str(seen["second_text"])


async def test_many_visits_never_activate(gateway: WebGateway, browser: webdriver.Chrome) -> None:
    url = f"{gateway.base_url}/signup/{invite(gateway.store)}"

    def visit_three_times() -> None:
        for _ in range(3):
            browser.get(url)
            browser.refresh()

    await asyncio.to_thread(visit_three_times)

    row = upn_row(gateway.store)
    assert row["state"] == "invited"
    assert row["password_hash"] is None
    assert row["signup_token_hash"] is not None


def take_screenshots(driver: webdriver.Chrome, url: str, folder: Path) -> dict[str, int]:
    """Save the page at desktop and phone size; returns page and viewport widths for the phone."""
    driver.get(url)
    driver.save_screenshot(str(folder / "signup-desktop.png"))
    # A phone's viewport as Chromium's device emulation sets it: 390 CSS pixels, mobile meta viewport honoured.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    driver.get(url)
    widths = driver.execute_script(
        "return {page: document.documentElement.scrollWidth, viewport: window.innerWidth,"
        " input: document.getElementById('password').getBoundingClientRect().width};"
    )
    driver.save_screenshot(str(folder / "signup-phone.png"))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return {key: int(value) for key, value in widths.items()}


async def test_signup_page_screenshots(gateway: WebGateway, browser: webdriver.Chrome, tmp_path: Path) -> None:
    folder = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path)
    url = f"{gateway.base_url}/signup/{invite(gateway.store)}"

    widths = await asyncio.to_thread(take_screenshots, browser, url, folder)

    assert (folder / "signup-desktop.png").stat().st_size > 0
    assert (folder / "signup-phone.png").stat().st_size > 0
    # On a phone the page must not scroll sideways, and the field should span most of the screen.
    assert widths["page"] <= widths["viewport"] == 390
    assert widths["input"] >= 300
