"""imip-gateway: an iMIP gateway that gives invited attendees a dynamic UPN.

It implements the Internet-Draft draft-royer-calsch-dynamic-upn-02 on top of
iMIP (RFC 6047), iTIP (RFC 5546) and one-time passwords (RFC 2289, RFC 2243).
Only this package composes the sibling packages ``mime``, ``crypto`` and
``store``; they never import each other or this package.
"""

__version__ = "0.1.0"
