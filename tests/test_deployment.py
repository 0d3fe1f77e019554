"""The deployment example: docker-compose.yml is valid, and its image installs as the README does."""

from __future__ import annotations

import re
import subprocess
import tomllib

from gateway.settings import load
from tests.conftest import ROOT, require_tool


def test_compose_file_passes_docker_compose_config() -> None:
    compose = require_tool("docker-compose")
    result = subprocess.run([compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "gateway:" in result.stdout


def test_compose_environment_is_valid_settings() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    environ = dict(re.findall(r"^\s+(IMIP_GATEWAY_[A-Z_]+): (.+)$", text, re.MULTILINE))
    assert len(environ) == 6
    settings = load(None, environ=environ)
    assert str(settings.smtp.listen[0]) == "0.0.0.0:2525"
    assert str(settings.relay.smarthost) == "smarthost:25"


def test_image_installs_from_the_lock_file() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r requirements.lock" in dockerfile
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for top in {name.split(".")[0] for name in packages}:
        assert f"COPY {top} ./{top}" in dockerfile
    setup = (ROOT / "scripts" / "setup-env").read_text()
    assert 'pip install --quiet --disable-pip-version-check -r "$root/requirements.lock"' in setup
