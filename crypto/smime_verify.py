"""S/MIME signature verification over the exact received bytes.

cryptography 50 cannot verify PKCS#7 or CMS signatures, and endesive checks
only the first SignerInfo, so the signature itself is checked by OpenSSL's
``cms -verify``. OpenSSL alone is not enough, for three reasons:

- it accepts a SignedData when any of several SignerInfos verifies, so a
  second, foreign signer could ride along. Exactly one SignerInfo is
  required here, read from our own parse.
- on failure it still writes the content it found to ``-out``. The content
  handed to callers is therefore taken from our own parse, only after
  success, and ``-out`` is never read.
- its chain errors do not say which rule failed. The signer's certificate
  is checked first by ``crypto.smime_trust`` (validity, chain, CRLs,
  address), and OpenSSL then verifies the signature with its own chain
  check still on: ``-noverify`` is never passed.

Signed attributes are required. Without them the signature covers the
content directly, with no content-type or message-digest attribute to
bind it, and no S/MIME agent sends that.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from crypto.cms import ID_DATA, SignedData, parse_signed_data
from crypto.errors import Asn1Error, SmimeError
from crypto.smime_trust import SmimeTrust, certificate_fingerprint, check_signer
from crypto.tools import run_openssl
from crypto.verdict import Reason, Verdict


def verify_smime_detached(
    signed_bytes: bytes,
    signature_der: bytes,
    from_address: str,
    trust: SmimeTrust,
    now: datetime.datetime | None = None,
) -> Verdict:
    """Verify a detached signature (multipart/signed) over ``signed_bytes``.

    ``signed_bytes`` is the first part exactly as received, headers and
    CRLF line ends included. Raises ``SmimeError`` when ``signature_der``
    is not a CMS SignedData at all.
    """
    signed_data = _parse(signature_der)
    if signed_data.content is not None:
        return Verdict.invalid(
            "smime",
            Reason.CONTENT_OUTSIDE,
            "the detached signature carries content of its own, so the first part is not what was signed",
        )
    return _verify(signature_der, signed_data, signed_bytes, from_address, trust, now)


def verify_smime_opaque(
    signed_der: bytes,
    from_address: str,
    trust: SmimeTrust,
    now: datetime.datetime | None = None,
) -> tuple[Verdict, bytes | None]:
    """Verify opaque signed data (smime-type=signed-data) and return its content.

    The content is returned only with a valid verdict, and always from our
    own parse of ``signed_der``. Raises ``SmimeError`` when the input is not
    a CMS SignedData.
    """
    signed_data = _parse(signed_der)
    if signed_data.content is None:
        return Verdict.invalid("smime", Reason.BAD_SIGNATURE, "opaque signed data carries no content"), None
    verdict = _verify(signed_der, signed_data, None, from_address, trust, now)
    return verdict, signed_data.content if verdict.is_valid else None


def unverified_opaque_content(signed_der: bytes) -> bytes | None:
    """Return the content of opaque signed data without checking anything.

    Only for showing a message (``inspect``) whose verdict is not valid;
    never act on it.
    """
    return _parse(signed_der).content


def _parse(data: bytes) -> SignedData:
    try:
        return parse_signed_data(data)
    except Asn1Error as error:
        raise SmimeError(f"not a CMS SignedData: {error}") from error


def _verify(
    signature_der: bytes,
    signed_data: SignedData,
    detached_content: bytes | None,
    from_address: str,
    trust: SmimeTrust,
    now: datetime.datetime | None,
) -> Verdict:
    verification_time = now or datetime.datetime.now(datetime.timezone.utc)
    failure = _check_structure(signed_data)
    if failure:
        return failure

    signer = signed_data.signers[0]
    candidates = _unique([*signed_data.certificates, *trust.imported])
    matches = [certificate for certificate in candidates if signer.matches(certificate)]
    if len(matches) != 1:
        found = "no certificate" if not matches else f"{len(matches)} certificates"
        return Verdict.invalid("smime", Reason.UNKNOWN_SIGNER, f"{found} match the SignerInfo")

    certificate = matches[0]
    fingerprint = certificate_fingerprint(certificate)
    intermediates = [other for other in signed_data.certificates if other is not certificate]
    problem = check_signer(certificate, intermediates, from_address, trust, verification_time)
    if problem:
        return Verdict.invalid("smime", problem.reason, problem.detail, fingerprint)

    openssl_failure = _openssl_verify(signature_der, detached_content, certificate, intermediates, trust)
    if openssl_failure:
        return Verdict.invalid("smime", openssl_failure[0], openssl_failure[1], fingerprint)
    return Verdict.valid("smime", from_address.strip().lower(), fingerprint)


def _check_structure(signed_data: SignedData) -> Verdict | None:
    if not signed_data.signers:
        return Verdict.invalid("smime", Reason.NO_SIGNER, "the SignedData has no SignerInfo")
    if len(signed_data.signers) > 1:
        return Verdict.invalid(
            "smime", Reason.SEVERAL_SIGNERS, f"the SignedData has {len(signed_data.signers)} SignerInfos"
        )
    if signed_data.content_type != ID_DATA:
        return Verdict.invalid("smime", Reason.BAD_SIGNATURE, f"signed content type {signed_data.content_type} is not id-data")
    if not signed_data.signers[0].has_signed_attributes:
        return Verdict.invalid("smime", Reason.BAD_SIGNATURE, "the SignerInfo has no signed attributes")
    return None


def _openssl_verify(
    signature_der: bytes,
    detached_content: bytes | None,
    certificate: x509.Certificate,
    intermediates: list[x509.Certificate],
    trust: SmimeTrust,
) -> tuple[Reason, str] | None:
    with tempfile.TemporaryDirectory(prefix="imip-smime-") as folder:
        work = Path(folder)
        (work / "signature.der").write_bytes(signature_der)
        _write_pem(work / "trusted.pem", trust.trusted)
        # With -nointern OpenSSL looks for the signer only in -certfile, so
        # it checks the very certificate the checks above accepted.
        _write_pem(work / "signer.pem", [certificate, *intermediates])
        arguments = [
            "cms", "-verify", "-binary", "-inform", "DER",
            "-in", str(work / "signature.der"),
            "-CAfile", str(work / "trusted.pem"),
            "-partial_chain", "-purpose", "smimesign",
            "-nointern", "-certfile", str(work / "signer.pem"),
            "-out", os.devnull,
        ]  # fmt: skip
        if detached_content is not None:
            (work / "content").write_bytes(detached_content)
            arguments += ["-content", str(work / "content")]
        result = run_openssl(arguments)

    if result.returncode == 0:
        return None
    message = _last_error_line(result.stderr)
    if b"certificate verify error" in result.stderr:
        return Reason.UNTRUSTED_CHAIN, f"OpenSSL rejected the chain: {message}"
    return Reason.BAD_SIGNATURE, f"OpenSSL: {message}"


def _write_pem(path: Path, certificates: Iterable[x509.Certificate]) -> None:
    path.write_bytes(b"".join(certificate.public_bytes(Encoding.PEM) for certificate in certificates))


def _last_error_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return "verification failed"
    # OpenSSL 3 error lines read "<thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:".
    fields = lines[-1].split(":")
    if len(fields) >= 6 and fields[1] == "error":
        return f"{fields[4]}: {fields[5]}"
    return lines[-1][:200]


def _unique(certificates: list[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[str] = set()
    result = []
    for certificate in certificates:
        fingerprint = certificate_fingerprint(certificate)
        if fingerprint not in seen:
            seen.add(fingerprint)
            result.append(certificate)
    return result
