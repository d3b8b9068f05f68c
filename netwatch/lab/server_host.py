"""One process per lab network: hosts that network's real servers and takes orders on stdin.

Run as ``ip netns exec <ns> python -m netwatch.lab.server_host``. Protocol (JSON lines):

- first stdin line: the spec ``{"pki": {...PEMs}, "dns": [{"id", "address", "records"}],
  "sites": [{"host", "address"}], "censor": {"address", "hosts"} | null}``; the host answers
  ``{"ready": true}`` once every server listens (or ``{"ready": false, "error": ...}`` and exits);
- then one command per line, each answered by ``{"ok": true}`` or ``{"ok": false, "error": ...}``:
  ``{"op": "dns", "faults": {server_id: [[fault, name or null], ...]}}`` replaces every DNS fault;
  ``{"op": "ping"}``.

End of stdin (the lab closed the pipe, or died: even SIGKILL closes it) stops every server and
exits, so a crashed lab leaves no server process behind.

The censor (in the national core) listens on three ports of its address: 80 serves a block page,
443 presents rogue-root certificates for every known site (TLS interception), 444 resets every
connection (HTTPS to a blocked site). The core's nftables rules steer inside clients there.
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from typing import Any

import trustme

from netwatch.lab.dns_server import DnsFault, DnsServer
from netwatch.lab.pki import Issuer, LabPKI
from netwatch.lab.web_server import Blockpage, Ok, Reset, WebServer

BIG_PATH = "/big"
BIG_BODY = b"x" * 262_144  # for throttling tests: a transfer long enough to time
CENSOR_BLOCK_PORT = 80
CENSOR_MITM_PORT = 443
CENSOR_RESET_PORT = 444


def pki_to_json(pki: LabPKI) -> dict[str, str]:
    """The two roots of ``pki`` (certificates and keys) for handing to a server host."""
    return {
        "trusted_cert": pki.trusted.cert_pem.bytes().decode(),
        "trusted_key": pki.trusted.private_key_pem.bytes().decode(),
        "rogue_cert": pki.rogue.cert_pem.bytes().decode(),
        "rogue_key": pki.rogue.private_key_pem.bytes().decode(),
    }


def pki_from_json(data: dict[str, str]) -> LabPKI:
    """The same roots rebuilt in this process (``LabPKI`` itself always makes fresh ones)."""
    pki = LabPKI.__new__(LabPKI)
    pki.trusted = trustme.CA.from_pem(data["trusted_cert"].encode(), data["trusted_key"].encode())
    pki.rogue = trustme.CA.from_pem(data["rogue_cert"].encode(), data["rogue_key"].encode())
    return pki


def start_servers(spec: dict[str, Any], stack: ExitStack) -> dict[str, DnsServer]:
    """Start every server in ``spec``; each is stopped when ``stack`` closes. Returns DNS servers by id."""
    pki = pki_from_json(spec["pki"])
    dns: dict[str, DnsServer] = {}
    for server in spec.get("dns", []):
        records = {(name, rtype): values for name, rtype, values in server["records"]}
        dns[server["id"]] = stack.enter_context(DnsServer(records, host=server["address"], port=53))
    for site in spec.get("sites", []):
        host, address = site["host"], site["address"]
        for tls in (None, pki.server_context([host])):
            web = stack.enter_context(WebServer(address, 443 if tls else 80, tls=tls, default=_page(host)))
            web.set_behaviour(Ok(body=BIG_BODY, content_type="application/octet-stream"), path=BIG_PATH)
    censor = spec.get("censor")
    if censor:
        address, hosts = censor["address"], censor["hosts"]
        stack.enter_context(WebServer(address, CENSOR_BLOCK_PORT, default=Blockpage()))
        mitm = pki.server_context(hosts[:1], Issuer.ROGUE)
        server = stack.enter_context(WebServer(address, CENSOR_MITM_PORT, tls=mitm))
        for host in hosts:
            server.set_certificate(host, pki.server_context([host], Issuer.ROGUE))
        stack.enter_context(WebServer(address, CENSOR_RESET_PORT, default=Reset()))
    return dns


def _page(host: str) -> Ok:
    return Ok(body=f"<html><body><h1>{host}</h1><p>netwatch lab site</p></body></html>".encode())


def _apply_dns(servers: dict[str, DnsServer], faults: dict[str, list[list[str | None]]]) -> None:
    for server_id, server in servers.items():
        server.clear_faults()
        for fault, name in faults.get(server_id, []):
            server.set_fault(DnsFault(str(fault)), name)


def _reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> int:
    first = sys.stdin.readline()
    if not first:
        return 0
    with ExitStack() as stack:
        try:
            servers = start_servers(json.loads(first), stack)
        except Exception as exc:  # report it to the lab instead of dying silently
            _reply({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
            return 1
        _reply({"ready": True})
        for line in sys.stdin:
            try:
                command = json.loads(line)
                if command.get("op") == "dns":
                    _apply_dns(servers, command["faults"])
                elif command.get("op") != "ping":
                    raise ValueError(f"unknown op {command.get('op')!r}")
                _reply({"ok": True})
            except Exception as exc:  # one bad command must not take the network's servers down
                _reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
