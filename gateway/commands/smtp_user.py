"""``imip-gateway smtp-user set|remove NAME``: manage SMTP AUTH users."""

from __future__ import annotations

import argparse
import sys

from gateway.errors import GatewayError, NotFound
from gateway.settings_file import load_for_cli
from gateway.smtp_auth import hash_password, read_users, validate_name, write_users


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("smtp-user", help="add, change or remove an SMTP AUTH user")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_parser = actions.add_parser("set", help="add a user or change its password (read from standard input)")
    set_parser.add_argument("name")
    set_parser.set_defaults(handler=run_set)
    remove_parser = actions.add_parser("remove", help="remove a user")
    remove_parser.add_argument("name")
    remove_parser.set_defaults(handler=run_remove)


def run_set(args: argparse.Namespace) -> int:
    settings = load_for_cli(args.config)
    name = validate_name(args.name)
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise GatewayError("the password read from standard input is shorter than 12 characters; use a longer one")
    path = settings.auth_users_file
    users = read_users(path)
    users[name] = hash_password(password)
    write_users(path, users)
    print(f"SMTP user {name} set in {path}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    settings = load_for_cli(args.config)
    path = settings.auth_users_file
    users = read_users(path)
    if args.name not in users:
        raise NotFound(f"no SMTP user {args.name!r} in {path}")
    del users[args.name]
    write_users(path, users)
    print(f"SMTP user {args.name} removed from {path}")
    return 0
