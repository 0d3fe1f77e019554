"""How CLI commands find their settings file."""

from __future__ import annotations

from pathlib import Path

from gateway.settings import Settings, load

DEFAULT_CONFIG = "gateway.ini"


def load_for_cli(config: str) -> Settings:
    """Load ``-c`` settings; the default ``./gateway.ini`` may be absent (built-in defaults apply).

    An explicitly named file that does not exist is an error.
    """
    if config == DEFAULT_CONFIG and not Path(config).exists():
        return load(None)
    return load(config)
