"""State in SQLite through sqlite-utils: spool, outbox, UPNs, audit and more.

Nothing here knows about MIME or cryptography.
"""
