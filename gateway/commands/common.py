"""Helpers shared by the listing commands: opening the store, printing rows."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from gateway.settings import Settings
from gateway.settings_file import load_for_cli
from store.db import Store, open_store


def open_cli_store(config: str) -> tuple[Settings, Store]:
    settings = load_for_cli(config)
    return settings, open_store(settings.database_path)


def iso_time(value: float | None) -> str | None:
    if value is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str) -> None:
    """Print rows as aligned columns for a person; ``empty`` when there are none."""
    if not rows:
        print(empty)
        return
    texts = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(t[i]) for t in texts)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for text in texts:
        print("  ".join(v.ljust(w) for v, w in zip(text, widths)).rstrip())
