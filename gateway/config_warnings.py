"""Settings that are valid but insecure, reported by ``check-config`` and at start."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

from gateway.settings import Settings

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _self_signed(path: str) -> bool | None:
    """Tell whether the PEM certificate at ``path`` is self-signed; None when it cannot be read."""
    try:
        certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    return certificate.issuer == certificate.subject


def insecure_combinations(settings: Settings) -> list[str]:
    """Describe each insecure combination, with what to change."""
    warnings = []
    smtp, relay, crypto, web, imap = settings.smtp, settings.relay, settings.crypto, settings.web, settings.imap

    wide = [str(net) for net in smtp.trusted_networks if not net.is_loopback]
    if wide and not smtp.require_tls:
        warnings.append(
            f"[smtp] trusted_networks includes {', '.join(wide)} but require_tls is false: "
            "relay rights and invitation requests can travel in clear; set tls_cert, tls_key and require_tls"
        )
    if any(net.prefixlen == 0 for net in smtp.trusted_networks):
        warnings.append("[smtp] trusted_networks trusts every address: the gateway is an open relay")
    for endpoint in smtp.listen:
        if not _is_loopback(endpoint.host) and not smtp.tls_cert:
            warnings.append(f"[smtp] listen {endpoint} is not on loopback and no tls_cert is set: no STARTTLS")

    generated = settings.state_dir / "smime" / "gateway-cert.pem"
    if not crypto.smime_cert and not generated.exists():
        warnings.append(
            "[crypto] smime_cert is empty: serve makes a self-signed gateway certificate, "
            "which attendees' mail clients will not trust; import a CA-issued one with keys import --own"
        )
    elif not crypto.smime_cert and _self_signed(str(generated)):
        warnings.append(f"the gateway certificate {generated} is self-signed: attendees will not trust it; "
                        "import a CA-issued one with keys import --own")
    elif crypto.smime_cert and _self_signed(crypto.smime_cert):
        warnings.append(f"[crypto] smime_cert {crypto.smime_cert} is self-signed: attendees will not trust it")
    if not crypto.pgp_key:
        warnings.append(
            "[crypto] pgp_key is empty: the gateway uses an OpenPGP key it made itself, which attendees have "
            "not verified; publish its fingerprint (keys list) or import your own with keys import --own"
        )

    if relay.starttls != "required" and not _is_loopback(relay.smarthost.host):
        warnings.append(
            f"[relay] starttls = {relay.starttls} towards {relay.smarthost}: mail may cross the network in clear"
        )
    if relay.username and relay.starttls != "required":
        warnings.append("[relay] username is set but starttls is not required: the password may be sent in clear")

    if imap.enabled and imap.tls == "none" and not _is_loopback(imap.host):
        warnings.append(f"[imap] tls = none towards {imap.host}: the IMAP password travels in clear")

    public = urlsplit(web.public_url)
    if public.scheme == "http" and not _is_loopback(public.hostname or ""):
        warnings.append(f"[web] public_url {web.public_url} is http: signup pages and passwords travel in clear")
    if any(net.prefixlen == 0 for net in web.trusted_proxies):
        warnings.append("[web] trusted_proxies trusts every address: any client can forge X-Forwarded-For")

    if settings.activation.unverified_reply == "relay":
        warnings.append(
            "[activation] unverified_reply = relay: replies that prove nothing reach the organizer (marked by header)"
        )
    return warnings
