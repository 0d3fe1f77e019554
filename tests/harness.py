"""Running a real gateway inside a test: settings on free loopback ports, state in a temp folder."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from gateway.service import Service
from gateway.settings import Settings, load


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_environ(state_dir: Path, **overrides: str) -> dict[str, str]:
    """Environment overrides for a gateway on free loopback ports; ``overrides`` maps ``section_key`` to a value."""
    environ = {
        "IMIP_GATEWAY_GATEWAY_STATE_DIR": str(state_dir),
        "IMIP_GATEWAY_GATEWAY_HOSTNAME": "gateway.test",
        "IMIP_GATEWAY_SMTP_LISTEN": f"127.0.0.1:{free_port()}",
        "IMIP_GATEWAY_WEB_LISTEN": f"127.0.0.1:{free_port()}",
        "IMIP_GATEWAY_RELAY_SMARTHOST": f"127.0.0.1:{free_port()}",
        "IMIP_GATEWAY_RELAY_RETRY_SCHEDULE": "1s",
        "IMIP_GATEWAY_CALENDAR_LOCAL_DOMAINS": "example.com",
    }
    for name, value in overrides.items():
        environ[f"IMIP_GATEWAY_{name.upper()}"] = value
    return environ


def make_settings(state_dir: Path, **overrides: str) -> Settings:
    """Settings on free loopback ports; ``overrides`` maps ``section_key`` to a value as written in the file."""
    return load(None, environ=settings_environ(state_dir, **overrides))


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Service]:
    service = Service(settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        service.store.close()


async def wait_for(condition, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll ``condition`` (a plain function) until it returns something truthy, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def make_tls_certificate(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate and key for STARTTLS, made with the openssl command line."""
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key
