"""Settings: ``gateway.ini`` parsed once into a frozen, typed object.

Every key is declared here with its type, default and help text; the shipped
``gateway.ini`` must list the same keys (a test compares the two). Values
are validated at start, and the error names the file, section, key and value
and what is allowed. ``IMIP_GATEWAY_<SECTION>_<KEY>`` environment variables
override the file. Relative paths are taken from the file's folder.
"""

from __future__ import annotations

import configparser
import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from mime.limits import Limits

ENV_PREFIX = "IMIP_GATEWAY_"

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


# --- value types --------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A ``host:port`` pair; IPv6 hosts are written ``[::1]:25``."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _parse_duration(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if not match:
        raise ValueError("a duration such as 30s, 5m, 4h or 14d")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def format_duration(seconds: int) -> str:
    """Write seconds in the largest unit that divides them exactly (300 -> 5m)."""
    for unit in ("d", "h", "m"):
        if seconds and seconds % _DURATION_UNITS[unit] == 0:
            return f"{seconds // _DURATION_UNITS[unit]}{unit}"
    return f"{seconds}s"


def _parse_size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]?)b?\s*", text.lower())
    if not match:
        raise ValueError("a size in bytes, optionally with k, m or g (10485760, 10m)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ValueError("true or false")


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("a whole number") from None


def _parse_endpoint(text: str) -> Endpoint:
    text = text.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", text)
    if not match:
        raise ValueError("host:port, with IPv6 hosts in brackets ([::1]:25)")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 0 < port < 65536:
        raise ValueError("a port from 1 to 65535")
    return Endpoint(host, port)


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parse_endpoints(text: str) -> tuple[Endpoint, ...]:
    endpoints = tuple(_parse_endpoint(item) for item in _split_list(text))
    if not endpoints:
        raise ValueError("at least one host:port")
    return endpoints


def _parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in _split_list(text):
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError:
            raise ValueError(f"CIDR networks such as 127.0.0.0/8, ::1/128 ({item!r} is not one)") from None
    return tuple(networks)


def _parse_hosts(text: str) -> tuple[str, ...]:
    return tuple(item.lower() for item in _split_list(text))


def _parse_durations(text: str) -> tuple[int, ...]:
    items = _split_list(text)
    if not items:
        raise ValueError("a comma-separated list of durations such as 1m, 5m, 1h")
    return tuple(_parse_duration(item) for item in items)


def _parse_url(text: str) -> str:
    value = text.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
        raise ValueError("an http:// or https:// URL")
    return value


def _parse_address(text: str) -> str:
    value = text.strip()
    if value and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", value):
        raise ValueError("a mail address such as calendar@example.com, or empty")
    return value


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError("one of " + ", ".join(allowed))
        return value

    parse.allowed = allowed  # type: ignore[attr-defined]
    return parse


def _choices(*allowed: str) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        values = tuple(item.lower() for item in _split_list(text))
        wrong = [value for value in values if value not in allowed]
        if wrong or not values:
            raise ValueError("one or more of " + ", ".join(allowed) + ", comma-separated")
        return values

    return parse


def _text(text: str) -> str:
    return text.strip()


def _path(text: str) -> str:
    # Resolved against the settings file's folder once all values are read.
    return text.strip()


def _paths(text: str) -> tuple[str, ...]:
    return tuple(_split_list(text))


def _key(default: str, parse: Callable[[str], Any], help: str, secret: bool = False) -> Any:
    """Declare one key: its default as written in the file, its parser and its help."""
    return field(
        default=parse(default),
        metadata={"raw_default": default, "parse": parse, "help": help, "secret": secret},
    )


# --- sections -----------------------------------------------------------


@dataclass(frozen=True)
class GatewaySection:
    state_dir: str = _key("state", _path, "folder for the SQLite database, gpg home and quarantine")
    hostname: str = _key("localhost", _text, "name used in HELO, Message-IDs and UIDs")
    log_format: str = _key("logfmt", _choice("logfmt", "json"), "log line format")
    log_level: str = _key(
        "info", _choice("debug", "info", "warning", "error"), "lowest level written to the log"
    )


@dataclass(frozen=True)
class SmtpSection:
    listen: tuple[Endpoint, ...] = _key(
        "127.0.0.1:2525", _parse_endpoints, "host:port the SMTP listener binds, comma-separated for several"
    )
    trusted_networks: tuple[Any, ...] = _key(
        "127.0.0.0/8, ::1/128",
        _parse_networks,
        "CIDR networks allowed to relay and to ask for invitations without AUTH",
    )
    max_message_size: int = _key(
        "10485760", _parse_size, "largest message accepted, in bytes (announced in SIZE)"
    )
    tls_cert: str = _key("", _path, "PEM certificate chain for STARTTLS; empty disables STARTTLS")
    tls_key: str = _key("", _path, "PEM private key for STARTTLS")
    require_tls: bool = _key("false", _parse_bool, "refuse MAIL FROM until the client has used STARTTLS")
    auth_users_file: str = _key(
        "", _path, "SMTP AUTH users, one name:scrypt-hash per line; empty means <state_dir>/smtp-users"
    )


@dataclass(frozen=True)
class RelaySection:
    smarthost: Endpoint = _key("127.0.0.1:25", _parse_endpoint, "host:port every outbound mail goes to")
    starttls: str = _key(
        "opportunistic", _choice("none", "opportunistic", "required"), "STARTTLS towards the smarthost"
    )
    username: str = _key("", _text, "SMTP AUTH user at the smarthost; empty sends no AUTH")
    password_file: str = _key("", _path, "file holding the smarthost password")
    ca_file: str = _key("", _path, "PEM CAs that verify the smarthost's certificate; empty uses the system's")
    retry_schedule: tuple[int, ...] = _key(
        "1m, 5m, 15m, 1h, 4h",
        _parse_durations,
        "waits between delivery attempts; the last one repeats (durations: 30s, 5m, 4h, 14d)",
    )
    max_queue_lifetime: int = _key(
        "5d", _parse_duration, "how long a message may stay queued before a DSN reports it undelivered"
    )


@dataclass(frozen=True)
class CalendarSection:
    target: str = _key("cap://localhost", _text, "TARGET value of invitations: the calendar store the UPN joins")
    local_domains: tuple[str, ...] = _key(
        "localhost", _parse_hosts, "domains whose addresses already have accounts; any client may send to them"
    )
    accounts_file: str = _key("", _path, "optional file of addresses that have accounts, one a line")


@dataclass(frozen=True)
class InvitationSection:
    from_: str = _key("", _parse_address, "From address of invitations; empty means imip-gateway@<hostname>")
    methods: tuple[str, ...] = _key(
        "otpkey, url", _choices("otpkey", "url"), "what an invitation carries: otpkey, url or both"
    )
    otp_algorithm: str = _key("md5", _choice("md4", "md5", "sha1"), "RFC 2289 hash of new OTP keys")
    otp_sequence: int = _key("499", _parse_int, "RFC 2289 sequence number a new key starts at")
    otp_refresh_below: int = _key(
        "10", _parse_int, "send a fresh key when the next challenge's sequence would fall below this"
    )
    signup_ttl: int = _key("14d", _parse_duration, "how long a signup URL stays valid")
    no_key_policy: str = _key(
        "hold", _choice("hold", "drop"), "with no certificate or key for an attendee: hold the UPN or create none"
    )
    prefer: str = _key("smime", _choice("smime", "pgp"), "encryption used when both a certificate and a key exist")
    reinvite_revoked: bool = _key(
        "false", _parse_bool, "let an INVITE for a revoked dynamic UPN start a fresh invitation"
    )


@dataclass(frozen=True)
class CryptoSection:
    smime_cert: str = _key("", _path, "the gateway's S/MIME certificate (PEM); empty makes one in state_dir")
    smime_key: str = _key("", _path, "the gateway's S/MIME private key (PEM)")
    smime_key_password_file: str = _key("", _path, "file holding the passphrase of smime_key, if encrypted")
    smime_ca_bundle: str = _key("", _path, "PEM bundle of CAs trusted for attendees' S/MIME signatures")
    smime_crls: tuple[str, ...] = _key("", _paths, "CRL files checked for attendees' certificates, comma-separated")
    gnupg_home: str = _key("", _path, "the gateway's GnuPG home; empty means <state_dir>/gnupg")
    pgp_key: str = _key("", _text, "the gateway's OpenPGP key: fingerprint or address; empty makes one")
    pgp_passphrase_file: str = _key("", _path, "file holding the passphrase of pgp_key")


@dataclass(frozen=True)
class ActivationSection:
    accept: tuple[str, ...] = _key(
        "signed-reply, otp-reply, signup, auth",
        _choices("signed-reply", "otp-reply", "signup", "auth"),
        "proofs that activate a dynamic UPN",
    )
    unverified_reply: str = _key(
        "quarantine", _choice("quarantine", "relay"), "what happens to a REPLY that proves nothing"
    )


@dataclass(frozen=True)
class ImapSection:
    enabled: bool = _key("false", _parse_bool, "poll an IMAP mailbox for replies")
    host: str = _key("127.0.0.1", _text, "IMAP server")
    port: int = _key("993", _parse_int, "IMAP port")
    tls: str = _key("ssl", _choice("none", "starttls", "ssl"), "ssl (port 993), starttls, or none")
    username: str = _key("", _text, "IMAP login")
    password_file: str = _key("", _path, "file holding the IMAP password")
    mailbox: str = _key("INBOX", _text, "mailbox polled for new mail")
    processed_mailbox: str = _key("Processed", _text, "mailbox a processed mail is moved to")
    idle: bool = _key("true", _parse_bool, "use IDLE when the server offers it")
    poll_interval: int = _key("60s", _parse_duration, "wait between polls without IDLE")


@dataclass(frozen=True)
class WebSection:
    listen: Endpoint = _key("127.0.0.1:8080", _parse_endpoint, "host:port of the HTTP side")
    public_url: str = _key("http://127.0.0.1:8080", _parse_url, "base URL attendees reach the HTTP side at")
    trusted_proxies: tuple[Any, ...] = _key(
        "", _parse_networks, "networks whose X-Forwarded-For header is believed"
    )


@dataclass(frozen=True)
class LifecycleSection:
    policy: str = _key("keep", _choice("keep", "expire"), "keep dynamic UPNs, or revoke them once unused")
    grace: int = _key("30d", _parse_duration, "how long after its last event ends a UPN is kept under expire")
    sweep_interval: int = _key("1h", _parse_duration, "how often serve runs the lifecycle sweep")


@dataclass(frozen=True)
class LimitsSection:
    mime_depth: int = _key("20", _parse_int, "deepest MIME nesting read in a message")
    mime_parts: int = _key("200", _parse_int, "most MIME parts read in a message")
    calendar_components: int = _key("500", _parse_int, "most components read in one calendar object")


@dataclass(frozen=True)
class Settings:
    gateway: GatewaySection = field(default_factory=GatewaySection)
    smtp: SmtpSection = field(default_factory=SmtpSection)
    relay: RelaySection = field(default_factory=RelaySection)
    calendar: CalendarSection = field(default_factory=CalendarSection)
    invitation: InvitationSection = field(default_factory=InvitationSection)
    crypto: CryptoSection = field(default_factory=CryptoSection)
    activation: ActivationSection = field(default_factory=ActivationSection)
    imap: ImapSection = field(default_factory=ImapSection)
    web: WebSection = field(default_factory=WebSection)
    lifecycle: LifecycleSection = field(default_factory=LifecycleSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    source: str = "built-in defaults"

    @property
    def state_dir(self) -> Path:
        return Path(self.gateway.state_dir)

    @property
    def invitation_from(self) -> str:
        return self.invitation.from_ or f"imip-gateway@{self.gateway.hostname}"

    @property
    def gnupg_home(self) -> Path:
        return Path(self.crypto.gnupg_home or self.state_dir / "gnupg")

    @property
    def auth_users_file(self) -> Path:
        return Path(self.smtp.auth_users_file or self.state_dir / "smtp-users")

    @property
    def database_path(self) -> Path:
        return self.state_dir / "gateway.sqlite3"

    @property
    def mime_limits(self) -> Limits:
        """The ``[limits]`` section in the form the mime package takes."""
        limits = self.limits
        return Limits(limits.mime_depth, limits.mime_parts, limits.calendar_components)


def section_fields(section_type: type) -> dict[str, dataclasses.Field[Any]]:
    """Map each ini key of a section to its dataclass field (``from`` is ``from_``)."""
    return {f.name.rstrip("_"): f for f in dataclasses.fields(section_type)}


def schema() -> dict[str, dict[str, dataclasses.Field[Any]]]:
    """Return every section and key the settings file may contain, in the file's order."""
    return {name: section_fields(section_type) for name, section_type in _SECTION_TYPES.items()}


_SECTION_TYPES = {
    "gateway": GatewaySection,
    "smtp": SmtpSection,
    "relay": RelaySection,
    "calendar": CalendarSection,
    "invitation": InvitationSection,
    "crypto": CryptoSection,
    "activation": ActivationSection,
    "imap": ImapSection,
    "web": WebSection,
    "lifecycle": LifecycleSection,
    "limits": LimitsSection,
}

_PATH_PARSERS = (_path, _paths)


# --- loading ------------------------------------------------------------


def load(path: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (or only the defaults when it is None) and the environment overrides.

    Raises ConfigError naming the file, section, key and value on any problem.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, tuple[str, str]]] = {}
    base = Path.cwd()
    source = "built-in defaults"

    if path is not None:
        file = Path(path)
        source = str(file)
        base = file.resolve().parent
        raw = _read_file(file)

    _apply_environment(raw, environ)
    settings = _build(raw, base, source)
    _check_combinations(settings)
    return settings


def _read_file(file: Path) -> dict[str, dict[str, tuple[str, str]]]:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0none")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        with file.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError(f"{file}: settings file not found; pass -c with the path of gateway.ini") from None
    except (configparser.Error, UnicodeDecodeError, OSError) as error:
        raise ConfigError(f"{file}: cannot read settings: {error}") from None

    known = schema()
    raw: dict[str, dict[str, tuple[str, str]]] = {}
    for section in parser.sections():
        if section not in known:
            raise ConfigError(
                f"{file}: unknown section [{section}]; allowed sections: {', '.join(known)}"
            )
        for key, value in parser.items(section):
            if key not in known[section]:
                raise ConfigError(
                    f"{file}: [{section}] unknown key {key!r}; allowed keys: {', '.join(known[section])}"
                )
            raw.setdefault(section, {})[key] = (value, str(file))
    return raw


def _apply_environment(raw: dict[str, dict[str, tuple[str, str]]], environ: Mapping[str, str]) -> None:
    known = schema()
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section = next((s for s in known if rest.startswith(s + "_")), None)
        key = rest[len(section) + 1:] if section else ""
        if section is None or key not in known[section]:
            raise ConfigError(
                f"environment variable {name}: no such setting; "
                f"use {ENV_PREFIX}<SECTION>_<KEY> with a key from gateway.ini"
            )
        raw.setdefault(section, {})[key] = (value, f"environment variable {name}")


def _build(raw: dict[str, dict[str, tuple[str, str]]], base: Path, source: str) -> Settings:
    sections: dict[str, Any] = {}
    for section, fields in schema().items():
        values: dict[str, Any] = {}
        for key, spec in fields.items():
            text, origin = raw.get(section, {}).get(key, (spec.metadata["raw_default"], "default"))
            parse = spec.metadata["parse"]
            try:
                value = parse(text)
            except ValueError as error:
                raise ConfigError(
                    f"{origin}: [{section}] {key} = {text!r} is invalid; expected {error}"
                ) from None
            if parse in _PATH_PARSERS:
                value = _resolve_paths(value, base)
            values[spec.name] = value
        sections[section] = _SECTION_TYPES[section](**values)
    return Settings(**sections, source=source)


def _resolve_paths(value: str | tuple[str, ...], base: Path) -> str | tuple[str, ...]:
    if isinstance(value, tuple):
        return tuple(str(base / item) for item in value)
    return str(base / value) if value else value


def _check_combinations(settings: Settings) -> None:
    """Reject values that are each valid but cannot work together."""
    problems = []
    invitation = settings.invitation

    if invitation.otp_sequence < 2 or invitation.otp_sequence > 9999:
        problems.append(f"[invitation] otp_sequence = {invitation.otp_sequence} must be from 2 to 9999")
    if not 0 <= invitation.otp_refresh_below < invitation.otp_sequence:
        problems.append(
            f"[invitation] otp_refresh_below = {invitation.otp_refresh_below} must be from 0 to "
            f"otp_sequence - 1 ({invitation.otp_sequence - 1})"
        )
    if settings.smtp.require_tls and not settings.smtp.tls_cert:
        problems.append("[smtp] require_tls = true needs tls_cert and tls_key for STARTTLS")
    if bool(settings.smtp.tls_cert) != bool(settings.smtp.tls_key):
        problems.append("[smtp] tls_cert and tls_key must be set together")
    if bool(settings.crypto.smime_cert) != bool(settings.crypto.smime_key):
        problems.append("[crypto] smime_cert and smime_key must be set together")
    if settings.relay.username and not settings.relay.password_file:
        problems.append("[relay] username is set: password_file must name the file holding its password")
    if settings.imap.enabled:
        for key in ("username", "password_file"):
            if not getattr(settings.imap, key):
                problems.append(f"[imap] enabled = true: {key} cannot be guessed, set it")
    for section, key, low in (
        ("limits", "mime_depth", 1),
        ("limits", "mime_parts", 1),
        ("limits", "calendar_components", 1),
        ("smtp", "max_message_size", 1024),
    ):
        value = getattr(getattr(settings, section), key)
        if value < low:
            problems.append(f"[{section}] {key} = {value} must be at least {low}")

    if problems:
        raise ConfigError(f"{settings.source}: " + "; ".join(problems))


def effective_items(settings: Settings) -> list[tuple[str, str, str]]:
    """List (section, key, value as text) for display, with secrets masked."""
    items = []
    for section, fields in schema().items():
        values = getattr(settings, section)
        for key, spec in fields.items():
            value = getattr(values, spec.name)
            parse = spec.metadata["parse"]
            if parse is _parse_duration:
                text = format_duration(value)
            elif parse is _parse_durations:
                text = ", ".join(format_duration(item) for item in value)
            elif isinstance(value, tuple):
                text = ", ".join(str(item) for item in value)
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            if spec.metadata["secret"] and text:
                text = "********"
            items.append((section, key, text))
    return items
