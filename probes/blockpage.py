"""Recognise a known block page in an HTTP response (``env.blockpage_fingerprints``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from probes.env import BlockpageFingerprint


def match_blockpage(
    fingerprints: Iterable[BlockpageFingerprint],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    body_sha256: str,
) -> str | None:
    """The name of the first fingerprint whose every given condition holds, or None.

    ``headers`` maps lower-case names to values; ``body`` is the (capped) body read and
    ``body_sha256`` its hex digest. A fingerprint with no condition at all never matches.
    """
    text: str | None = None
    for fingerprint in fingerprints:
        checks: list[bool] = []
        if fingerprint.status is not None:
            checks.append(status == fingerprint.status)
        if fingerprint.body_sha256 is not None:
            checks.append(body_sha256 == fingerprint.body_sha256.lower())
        if fingerprint.body_contains is not None:
            text = body.decode("utf-8", "replace") if text is None else text
            checks.append(fingerprint.body_contains in text)
        if fingerprint.header is not None:
            value = headers.get(fingerprint.header.lower())
            wanted = (fingerprint.header_contains or "").lower()
            checks.append(value is not None and wanted in value.lower())
        if checks and all(checks):
            return fingerprint.name
    return None
