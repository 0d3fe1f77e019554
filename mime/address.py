"""CAL-ADDRESS values: parsing, comparison and the original spelling.

Senders write ``mailto:``, ``MAILTO:`` or no scheme at all, and domains in
any case. Two addresses are the same when their schemes and domains match
case-insensitively and their local parts match exactly (RFC 5321 leaves the
local part's case to the receiving host).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(.*)", re.DOTALL)


@dataclass(frozen=True)
class CalAddress:
    """One CAL-ADDRESS as written (``original``) and in comparable form.

    ``address`` is ``local@domain`` with the domain in lower case for mail
    addresses, and ``scheme:rest`` with the scheme in lower case otherwise.
    """

    original: str
    scheme: str
    address: str

    @property
    def is_mail(self) -> bool:
        return self.scheme == "mailto"

    @property
    def uri(self) -> str:
        """The address as a URI in canonical spelling, for output we write."""
        return f"mailto:{self.address}" if self.is_mail else self.address

    def same_as(self, other: CalAddress | str) -> bool:
        if isinstance(other, str):
            other = parse_cal_address(other)
        return self.address == other.address and self.scheme == other.scheme


def parse_cal_address(text: str) -> CalAddress:
    """Parse a CAL-ADDRESS value; a value with no scheme is taken as a mail address."""
    original = text.strip()
    match = _SCHEME.fullmatch(original)

    # "doug@example.com" has no scheme. Only a colon before any "@" starts one.
    if match is None or "@" in match.group(1):
        return CalAddress(original, "mailto", normalize_mail_address(original))

    scheme = match.group(1).lower()
    rest = match.group(2).strip()
    if scheme == "mailto":
        return CalAddress(original, scheme, normalize_mail_address(rest))
    return CalAddress(original, scheme, f"{scheme}:{rest}")


def normalize_mail_address(address: str) -> str:
    """Lower-case the domain of ``local@domain``, keeping the local part as written."""
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return f"{local}@{domain.lower()}"


def same_address(first: str, second: str) -> bool:
    """Compare two CAL-ADDRESS or mail address texts by the rules above."""
    return parse_cal_address(first).same_as(parse_cal_address(second))
