"""MD4 (RFC 1320) for RFC 2289 one-time passwords.

hashlib has no MD4 when Python is built against OpenSSL 3, whose default
provider dropped it, so this module takes MD4 from pycryptodome instead.
"""

from Crypto.Hash import MD4


def md4(data: bytes) -> bytes:
    """Return the 16-byte MD4 digest of data."""
    return MD4.new(data).digest()
