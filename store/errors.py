"""Exceptions raised by the store package; ``StoreError`` is their base.

The whole project's exception tree is documented in ``gateway/errors.py``.
"""


class StoreError(Exception):
    """The database cannot be opened, migrated or written."""


class SchemaTooNew(StoreError):
    """The database was written by a newer version of the gateway."""
