"""The lab's certificate authorities, built on ``trustme``: everything in memory, nothing trusted system-wide.

Two roots, so tests and the lab can stage TLS interception the way Kazakhstan did in 2019 (the
"Qaznet Trust Network" root that citizens were told to install):

- ``trusted``: the lab CA. Its PEM goes to ``ProbeEnv.ca_file``; certificates it issues verify.
- ``rogue``: a separate root nobody trusts. Certificates it issues fail verification with
  ``tls_untrusted_cert``, and the probe's evidence shows this root as the issuer.

A certificate for the wrong name is a trusted certificate issued for other host names
(``server_context(["elsewhere.example"])``): it verifies up to the root but fails the host check.
"""

from __future__ import annotations

import ssl
from enum import StrEnum
from pathlib import Path

import trustme

TRUSTED_ORGANIZATION = "netwatch lab CA"
ROGUE_ORGANIZATION = "Qaznet Trust Network (netwatch lab rogue root)"


class Issuer(StrEnum):
    """Which root signs a server certificate."""

    TRUSTED = "trusted"
    ROGUE = "rogue"


class LabPKI:
    """A trusted lab CA and a rogue root, each a fresh key pair per instance.

    Cheap enough to build per test module (ECDSA keys); not thread-safe while issuing, but the
    ``ssl.SSLContext`` objects it returns may be shared by server threads.
    """

    def __init__(self) -> None:
        self.trusted = trustme.CA(organization_name=TRUSTED_ORGANIZATION)
        self.rogue = trustme.CA(organization_name=ROGUE_ORGANIZATION)

    def ca_pem(self) -> bytes:
        """The trusted root certificate, PEM-encoded."""
        pem: bytes = self.trusted.cert_pem.bytes()
        return pem

    def write_ca_file(self, path: str | Path) -> str:
        """Write the trusted root's PEM to ``path`` (for ``ProbeEnv.ca_file``); returns the path as str."""
        target = Path(path)
        target.write_bytes(self.ca_pem())
        return str(target)

    def server_context(self, hostnames: list[str], issuer: Issuer = Issuer.TRUSTED) -> ssl.SSLContext:
        """A server-side context presenting a fresh leaf certificate for ``hostnames``.

        ``hostnames`` are DNS names or IP literals (they become subjectAltNames); the first is the
        common name. The server sends the leaf alone (the root signs it directly), as real servers
        do: the client must already hold the root to verify it.
        """
        if not hostnames:
            raise ValueError("a server certificate needs at least one host name")
        ca = self.trusted if issuer is Issuer.TRUSTED else self.rogue
        leaf = ca.issue_cert(*hostnames, common_name=hostnames[0])
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only the lab CA (for tests that talk to lab servers directly)."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.trusted.configure_trust(context)
        return context
