"""Addresses that already have an account on the calendar store.

An address has one when its domain is a local domain, when it is listed in
``[calendar] accounts_file``, or when it is an active dynamic UPN.
"""

from __future__ import annotations

from pathlib import Path

from gateway.settings import Settings
from mime import parse_cal_address


def address_domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def normalize_address(address: str) -> str:
    """Return the key a UPN is stored under: the bare mail address with its domain in lower case.

    The local part keeps its case, as CAL-ADDRESS comparison does (RFC 5321
    leaves the local part's case to the receiving host).
    """
    return parse_cal_address(address).address


class Accounts:
    def __init__(self, settings: Settings) -> None:
        self.local_domains = set(settings.calendar.local_domains)
        self.path = Path(settings.calendar.accounts_file) if settings.calendar.accounts_file else None
        self._stamp: float | None = None
        self._listed: set[str] = set()

    def listed(self) -> set[str]:
        """Addresses in accounts_file, reread when the file changes; a missing file lists none."""
        if self.path is None:
            return set()
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            return set()
        if stamp != self._stamp:
            lines = self.path.read_text(encoding="utf-8").splitlines()
            self._listed = {normalize_address(line) for line in lines if line.strip() and not line.startswith("#")}
            self._stamp = stamp
        return self._listed

    def has_static_account(self, address: str) -> bool:
        normalized = normalize_address(address)
        return address_domain(normalized) in self.local_domains or normalized in self.listed()
