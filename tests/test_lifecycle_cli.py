"""``imip-gateway sweep`` run as a user runs it: a subprocess on a real settings file and SQLite store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from store.db import open_store
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "lifecycle"
EXPIRED = "expired@remote.example"
RECURRING = "recurring@remote.example"
YOUNG = "young@remote.example"
# 1 January 2001, long before any fixture's events.
LONG_AGO = 978307200.0


def write_settings(folder: Path, policy: str) -> Path:
    path = folder / "gateway.ini"
    path.write_text(
        "[gateway]\nstate_dir = state\nhostname = gateway.test\n\n"
        f"[lifecycle]\npolicy = {policy}\ngrace = 30d\n",
        encoding="utf-8",
    )
    return path


def add_upn(folder: Path, address: str, created: float, fixture: str | None) -> None:
    store = open_store(folder / "state" / "gateway.sqlite3")
    try:
        store.create_upn(address, address, "active")
        store.update_upn(address, created=created)
        if fixture is not None:
            calendar = (DATA / fixture).read_bytes().decode()
            uid = next(line[4:] for line in calendar.split("\r\n") if line.startswith("UID:"))
            store.record_upn_event(address, uid, "", 0, "ACCEPTED", calendar, None, None)
    finally:
        store.close()


def states(folder: Path) -> dict[str, str]:
    store = open_store(folder / "state" / "gateway.sqlite3")
    try:
        return {row["address"]: row["state"] for row in store.list_upns()}
    finally:
        store.close()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A settings file under expire and three UPNs: one long idle, one with an endless series, one new."""
    write_settings(tmp_path, "expire")
    add_upn(tmp_path, EXPIRED, LONG_AGO, "daily-count-long.ics")
    add_upn(tmp_path, RECURRING, LONG_AGO, "weekly-without-end.ics")
    add_upn(tmp_path, YOUNG, time.time(), None)
    return tmp_path


def test_sweep_dry_run_lists_and_keeps(site: Path) -> None:
    result = run_cli("-c", str(site / "gateway.ini"), "sweep", "--dry-run")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"would revoke {EXPIRED} (active): no current or future event")
    assert "last event daily-long@example.com ended 2020-02-19T09:15:00Z" in lines[0]
    assert lines[1] == "1 dynamic UPN(s) would be revoked; run without --dry-run to revoke them"
    assert len(lines) == 2
    assert "event=would-revoke" in result.stderr
    assert states(site) == {EXPIRED: "active", RECURRING: "active", YOUNG: "active"}


def test_sweep_revokes_expired_only(site: Path) -> None:
    result = run_cli("-c", str(site / "gateway.ini"), "sweep")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(f"revoked {EXPIRED} (active): ")
    assert result.stdout.splitlines()[-1] == "1 dynamic UPN(s) revoked"
    assert "event=revoked" in result.stderr
    assert f"upn={EXPIRED}" in result.stderr
    assert states(site) == {EXPIRED: "revoked", RECURRING: "active", YOUNG: "active"}

    again = run_cli("-c", str(site / "gateway.ini"), "sweep")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "no dynamic UPN has expired\n"


def test_sweep_json_output(site: Path) -> None:
    result = run_cli("-c", str(site / "gateway.ini"), "sweep", "--dry-run", "--json")

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [item["address"] for item in data] == [EXPIRED]
    assert data[0]["revoked"] is False
    assert data[0]["idle_since"] == "2020-02-19T09:15:00Z"


def test_sweep_keep_policy(site: Path) -> None:
    write_settings(site, "keep")

    result = run_cli("-c", str(site / "gateway.ini"), "sweep")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "[lifecycle] policy is keep: no dynamic UPN is revoked\n"
    assert states(site)[EXPIRED] == "active"


def test_sweep_missing_settings_file(tmp_path: Path) -> None:
    result = run_cli("-c", str(tmp_path / "absent.ini"), "sweep")

    assert result.returncode == 1
    assert "settings file not found" in result.stderr
