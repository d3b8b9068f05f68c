"""TLS for probes: client contexts, a deadline-bounded handshake, and certificate evidence.

The evidence is what makes interception visible: the leaf's fingerprint, subject and issuer, and
the issuer's key identifier, so a certificate minted by an unknown root (Kazakhstan's 2019
"Qaznet Trust Network") names that root even though it failed verification.
"""

from __future__ import annotations

import functools
import hashlib
import socket
import ssl
from typing import Any

from cryptography import x509

from netwatch.deadline import Deadline
from netwatch.model import format_utc

# ssl._ssl.ENCODING_DER: how the private chain API (Python < 3.13) is asked for DER bytes.
_ENCODING_DER = 2


@functools.lru_cache(maxsize=16)
def client_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` (PEM) or the system store when None; no checks at all
    when ``verify`` is False.

    Cached because loading the system store costs milliseconds of CPU per probe; the contexts are
    never mutated after creation, so sharing them between probe threads is safe.
    """
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_file)


def handshake(sock: socket.socket, host: str, deadline: Deadline, context: ssl.SSLContext) -> ssl.SSLSocket:
    """Wrap the connected ``sock`` and complete a TLS handshake within the deadline.

    SNI and the host check use ``host`` (Python sends no SNI for an IP literal and checks its IP
    SAN instead). ``sock`` is consumed: on error it is closed and the exception propagates.
    """
    tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        # One timeout for the whole handshake: CPython bounds do_handshake by a single deadline.
        tls.settimeout(deadline.remaining())
        tls.do_handshake()
    except BaseException:
        tls.close()
        raise
    return tls


def session_evidence(tls: ssl.SSLSocket, *, verified: bool) -> dict[str, Any]:
    """Protocol, cipher and the certificates the server presented, as JSON-ready facts."""
    chain = peer_chain(tls)
    cipher = tls.cipher()
    evidence: dict[str, Any] = {
        "verified": verified,
        "version": tls.version(),
        "cipher": cipher[0] if cipher else None,
        "chain_sha256": [hashlib.sha256(der).hexdigest() for der in chain],
    }
    if chain:
        evidence["leaf"] = certificate_evidence(chain[0])
        evidence["issuer"] = evidence["leaf"].get("issuer")
    return evidence


def peer_chain(tls: ssl.SSLSocket) -> list[bytes]:
    """DER certificates as sent by the server, leaf first, whether or not they verified.

    Python 3.13 has ``SSLSocket.get_unverified_chain``; 3.10-3.12 expose the same call on the
    private ``_sslobj``; failing both, only the leaf is available.
    """
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:
        return [bytes(der) for der in public() or []]
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:
        return [bytes(cert.public_bytes(_ENCODING_DER)) for cert in private() or []]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def certificate_evidence(der: bytes) -> dict[str, Any]:
    """Fingerprint, names, issuer key identifier and validity (UTC) of one DER certificate.

    A fresh dict each call; the parse is cached by the DER bytes, since a target presents the same
    certificate round after round and parsing it cost ~20% of an HTTPS probe's CPU
    (``bench/probe_throughput.py``).
    """
    evidence = _parse_certificate(der)
    return {**evidence, "names": list(evidence["names"])} if "names" in evidence else dict(evidence)


@functools.lru_cache(maxsize=1024)
def _parse_certificate(der: bytes) -> dict[str, Any]:
    fingerprint = hashlib.sha256(der).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        # OpenSSL accepted it but it is malformed (a careless interception box, say): keep the hash.
        return {"sha256": fingerprint, "parse_error": str(exc)}
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        issuer_key_id = aki.key_identifier.hex() if aki.key_identifier else None
    except x509.ExtensionNotFound:
        issuer_key_id = None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(name) for name in san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return {
        "sha256": fingerprint,
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_key_id": issuer_key_id,
        "serial": format(cert.serial_number, "x"),
        "not_before": format_utc(cert.not_valid_before_utc),
        "not_after": format_utc(cert.not_valid_after_utc),
        "names": names,
    }
