"""The settings file lookup shared by the CLI commands."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.settings import Settings, load

DEFAULT_CONFIG = "gateway.ini"


def load_for_cli(config: str) -> Settings:
    """Load ``-c`` settings; the default ``./gateway.ini`` may be absent (built-in defaults apply).

    An explicitly named file that does not exist is an error.
    """
    if config == DEFAULT_CONFIG and not Path(config).exists():
        settings = load(None)
        print(f"imip-gateway: no ./{DEFAULT_CONFIG} here; using built-in defaults with state in "
              f"{settings.state_dir} (pass -c to name a settings file)", file=sys.stderr)
        return settings
    return load(config)
