"""Checks that an S/MIME signer's certificate may sign for a mail address.

OpenSSL checks the chain too during ``cms -verify``, but its error does not
name the check that failed in terms an operator can act on. The checks here run first and
each gives its own reason: validity now, keyUsage, a chain built by
``cryptography.x509.verification``, revocation by the configured CRLs, and
the address binding.

The chain is built with the client verifier under a changed policy. Its
default extension policy wants clientAuth in extendedKeyUsage and a
subjectAltName. Mail signing needs emailProtection instead (required when
a certificate lists extended key usages at all), and a certificate without
subjectAltName may still name its address in the legacy emailAddress
attribute. cryptography has no CRL checking in path validation, so
revocation is checked afterwards against the verified chain.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from crypto.binding import certificate_addresses, is_bound
from crypto.errors import KeyImportError
from crypto.verdict import Reason

MAX_CHAIN_DEPTH = 8


@dataclass(frozen=True)
class SmimeTrust:
    """The trust configuration an attendee's S/MIME signature is checked against.

    ``anchors`` are the CAs of ``[crypto] smime_ca_bundle``; ``imported``
    are attendees' certificates the operator imported, each trusted as it
    is; ``crls`` come from ``[crypto] smime_crls``.
    """

    anchors: tuple[x509.Certificate, ...] = ()
    imported: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    @classmethod
    def load(
        cls,
        ca_bundle: str | Path | None = None,
        crl_files: Sequence[str | Path] = (),
        imported: Sequence[bytes] = (),
    ) -> SmimeTrust:
        """Read the CA bundle, the CRL files and imported PEM or DER certificates."""
        anchors = _read_bundle(Path(ca_bundle)) if ca_bundle else []
        crls = [_read_crl(Path(path)) for path in crl_files]
        certificates = [load_certificate(data) for data in imported]
        return cls(tuple(anchors), tuple(certificates), tuple(crls))

    @property
    def trusted(self) -> tuple[x509.Certificate, ...]:
        return self.anchors + self.imported


@dataclass(frozen=True)
class Failure:
    """A failed certificate check: the verdict reason and what was found."""

    reason: Reason
    detail: str


def load_certificate(data: bytes) -> x509.Certificate:
    """Load one PEM or DER certificate, raising ``KeyImportError`` if neither works."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as error:
        raise KeyImportError(f"not a PEM or DER X.509 certificate: {error}") from error


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """Return the SHA-256 of the certificate's DER in upper-case hex."""
    return certificate.fingerprint(hashes.SHA256()).hex().upper()


def check_signer(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    from_address: str,
    trust: SmimeTrust,
    now: datetime.datetime,
) -> Failure | None:
    """Run every certificate check on a signer; return the first failure or None."""
    failure = _check_validity(certificate, now) or _check_key_usage(certificate)
    if failure:
        return failure

    chain_or_failure = _build_chain(certificate, intermediates, trust, now)
    if isinstance(chain_or_failure, Failure):
        return chain_or_failure

    failure = _check_revocation(chain_or_failure, trust.crls)
    if failure:
        return failure

    addresses = certificate_addresses(certificate)
    if not is_bound(addresses, from_address):
        bound = ", ".join(addresses) or "no address"
        return Failure(Reason.NOT_BOUND, f"certificate binds {bound}, From is {from_address or 'missing'}")
    return None


def _check_validity(certificate: x509.Certificate, now: datetime.datetime) -> Failure | None:
    if now > certificate.not_valid_after_utc:
        return Failure(Reason.EXPIRED, f"certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}")
    if now < certificate.not_valid_before_utc:
        return Failure(Reason.EXPIRED, f"certificate not valid before {certificate.not_valid_before_utc:%Y-%m-%d}")
    return None


def _check_key_usage(certificate: x509.Certificate) -> Failure | None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if usage.digital_signature or usage.content_commitment:
        return None
    return Failure(Reason.UNTRUSTED_CHAIN, "certificate keyUsage allows no digitalSignature")


def _build_chain(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trust: SmimeTrust,
    now: datetime.datetime,
) -> list[x509.Certificate] | Failure:
    if not trust.trusted:
        return Failure(Reason.UNTRUSTED_CHAIN, "no trusted CA and no imported certificate configured")
    verifier = (
        PolicyBuilder()
        .store(Store(list(trust.trusted)))
        .time(now)
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=_ca_policy(), ee_policy=_end_entity_policy())
        .build_client_verifier()
    )
    try:
        return list(verifier.verify(certificate, list(intermediates)).chain)
    except VerificationError as error:
        return Failure(Reason.UNTRUSTED_CHAIN, str(error))


def _require_email_protection(policy: Policy, certificate: x509.Certificate, usage: x509.ExtendedKeyUsage | None) -> None:
    if usage is None:
        return
    if ExtendedKeyUsageOID.EMAIL_PROTECTION in usage or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usage:
        return
    raise ValueError("extendedKeyUsage lacks emailProtection")


def _end_entity_policy() -> ExtensionPolicy:
    return (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_email_protection)
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
    )


def _ca_policy() -> ExtensionPolicy:
    return ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_email_protection
    )


def _check_revocation(
    chain: list[x509.Certificate], crls: Sequence[x509.CertificateRevocationList]
) -> Failure | None:
    for position, certificate in enumerate(chain):
        issuer = chain[position + 1] if position + 1 < len(chain) else None
        for crl in crls:
            if not _crl_applies(crl, certificate, issuer):
                continue
            if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
                return Failure(Reason.REVOKED, f"serial {certificate.serial_number:x} of {certificate.subject.rfc4514_string()} is on a CRL")
    return None


def _crl_applies(
    crl: x509.CertificateRevocationList, certificate: x509.Certificate, issuer: x509.Certificate | None
) -> bool:
    # NOTE: a CRL past its nextUpdate is still used. Its entries stay true,
    # and refusing it would turn a late CRL refresh into an outage.
    if crl.issuer != certificate.issuer:
        return False
    if issuer is None:
        # A self-signed or directly imported certificate: only a CRL signed
        # by its own key can speak for it.
        issuer = certificate
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _read_bundle(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyImportError(f"cannot read CA bundle {path}: {error.strerror}") from error
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise KeyImportError(f"CA bundle {path} contains no readable PEM certificate: {error}") from error


def _read_crl(path: Path) -> x509.CertificateRevocationList:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyImportError(f"cannot read CRL {path}: {error.strerror}") from error
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as error:
        raise KeyImportError(f"{path} is not a PEM or DER CRL: {error}") from error
