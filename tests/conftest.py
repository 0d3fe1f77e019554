"""Shared fixtures. Under CI=true a missing tool or server fails the test instead of skipping it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.conftest_crypto", "tests.servers.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(name: str) -> str:
    """Return the path of an external program, or fail (in CI) / skip (elsewhere) without it."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        message = f"{name} is not installed; scripts/system-packages installs it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_cli(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gateway`` as a user would, returning its exit status and text output."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    data = stdin.decode() if isinstance(stdin, bytes) else stdin
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        input=data,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=60,
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the gpg-agents that gpg started for the tests' temporary GnuPG homes."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or shutil.which("pkill") is None:
        return
    basetemp = factory.getbasetemp()
    subprocess.run(["pkill", "-f", f"gpg-agent --homedir {basetemp}"], check=False, capture_output=True)
