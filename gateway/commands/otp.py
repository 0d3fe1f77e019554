"""``imip-gateway otp``: the attendee-side RFC 2289 calculator.

It computes the response to a challenge from a pass phrase or an OTPKEY read
from standard input, so the secret never appears in the process list or shell
history. It
loads no settings, so it runs anywhere without a gateway.ini.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from crypto.errors import InvalidChallenge, OtpError
from crypto.otp import Challenge, answer_challenge, format_hex, format_words, parse_challenge
from gateway.errors import GatewayError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``otp`` subcommand."""
    parser = subparsers.add_parser(
        "otp",
        help="compute the one-time password for an RFC 2289 challenge",
        description="Compute the one-time password for CHALLENGE. The secret is read from "
        "standard input: a pass phrase of 10 to 63 characters, or an OTPKEY value such as "
        "md5-0f1e2d3c4b5a69788796a5b4c3d2e1f0. A secret of the form ALGORITHM-HEX is "
        "always read as an OTPKEY. Only the trailing newline is removed.",
    )
    parser.add_argument(
        "challenge",
        metavar="CHALLENGE",
        type=_challenge_argument,
        help="the challenge, such as 'otp-md5 498 gwk3x9' (quote it: it contains spaces)",
    )
    parser.add_argument(
        "--hex",
        action="store_true",
        help="print 16 hex digits instead of six dictionary words",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the one-time password for ``args.challenge``, or return 1 with a message on stderr if the secret is unusable."""
    secret = _read_secret()
    try:
        password = answer_challenge(args.challenge, secret)
    except OtpError as error:
        print(f"imip-gateway: {error}", file=sys.stderr)
        return 1
    print(format_hex(password) if args.hex else format_words(password))
    return 0


def _challenge_argument(text: str) -> Challenge:
    # argparse turns ArgumentTypeError into a usage message and exit status 2.
    try:
        return parse_challenge(text)
    except InvalidChallenge as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _read_secret() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Pass phrase or OTPKEY: ")
    secret = sys.stdin.read()
    if not secret:
        raise GatewayError("no secret on standard input; pipe the pass phrase or OTPKEY into the command")
    for newline in ("\r\n", "\n"):
        if secret.endswith(newline):
            return secret[: -len(newline)]
    return secret
