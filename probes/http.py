"""The ``http`` probe: resolve, connect, TLS, request, read — each phase timed and bounded.

Every hop of a redirect chain is resolved through the target's resolvers (never the system
resolver), connected to by address with the egress allowlist checked, and spoken to with the
URL's host in SNI and ``Host``. One deadline bounds all of it. Phase times (seconds) are summed
over the hops: ``resolve``, ``connect``, ``tls``, ``first_byte``, ``transfer``. A failure ends
the phases with the one that failed, timed up to the failure (an exchange that failed, before or
during the body, counts as ``first_byte``).

Evidence: the last hop's ``url``, ``resolve``, ``attempts`` (addresses tried), ``connected``,
``tls``, ``status``, ``headers`` of interest, ``body_length``/``body_sha256``; earlier hops in
``redirects``; ``blockpage`` when one matched; ``detail`` with the error text of a failure.
"""

from __future__ import annotations

import ssl
import time
import urllib.parse
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from netwatch.deadline import Deadline
from netwatch.failures import Failure, Phase, classify, is_network_error
from netwatch.model import Outcome, Target
from probes.blockpage import match_blockpage
from probes.connect import connect_any
from probes.dnsquery import ResolverSpec
from probes.env import ProbeEnv
from probes.httpexchange import exchange
from probes.resolve import ip_literal, resolve_host
from probes.tlsinfo import client_context, handshake, session_evidence

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class Params(BaseModel):
    """``url``: http:// or https:// URL; ``resolvers``: asked in order for the URL's host (unless
    ``addresses`` pins the addresses to connect to, or the host is an IP literal);
    ``max_redirects``: redirects followed before ``http_too_many_redirects``;
    ``max_body_bytes``: body bytes read before ``http_body_too_large``;
    ``expect_status``: statuses counted as success (default: any 2xx after redirects);
    ``verify_tls``: check the certificate chain and host name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://[^/?#\s]+")
    resolvers: tuple[ResolverSpec, ...] = ()
    addresses: tuple[str, ...] = ()
    method: Literal["GET", "HEAD"] = "GET"
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_body_bytes: int = Field(default=1_048_576, ge=0)
    expect_status: tuple[int, ...] = ()
    verify_tls: bool = True
    headers: dict[str, str] = Field(default_factory=dict)


class _Probe:
    """One run of the probe: the parameters, the accumulating phases and the hops' evidence."""

    def __init__(self, params: Params, deadline: Deadline, env: ProbeEnv) -> None:
        self.params = params
        self.deadline = deadline
        self.env = env
        self.phases: dict[str, float] = {}
        self.partial = False
        self.origin = urllib.parse.urlsplit(params.url).hostname or ""

    def add_phase(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds

    def run(self) -> Outcome:
        url = self.params.url
        redirects: list[dict[str, Any]] = []
        while True:
            failure, hop = self.hop(url)
            status = hop.get("status")
            location = hop.get("headers", {}).get("location")
            if failure is not None or status not in _REDIRECTS or location is None:
                break
            if len(redirects) == self.params.max_redirects:
                failure = Failure.HTTP_TOO_MANY_REDIRECTS
                break
            next_url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(next_url).scheme not in ("http", "https"):
                failure, hop["detail"] = (
                    Failure.HTTP_PROTOCOL_ERROR,
                    f"redirect to unsupported URL {next_url!r}",
                )
                break
            next_host = urllib.parse.urlsplit(next_url).hostname or ""
            if next_host != self.origin and not self.params.resolvers and ip_literal(next_host) is None:
                # Pinned addresses belong to the URL's own host; never guess another host's address.
                hop["redirect_not_followed"] = f"no resolver configured for {next_host!r}"
                break
            redirects.append(
                {"url": url, "status": status, "location": location, "connected": hop["connected"]}
            )
            url = next_url
        if failure is None and status not in (self.params.expect_status or range(200, 300)):
            failure = Failure.HTTP_STATUS
        evidence = {"url": url, **hop, "redirects": redirects} if redirects else {"url": url, **hop}
        return Outcome(failure, dict(self.phases), evidence, self.partial)

    def hop(self, url: str) -> tuple[Failure | None, dict[str, Any]]:
        """Fetch ``url`` once; the failure (None if a response was read) and this hop's evidence."""
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            return Failure.HTTP_PROTOCOL_ERROR, {"connected": None, "detail": f"bad port in {url!r}: {exc}"}
        pinned = self.params.addresses if host == self.origin else ()
        resolution = resolve_host(host, self.params.resolvers, self.deadline, self.env, pinned)
        self.add_phase("resolve", resolution.duration_s)
        self.partial |= resolution.partial
        evidence: dict[str, Any] = {"resolve": resolution.to_evidence(), "connected": None}
        if resolution.failure is not None:
            return resolution.failure, evidence
        connection = connect_any(resolution.addresses, port, self.deadline, self.env)
        self.add_phase("connect", connection.duration_s)
        self.partial |= connection.partial
        evidence.update(attempts=connection.attempts, connected=connection.address)
        if connection.sock is None or connection.address is None:
            return connection.failure, evidence
        sock = connection.sock
        if parts.scheme == "https":
            started = time.monotonic()
            try:
                sock = handshake(
                    sock, host, self.deadline, client_context(self.env.ca_file, self.params.verify_tls)
                )
            except Exception as exc:
                if not is_network_error(exc):
                    raise
                self.add_phase("tls", time.monotonic() - started)
                return self.tls_failure(exc, host, port, connection.address, evidence)
            self.add_phase("tls", time.monotonic() - started)
            evidence["tls"] = session_evidence(sock, verified=self.params.verify_tls)
        started = time.monotonic()
        try:
            response = exchange(
                sock,
                method=self.params.method,
                host_header=parts.netloc.rpartition("@")[2],
                path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                headers={"User-Agent": self.env.user_agent, **self.params.headers},
                max_body_bytes=self.params.max_body_bytes,
                deadline=self.deadline,
            )
        except Exception as exc:
            if not is_network_error(exc):
                raise
            # The failed phase is timed too, as every failing phase is: the detector dates the
            # failure from when it began (the request was sent).
            self.add_phase("first_byte", time.monotonic() - started)
            return classify(exc, Phase.HTTP), {**evidence, "detail": _describe(exc)}
        self.add_phase("first_byte", response.first_byte_s)
        self.add_phase("transfer", response.transfer_s)
        evidence.update(response.to_evidence())
        blockpage = match_blockpage(
            self.env.blockpage_fingerprints,
            response.status,
            response.headers,
            response.body,
            response.body_sha256,
        )
        if blockpage is not None:
            return Failure.HTTP_BLOCKPAGE, {**evidence, "blockpage": blockpage}
        if response.too_large:
            return Failure.HTTP_BODY_TOO_LARGE, evidence
        return None, evidence

    def tls_failure(
        self, exc: Exception, host: str, port: int, address: str, evidence: dict[str, Any]
    ) -> tuple[Failure, dict[str, Any]]:
        """Classify a failed handshake; after a verification failure, look at the certificate anyway.

        The second handshake skips verification only to record what the server presented (the
        issuer is the finding when a rogue root intercepts); no request is sent over it.
        """
        failure = classify(exc, Phase.TLS)
        evidence = {**evidence, "detail": _describe(exc)}
        if isinstance(exc, ssl.SSLCertVerificationError) and not self.deadline.expired:
            again = connect_any((address,), port, self.deadline, self.env)
            if again.sock is not None:
                try:
                    with handshake(again.sock, host, self.deadline, client_context(None, False)) as tls:
                        evidence["tls"] = session_evidence(tls, verified=False)
                except Exception as retry_exc:
                    if not is_network_error(retry_exc):
                        raise
                    evidence["tls_inspection_error"] = _describe(retry_exc)
        return failure, evidence


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def probe_http(target: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
    """Fetch ``target.params.url`` (a ``Params``); see the module docstring for phases and evidence."""
    params: Params = target.params
    return _Probe(params, deadline, env).run()
