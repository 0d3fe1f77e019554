"""The parts of a CMS SignedData (RFC 5652) that the signature checks need.

OpenSSL's ``cms -verify`` accepts a SignedData with several SignerInfos when
any one of them verifies, and on failure still writes the content it found.
So the structure is read here first, and the content handed on is always
taken from this parse rather than from OpenSSL's output.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from crypto import der
from crypto.errors import Asn1Error

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"


@dataclass(frozen=True)
class SignerInfo:
    """One SignerInfo: the identifier of its certificate and the presence of signed attributes."""

    issuer: bytes | None
    serial_number: int | None
    subject_key_identifier: bytes | None
    has_signed_attributes: bool

    def matches(self, certificate: x509.Certificate) -> bool:
        """Tell whether ``certificate`` is the one this SignerInfo identifies."""
        if self.subject_key_identifier is not None:
            return _subject_key_identifier(certificate) == self.subject_key_identifier
        return (
            certificate.serial_number == self.serial_number
            and issuer_encoding(certificate) == self.issuer
        )


@dataclass(frozen=True)
class SignedData:
    """A parsed SignedData: encapsulated content, certificates and signers."""

    content_type: str
    content: bytes | None
    certificates: tuple[x509.Certificate, ...]
    signers: tuple[SignerInfo, ...]


def parse_signed_data(data: bytes) -> SignedData:
    """Parse a DER or BER ContentInfo that must hold a SignedData.

    Raises ``Asn1Error`` for anything else.
    """
    content_info = _sequence(der.parse(data), "ContentInfo")
    if len(content_info) < 2 or content_info[0].oid() != ID_SIGNED_DATA:
        raise Asn1Error("ContentInfo does not hold a SignedData")
    explicit = content_info[1]
    if not explicit.is_context(0):
        raise Asn1Error("ContentInfo content is not tagged [0]")

    fields = _sequence(_single_child(explicit), "SignedData")
    if len(fields) < 4:
        raise Asn1Error("SignedData has too few fields")
    content_type, content = _encapsulated_content(fields[2])

    certificates: list[x509.Certificate] = []
    signer_set = fields[-1]
    for field in fields[3:-1]:
        if field.is_context(0):
            certificates = _certificates(field)
    if not signer_set.is_universal(der.SET):
        raise Asn1Error("SignedData does not end with a SET of SignerInfos")

    signers = tuple(_signer_info(element) for element in signer_set.children())
    return SignedData(content_type, content, tuple(certificates), signers)


def issuer_encoding(certificate: x509.Certificate) -> bytes:
    """Return the issuer Name exactly as encoded inside the certificate."""
    tbs = _sequence(der.parse(certificate.tbs_certificate_bytes), "TBSCertificate")
    index = 1 if tbs[0].is_context(0) else 0
    # Fields after the optional version: serialNumber, signature, issuer.
    return tbs[index + 2].encoding


def _encapsulated_content(element: der.Element) -> tuple[str, bytes | None]:
    fields = _sequence(element, "EncapsulatedContentInfo")
    if not fields or not fields[0].is_universal(der.OBJECT_IDENTIFIER):
        raise Asn1Error("EncapsulatedContentInfo has no content type")
    if len(fields) == 1:
        return fields[0].oid(), None
    if not fields[1].is_context(0):
        raise Asn1Error("encapsulated content is not tagged [0]")
    value = _single_child(fields[1])
    if not value.is_universal(der.OCTET_STRING):
        raise Asn1Error("encapsulated content is not an OCTET STRING")
    return fields[0].oid(), value.octets()


def _certificates(element: der.Element) -> list[x509.Certificate]:
    certificates = []
    for choice in element.children():
        # Only plain certificates count. The other CertificateChoices
        # (attribute and extended certificates) carry no mail address.
        if not choice.is_universal(der.SEQUENCE):
            continue
        try:
            certificates.append(x509.load_der_x509_certificate(choice.encoding))
        except ValueError as error:
            raise Asn1Error(f"SignedData carries an unreadable certificate: {error}") from error
    return certificates


def _signer_info(element: der.Element) -> SignerInfo:
    fields = _sequence(element, "SignerInfo")
    if len(fields) < 5:
        raise Asn1Error("SignerInfo has too few fields")
    has_signed_attributes = fields[3].is_context(0)
    identifier = fields[1]

    if identifier.is_context(0):
        return SignerInfo(None, None, identifier.octets(), has_signed_attributes)

    issuer_and_serial = _sequence(identifier, "IssuerAndSerialNumber")
    if len(issuer_and_serial) != 2:
        raise Asn1Error("IssuerAndSerialNumber must have two fields")
    issuer, serial = issuer_and_serial
    return SignerInfo(issuer.encoding, serial.integer(), None, has_signed_attributes)


def _subject_key_identifier(certificate: x509.Certificate) -> bytes | None:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return extension.value.digest


def _sequence(element: der.Element, name: str) -> list[der.Element]:
    if not element.is_universal(der.SEQUENCE):
        raise Asn1Error(f"{name} is not a SEQUENCE")
    return element.children()


def _single_child(element: der.Element) -> der.Element:
    children = element.children()
    if len(children) != 1:
        raise Asn1Error(f"tagged element contains {len(children)} elements, expected one")
    return children[0]
