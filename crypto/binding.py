"""The rule that binds a signer's certificate or key to a mail address.

Addresses are compared whole and case-insensitively. RFC 5321 lets the
local part be case-sensitive, but certificate authorities, key servers and
mail systems treat it as case-insensitive, and the keystore stores
addresses in lower case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID

# An OpenPGP user ID is free text. By convention it ends in "<address>",
# or is the bare address.
_ANGLE_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>\s*$")
_BARE_ADDRESS = re.compile(r"\s*([^<>\s@]+@[^<>\s@]+)\s*")


def normalize_address(address: str) -> str:
    """Return ``address`` stripped and lower-cased, the form addresses are compared in."""
    return address.strip().lower()


def certificate_addresses(certificate: x509.Certificate) -> list[str]:
    """Return the addresses a certificate binds, lower-cased.

    These are the subjectAltName rfc822Name values. The legacy
    emailAddress attribute of the subject counts only when the certificate
    has no subjectAltName at all, as RFC 8550 prescribes.
    """
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        attributes = certificate.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
        return _unique(str(attribute.value) for attribute in attributes)
    return _unique(names.get_values_for_type(x509.RFC822Name))


def user_id_address(user_id: str) -> str | None:
    """Return the address of an OpenPGP user ID, lower-cased, or None if it has none."""
    match = _ANGLE_ADDRESS.search(user_id) or _BARE_ADDRESS.fullmatch(user_id)
    return normalize_address(match.group(1)) if match else None


def is_bound(addresses: list[str], from_address: str) -> bool:
    """Tell whether ``from_address`` is among the signer's ``addresses``."""
    wanted = normalize_address(from_address)
    return bool(wanted) and wanted in (normalize_address(address) for address in addresses)


def _unique(values: Iterable[str]) -> list[str]:
    result: list[str] = []
    for value in values:
        address = normalize_address(value)
        if address and address not in result:
            result.append(address)
    return result
