"""Pure message work on bytes and ``email.message.EmailMessage``; no I/O.

Finds iTIP objects in real-world mail, rewrites calendars for relay, builds
outbound mails, notices and DSNs, and the MIME shapes of signed and encrypted
mail around bytes the crypto layer returns.
"""
