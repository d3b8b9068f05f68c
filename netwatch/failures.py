"""Map library exceptions to the closed failure vocabulary. The only module that knows their types.

A probe catches what a network call raises and asks ``classify(exc, phase)`` for the name to
record; the phase decides what a bare timeout means (a timeout while connecting is ``tcp_timeout``,
while reading the body it is ``http_timeout``). Anything that is not a network error is a bug and
becomes ``internal_error`` in the runner, never here.
"""

from __future__ import annotations

import errno
import http.client
import ssl
from enum import StrEnum

import dns.exception
import dns.message

from netwatch.deadline import DeadlineExceeded
from netwatch.model import Failure

__all__ = ["Failure", "Phase", "classify", "is_network_error"]


class Phase(StrEnum):
    """Where in a probe an exception happened."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    HTTP = "http"


_TIMEOUT_BY_PHASE = {
    Phase.DNS: Failure.DNS_TIMEOUT,
    Phase.CONNECT: Failure.TCP_TIMEOUT,
    Phase.TLS: Failure.TLS_TIMEOUT,
    Phase.HTTP: Failure.HTTP_TIMEOUT,
}
_OTHER_BY_PHASE = {
    Phase.DNS: Failure.DNS_ERROR,
    Phase.CONNECT: Failure.TCP_UNREACHABLE,
    Phase.TLS: Failure.TLS_HANDSHAKE_ERROR,
    Phase.HTTP: Failure.HTTP_PROTOCOL_ERROR,
}
_UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EADDRNOTAVAIL}
)
# ssl.SSLCertVerificationError.verify_code for X509_V_ERR_HOSTNAME_MISMATCH
_HOSTNAME_MISMATCH = 62


def is_network_error(exc: BaseException) -> bool:
    """True for exceptions a probe must turn into a failed measurement rather than raise."""
    return isinstance(
        exc, (OSError, dns.exception.DNSException, http.client.HTTPException, DeadlineExceeded)
    )


def classify(exc: BaseException, phase: Phase) -> Failure:
    """The failure name for a network exception raised during ``phase``.

    Order matters: ``ssl.SSLError`` and ``TimeoutError`` are both ``OSError`` subclasses, so the
    specific checks come before the generic errno-based ones.
    """
    if isinstance(exc, (DeadlineExceeded, TimeoutError, dns.exception.Timeout)):
        return _TIMEOUT_BY_PHASE[phase]
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == _HOSTNAME_MISMATCH:
            return Failure.TLS_HOSTNAME_MISMATCH
        return Failure.TLS_UNTRUSTED_CERT
    if isinstance(exc, ssl.SSLError):
        return Failure.TLS_HANDSHAKE_ERROR
    if isinstance(exc, ConnectionRefusedError):
        return Failure.TCP_REFUSED
    if isinstance(exc, http.client.RemoteDisconnected):
        # A ConnectionResetError subclass, but it means a clean close (FIN) before any response
        # byte, not an RST: the server (or a middlebox) hung up, the protocol exchange failed.
        return Failure.HTTP_PROTOCOL_ERROR
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return Failure.TCP_RESET
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return Failure.TCP_UNREACHABLE
    if isinstance(exc, (dns.exception.FormError, dns.message.ShortHeader, dns.message.TrailingJunk)):
        return Failure.DNS_ERROR
    if isinstance(exc, http.client.HTTPException):
        return Failure.HTTP_PROTOCOL_ERROR
    return _OTHER_BY_PHASE[phase]
