"""The gateway's HTTP side.

``gateway.web.app`` builds and serves it; ``gateway.web.tokens`` makes the
signup tokens the invitations carry. This module imports neither, so the
pipeline can import the tokens without pulling in the web server.
"""
