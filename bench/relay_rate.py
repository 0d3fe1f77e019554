"""Measure the gateway's rate for plain relay, a calendar REQUEST, and the INVITE paths.

A gateway runs in this process with its state in a temporary folder, and
relays to an aiosmtpd sink on loopback. Clients send over real SMTP from
``--clients`` threads. Each figure is messages per second from the first
send until the sink has received every resulting mail; the calendar and INVITE
rates are also given as a ratio to the plain relay rate measured in the
same run, since absolute rates depend on the machine.

Run from the repository root: ``python bench/relay_rate.py [--messages N] [--invites N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.service import Service  # noqa: E402
from gateway.settings import load  # noqa: E402
from tests.harness import free_port, settings_environ  # noqa: E402

ORGANIZER = "organizer@example.com"
# About 2 KB, the message size the design's throughput target is stated for.
PLAIN = (b"From: a@example.com\r\nTo: b@remote.example\r\nSubject: bench\r\n\r\n"
         + (b"x" * 76 + b"\r\n") * 25)


class Sink:
    """aiosmtpd handler that counts accepted messages."""

    def __init__(self) -> None:
        self.count = 0
        self.condition = threading.Condition()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        with self.condition:
            self.count += 1
            self.condition.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 600) -> None:
        with self.condition:
            if not self.condition.wait_for(lambda: self.count >= count, timeout):
                raise TimeoutError(f"sink received {self.count} of {count} mails")


def request(attendee: str, number: int, invite: bool) -> bytes:
    flag = ";INVITE=TRUE" if invite else ""
    return (
        f"From: {ORGANIZER}\r\nTo: {attendee}\r\nSubject: Meeting {number}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/calendar; charset=UTF-8; method=REQUEST\r\n\r\n"
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
        f"UID:bench-{number}@example.com\r\nDTSTAMP:20261204T100000Z\r\nDTSTART:20261210T150000Z\r\n"
        f"DTEND:20261210T160000Z\r\nSUMMARY:Meeting {number}\r\nORGANIZER:mailto:{ORGANIZER}\r\n"
        f"ATTENDEE{flag}:mailto:{attendee}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def send_all(port: int, mails: list[tuple[str, bytes]], clients: int) -> None:
    def send_share(share: list[tuple[str, bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for rcpt, data in share:
                client.sendmail(ORGANIZER, [rcpt], data)

    shares = [mails[index::clients] for index in range(clients)]
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send_share, shares))


async def measure(service: Service, sink: Sink, mails: list[tuple[str, bytes]], expected: int,
                  clients: int) -> float:
    start_count = sink.count
    started = time.perf_counter()
    await asyncio.to_thread(send_all, service.settings.smtp.listen[0].port, mails, clients)
    await asyncio.to_thread(sink.wait_for, start_count + expected)
    return len(mails) / (time.perf_counter() - started)


def make_keys(folder: Path, addresses: list[str]) -> tuple[Path, Path]:
    """Make one S/MIME certificate and one OpenPGP key binding every bench attendee, with the command lines."""
    cert = folder / "attendees.pem"
    san = ",".join(f"email:{address}" for address in addresses if address.startswith("smime"))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench",
         "-addext", f"subjectAltName={san}", "-addext", "basicConstraints=critical,CA:FALSE",
         "-keyout", str(folder / "attendees.key"), "-out", str(cert)],
        check=True, capture_output=True,
    )
    home = folder / "gpg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    pgp = [address for address in addresses if address.startswith("pgp")]
    subprocess.run(gpg + ["--quick-gen-key", f"<{pgp[0]}>", "rsa2048", "sign", "never"], check=True,
                   capture_output=True)
    fingerprint = subprocess.run(gpg + ["--with-colons", "--list-keys"], check=True, capture_output=True,
                                 text=True).stdout.split("fpr:::::::::")[1].split(":")[0]
    subprocess.run(gpg + ["--quick-add-key", fingerprint, "rsa2048", "encr", "never"], check=True,
                   capture_output=True)
    for address in pgp[1:]:
        subprocess.run(gpg + ["--quick-add-uid", fingerprint, f"<{address}>"], check=True, capture_output=True)
    public = folder / "attendees.asc"
    public.write_bytes(subprocess.run(gpg + ["--armor", "--export"], check=True, capture_output=True).stdout)
    return cert, public


async def run(messages: int, invites: int, clients: int) -> None:
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    sink = Sink()
    sink_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink_port)
    controller.start()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        environ = settings_environ(work / "state", relay_smarthost=f"127.0.0.1:{sink_port}", relay_starttls="none",
                                   gateway_log_level="error", invitation_methods="otpkey")
        attendees = [f"smime{n}@remote.example" for n in range(invites)] + \
                    [f"pgp{n}@remote.example" for n in range(invites)]
        cert, public = make_keys(work, attendees)
        for path in (cert, public):
            subprocess.run([sys.executable, "-m", "gateway", "keys", "import", str(path)], check=True,
                           capture_output=True, env={**environ, "PATH": "/usr/bin:/bin"}, cwd=work)
        service = Service(load(None, environ=environ))
        await service.start()
        try:
            plain = await measure(service, sink, [("b@remote.example", PLAIN)] * messages, messages, clients)
            calendar = await measure(
                service, sink, [("b@remote.example", request("b@remote.example", n, False)) for n in range(messages)],
                messages, clients)
            smime = await measure(
                service, sink, [(a, request(a, n, True)) for n, a in enumerate(attendees[:invites])], 2 * invites,
                clients)
            pgp = await measure(
                service, sink, [(a, request(a, n, True)) for n, a in enumerate(attendees[invites:])], 2 * invites,
                clients)
        finally:
            await service.stop()
            service.store.close()
            controller.stop()
            subprocess.run(["gpgconf", "--homedir", str(work / "gpg"), "--kill", "gpg-agent"], check=False)

    print(f"clients: {clients}; plain and calendar: {messages} messages; each INVITE path: {invites}")
    print(f"{'path':32} {'msg/s':>8} {'x plain':>8}")
    for name, rate in (("plain relay (2 KB, no calendar)", plain), ("REQUEST, no INVITE", calendar),
                       ("REQUEST, INVITE, S/MIME", smime), ("REQUEST, INVITE, PGP/MIME", pgp)):
        print(f"{name:32} {rate:8.1f} {rate / plain:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=300, help="messages for the plain and calendar runs")
    parser.add_argument("--invites", type=int, default=40, help="REQUESTs for each INVITE run")
    parser.add_argument("--clients", type=int, default=4, help="concurrent SMTP clients")
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.invites, args.clients))


if __name__ == "__main__":
    main()
