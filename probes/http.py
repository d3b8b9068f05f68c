"""The ``http`` probe: resolve, connect, TLS, request, read — each phase timed and bounded."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from netwatch.deadline import Deadline
from netwatch.model import Outcome, Target
from probes.dnsquery import ResolverSpec
from probes.env import ProbeEnv


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


def probe_http(target: Target, deadline: Deadline, env: ProbeEnv) -> Outcome:
    raise NotImplementedError
