"""Cryptography on bytes: RFC 2289 one-time passwords, S/MIME and OpenPGP.

Nothing here knows about iCalendar, MIME trees or the store.
"""
