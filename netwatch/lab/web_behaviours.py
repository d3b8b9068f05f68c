"""What the lab web server does with a request (one frozen value per behaviour), and the bytes it sends.

``Hang``, ``Reset`` and ``Garbage`` are connection-level (``CONNECTION_LEVEL``): set server-wide they
act before TLS and before any request is read.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass

DEFAULT_BLOCKPAGE = (
    "<html><head><title>Access restricted</title></head><body>"
    "<h1>Доступ к информационному ресурсу ограничен</h1>"  # noqa: RUF001 (Russian, as on Kazakh block pages)
    "<p>Access to this resource has been restricted by decision of the competent authority.</p>"
    "<p>netwatch lab block page</p></body></html>"
).encode()


@dataclass(frozen=True, slots=True)
class Ok:
    """Answer ``status`` with ``body`` (and ``Content-Length``)."""

    status: int = 200
    body: bytes = b"<html><body>ok</body></html>"
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Status:
    """Answer with status ``code`` and a short body."""

    code: int
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Blockpage:
    """Answer with a block page (by default a Kazakh-style "access restricted" page)."""

    body: bytes = DEFAULT_BLOCKPAGE
    status: int = 200


@dataclass(frozen=True, slots=True)
class Redirect:
    """Redirect to ``to`` (absolute URL or path)."""

    to: str
    code: int = 302


@dataclass(frozen=True, slots=True)
class RedirectLoop:
    """Redirect to the very URL that was asked for, forever."""

    code: int = 302


@dataclass(frozen=True, slots=True)
class SlowHeaders:
    """Wait ``delay`` seconds, then answer like ``Ok()``."""

    delay: float


@dataclass(frozen=True, slots=True)
class DripBody:
    """Send 200 headers, then one body byte every ``interval`` seconds, forever."""

    interval: float = 0.5


@dataclass(frozen=True, slots=True)
class EndlessBody:
    """Send 200 headers, then body chunks of ``chunk_size`` bytes as fast as the client reads, forever."""

    chunk_size: int = 65536


@dataclass(frozen=True, slots=True)
class Reset:
    """Close with a TCP RST (SO_LINGER 0), as a middlebox injecting resets would."""


@dataclass(frozen=True, slots=True)
class Hang:
    """Accept and never answer; the connection is held until the client leaves or the server stops."""


@dataclass(frozen=True, slots=True)
class Garbage:
    """Send ``data`` (not HTTP, not TLS) and close."""

    data: bytes = b"\x00garbage\xff" * 8


Behaviour = (
    Ok
    | Status
    | Blockpage
    | Redirect
    | RedirectLoop
    | SlowHeaders
    | DripBody
    | EndlessBody
    | Reset
    | Hang
    | Garbage
)
CONNECTION_LEVEL = (Hang, Reset, Garbage)


def render_headers(
    status: int, length: int | None, content_type: str, extra: tuple[tuple[str, str], ...], *, close: bool
) -> bytes:
    reason = http.client.responses.get(status, "Unknown")
    lines = [f"HTTP/1.1 {status} {reason}", "Server: netwatch-lab", f"Content-Type: {content_type}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if close:
        lines.append("Connection: close")
    lines.extend(f"{name}: {value}" for name, value in extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def render_response(
    status: int,
    body: bytes,
    content_type: str = "text/html; charset=utf-8",
    extra: tuple[tuple[str, str], ...] = (),
    *,
    close: bool,
    head: bool = False,
) -> bytes:
    """A complete response with ``Content-Length``; the body is left out for HEAD."""
    return render_headers(status, len(body), content_type, extra, close=close) + (b"" if head else body)
