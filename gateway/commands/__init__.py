"""Subcommands of ``imip-gateway``, one module per command group.

Each module defines ``register(subparsers)``, which adds its parser and sets
``handler`` to a function ``(args) -> int`` returning the exit status.
"""
